"""Tenant tables. Every other tenant-owned table carries ``tenant_id`` (see ``identity.models.base``)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKeyConstraint, Index
from sqlmodel import Field, SQLModel

from identity.clock import now
from identity.models.base import TenantOwned, new_id

ACTIVE = "active"
SUSPENDED = "suspended"
# A tenant is a customer's, or the platform's own: the issuer of the tokens that call the platform
# management API (/api/admin). There is one platform tenant; it is never listed, suspended or deleted.
CUSTOMER, PLATFORM = "customer", "platform"
PLATFORM_SLUG = "platform"
# The grants this provider implements; each tenant may allow fewer.
ALL_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slug: str = Field(unique=True, max_length=40)
    name: str = Field(max_length=200)
    status: str = Field(default=ACTIVE, max_length=16)
    # Why the tenant is suspended (shown on its portal and error pages); empty when active.
    status_reason: str = Field(default="", max_length=500)
    kind: str = Field(default=CUSTOMER, max_length=16)
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
    # Branding and self-service settings (the developer portal edits these).
    logo_url: str = Field(default="", max_length=500)
    primary_color: str = Field(default="#4f46e5", max_length=7)
    signup_open: bool = False
    audit_retention_days: int = 365
    allowed_grant_types: list[str] = Field(default_factory=lambda: list(ALL_GRANT_TYPES), sa_type=JSON)

    @property
    def is_suspended(self) -> bool:
        return self.status == SUSPENDED

    @property
    def is_platform(self) -> bool:
        return self.kind == PLATFORM


class TenantScope(TenantOwned, table=True):
    """A scope a tenant defines for its own APIs; apps may request it and the consent page describes it."""

    __tablename__ = "tenant_scopes"

    name: str = Field(primary_key=True, max_length=100)
    description: str = Field(default="", max_length=300)


OWNER, ADMIN, DEVELOPER = "owner", "admin", "developer"
PORTAL_ROLES = (OWNER, ADMIN, DEVELOPER)
# What each role may do, from least to most.
ROLE_RANK = {DEVELOPER: 1, ADMIN: 2, OWNER: 3}


class Membership(TenantOwned, table=True):
    """A user of the tenant who may use its developer portal, and in which role."""

    __tablename__ = "memberships"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
    )

    user_id: str = Field(primary_key=True, max_length=32)
    role: str = Field(max_length=20)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)


class Invitation(TenantOwned, table=True):
    """An invitation to join the portal team; the link carries a token whose SHA-256 is stored."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_token", "tenant_id", "token_hash"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=320)
    role: str = Field(max_length=20)
    token_hash: str = Field(max_length=64)
    invited_by: str = Field(max_length=32)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    accepted_at: int | None = Field(default=None, sa_type=BigInteger)


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
    details: dict = Field(default_factory=dict, sa_type=JSON)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)


class TokenUsage(TenantOwned, table=True):
    """Tokens issued per tenant per hour (the admin console's "tokens in the last 24 h"). Counted in memory
    by each process and added here every few seconds (``identity.usage``), never a write per token."""

    __tablename__ = "token_usage"

    hour: int = Field(primary_key=True, sa_type=BigInteger)  # the hour's first second (Unix time)
    issued: int = Field(default=0, sa_type=BigInteger)
