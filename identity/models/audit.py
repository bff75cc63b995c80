"""The audit log's table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned, new_id


class AuditEvent(TenantOwned, table=True):
    """Who did what to what, when and from where. Never holds secrets, passwords or tokens."""

    __tablename__ = "audit_events"
    # Per tenant (the portal, the tenant API) and across tenants (the platform's audit log).
    __table_args__ = (
        Index("ix_audit_events_tenant_time", "tenant_id", "created_at"),
        Index("ix_audit_events_time", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    actor: str = Field(max_length=400)  # "user:<sub> <email>", "cli", "admin:<email>"
    action: str = Field(max_length=80)  # e.g. "client.created"
    target: str = Field(default="", max_length=400)
    ip: str = Field(default="", max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
