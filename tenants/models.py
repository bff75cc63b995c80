"""Tenant tables. Every other tenant-owned table carries ``tenant_id`` (see ``identity.models.base``)."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from identity.clock import now
from identity.models.base import TenantOwned, new_id

ACTIVE = "active"
SUSPENDED = "suspended"


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slug: str = Field(unique=True, max_length=40)
    name: str = Field(max_length=200)
    status: str = Field(default=ACTIVE, max_length=16)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    # Signing: the ID token algorithm is RS256 unless the tenant chooses otherwise (OIDC requires RS256 support).
    id_token_alg: str = Field(default="RS256", max_length=10)
    access_token_alg: str = Field(default="RS256", max_length=10)
    access_token_ttl: int = 3600
    id_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 24 * 3600
    # Refresh tokens are issued only with the offline_access scope unless the tenant allows them always.
    refresh_without_offline_access: bool = False
    # Bumped on every key rotation: caches of parsed keys and JWKS are keyed by it.
    keys_version: int = 1

    @property
    def is_suspended(self) -> bool:
        return self.status == SUSPENDED


class TenantScope(TenantOwned, table=True):
    """A scope a tenant defines for its own APIs; apps may request it and the consent page describes it."""

    __tablename__ = "tenant_scopes"

    name: str = Field(primary_key=True, max_length=100)
    description: str = Field(default="", max_length=300)
