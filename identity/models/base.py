"""The mixin every tenant-owned table shares.

``tenant_id`` leads every primary key, unique constraint and foreign key, so the schema can be
distributed by tenant (Citus) without change, and deleting a tenant cascades to all its rows.
"""

from __future__ import annotations

import secrets

from sqlmodel import Field, SQLModel


def new_id() -> str:
    """A 128-bit random identifier, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


class TenantOwned(SQLModel):
    tenant_id: str = Field(foreign_key="tenants.id", primary_key=True, max_length=32, ondelete="CASCADE")
