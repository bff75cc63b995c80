"""Tenants, their own scopes and their token usage counts. Every other tenant-owned table carries
``tenant_id`` (see ``identity.models.base``)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger
from sqlmodel import Field, SQLModel

from identity.clock import now
from identity.models.base import TenantOwned, new_id

ACTIVE = "active"
SUSPENDED = "suspended"
# A tenant is a customer's, or the platform's own: the issuer of the tokens that call the platform
# management API (/api/admin). There is one platform tenant; it is never listed, suspended or deleted.
CUSTOMER, PLATFORM = "customer", "platform"
# Dynamic client registration (RFC 7591) at {issuer}/clients: off, open to anyone, or with an initial
# access token made in the portal.
REGISTRATION_OFF, REGISTRATION_OPEN, REGISTRATION_TOKEN = "off", "open", "token"
REGISTRATION_MODES = (REGISTRATION_OFF, REGISTRATION_OPEN, REGISTRATION_TOKEN)
PLATFORM_SLUG = "platform"
# RFC 8628 §3.4: the device authorization grant's type.
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# The grants this provider implements; each tenant may allow fewer.
ALL_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", DEVICE_CODE, "password", "implicit")
# The seed grants OAuth 2.1 drops (the app sees the password; tokens in the browser's address bar): a tenant
# allows them only by choosing to, and then only for the apps it opts in.
LEGACY_GRANT_TYPES = ("password", "implicit")
DEFAULT_ALLOWED_GRANT_TYPES = tuple(g for g in ALL_GRANT_TYPES if g not in LEGACY_GRANT_TYPES)
# The grants through which a user signs in, and those of them a refresh token may continue.
USER_GRANT_TYPES = ("authorization_code", DEVICE_CODE, "password", "implicit")
REFRESH_SOURCES = ("authorization_code", DEVICE_CODE, "password")
REFRESH_NEEDS = "refresh_token needs authorization_code, the device grant or password"


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
    allowed_grant_types: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_GRANT_TYPES), sa_type=JSON)
    dynamic_registration: str = Field(default=REGISTRATION_OFF, max_length=8)  # one of REGISTRATION_MODES

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


class TokenUsage(TenantOwned, table=True):
    """Tokens issued per tenant per hour (the admin console's "tokens in the last 24 h"). Counted in memory
    by each process and added here every few seconds (``identity.usage``), never a write per token."""

    __tablename__ = "token_usage"

    hour: int = Field(primary_key=True, sa_type=BigInteger)  # the hour's first second (Unix time)
    issued: int = Field(default=0, sa_type=BigInteger)
