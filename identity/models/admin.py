"""Platform administrators: the people who run the platform. Not tenant-owned: they manage every tenant,
and they sign in at ``/admin`` with a session of their own (never a tenant's hosted-login session)."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKeyConstraint
from sqlmodel import Field, SQLModel

from identity.clock import now
from identity.models.base import new_id


class PlatformAdmin(SQLModel, table=True):
    __tablename__ = "platform_admins"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=320)
    email_normalized: str = Field(unique=True, max_length=320)
    password_hash: str = Field(max_length=300)
    # TOTP (RFC 6238) second factor: the shared secret, encrypted at rest like private keys.
    totp_secret_encrypted: str | None = Field(default=None, max_length=500)
    totp_enabled: bool = False
    # The last accepted TOTP time step: a code is accepted once, never replayed within its window.
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)
    disabled: bool = False
    created_at: int = Field(default_factory=now, sa_type=BigInteger)


class AdminSession(SQLModel, table=True):
    """A signed-in admin browser. The cookie carries the id; only its SHA-256 is stored. ``mfa_passed`` is
    false between the password step and the TOTP step: such a session can do nothing but finish signing in."""

    __tablename__ = "admin_sessions"
    __table_args__ = (ForeignKeyConstraint(["admin_id"], ["platform_admins.id"], ondelete="CASCADE"),)

    id_hash: str = Field(primary_key=True, max_length=64)
    admin_id: str = Field(max_length=32, index=True)
    mfa_passed: bool = False
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)
