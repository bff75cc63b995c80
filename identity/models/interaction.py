"""Browser-side state: sessions, pending authorization requests, consents, login throttling."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKeyConstraint, Index, Text
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned, new_id


def _user_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE")


class BrowserSession(TenantOwned, table=True):
    """A signed-in browser. The cookie carries the session id; only its SHA-256 is stored. ``sid`` is the
    session's public name (OIDC Front- and Back-Channel Logout): in ID tokens and logout notifications, and
    derived from the id one way, so knowing it gives nobody the cookie."""

    __tablename__ = "browser_sessions"
    __table_args__ = (
        _user_fk(),
        Index("ix_browser_sessions_sid", "tenant_id", "sid"),
        Index("ix_browser_sessions_user", "tenant_id", "user_id"),
    )

    id_hash: str = Field(primary_key=True, max_length=64)
    sid: str = Field(default="", max_length=64)
    user_id: str = Field(max_length=32)
    auth_time: int = Field(sa_type=BigInteger)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)


class AuthorizationRequest(TenantOwned, table=True):
    """A validated /authorize request waiting for login and consent (see ``identity.interaction.flows``)."""

    __tablename__ = "authorization_requests"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    browser_hash: str = Field(max_length=64)  # binds the request to the browser that started it
    client_id: str = Field(max_length=64)
    params: dict[str, Any] = Field(sa_type=JSON)
    state: str = Field(max_length=20)
    user_id: str | None = Field(default=None, max_length=32)
    auth_time: int | None = Field(default=None, sa_type=BigInteger)
    sid: str | None = Field(default=None, max_length=64)  # the session the user signed in with
    granted_scope: str | None = Field(default=None, sa_type=Text)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)


class PushedRequest(TenantOwned, table=True):
    """An authorization request a client pushed (RFC 9126), waiting for the browser to bring its
    ``request_uri`` to /authorize; used once, short-lived. Only the SHA-256 of the reference is stored."""

    __tablename__ = "pushed_requests"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"),
        Index("ix_pushed_requests_expires_at", "tenant_id", "expires_at"),
    )

    ref_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=64)
    params: dict[str, Any] = Field(sa_type=JSON)
    expires_at: int = Field(sa_type=BigInteger)
    used_at: int | None = Field(default=None, sa_type=BigInteger)


class Consent(TenantOwned, table=True):
    """A user's remembered decision for one client: what was asked and what was granted."""

    __tablename__ = "consents"
    __table_args__ = (
        _user_fk(),
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"),
    )

    user_id: str = Field(primary_key=True, max_length=32)
    client_id: str = Field(primary_key=True, max_length=64)
    requested_scope: str = Field(sa_type=Text)
    granted_scope: str = Field(sa_type=Text)
    updated_at: int = Field(default_factory=now, sa_type=BigInteger)


class LoginThrottle(TenantOwned, table=True):
    """Failed sign-in counters per account and per client IP, in the database so every replica agrees."""

    __tablename__ = "login_throttles"

    key: str = Field(primary_key=True, max_length=100)
    window_start: int = Field(sa_type=BigInteger)
    failures: int = 0
