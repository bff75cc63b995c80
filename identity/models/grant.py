"""What an authorization produces: the code, the grant (token family) and its refresh tokens.

Codes and refresh tokens are opaque; only their SHA-256 is stored. Every token issued from one
authorization shares a ``grant_id``; revoking the grant revokes them all (code replay, refresh reuse).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Text
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned, new_id


def _owned_by(*targets: tuple[str, str]) -> tuple[ForeignKeyConstraint, ...]:
    return tuple(
        ForeignKeyConstraint(["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete="CASCADE")
        for column, table in targets
    )


class Grant(TenantOwned, table=True):
    __tablename__ = "grants"
    __table_args__ = (
        *_owned_by(("client_id", "clients"), ("user_id", "users")),
        Index("ix_grants_sid", "tenant_id", "sid"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    client_id: str = Field(max_length=64)
    user_id: str = Field(max_length=32)
    scope: str = Field(sa_type=Text)
    auth_time: int = Field(sa_type=BigInteger)
    # The browser session (its public ``sid``) the user authorized in: logout ends it and tells the client.
    sid: str | None = Field(default=None, max_length=64)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)


class AuthorizationCode(TenantOwned, table=True):
    __tablename__ = "authorization_codes"
    __table_args__ = (
        *_owned_by(("client_id", "clients"), ("user_id", "users"), ("grant_id", "grants")),
        Index("ix_authorization_codes_expires_at", "expires_at"),
    )

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=64)
    user_id: str = Field(max_length=32)
    grant_id: str = Field(max_length=32)
    redirect_uri: str = Field(sa_type=Text)
    scope: str = Field(sa_type=Text)
    nonce: str | None = Field(default=None, sa_type=Text)
    code_challenge: str | None = Field(default=None, max_length=128)
    code_challenge_method: str | None = Field(default=None, max_length=10)
    auth_time: int = Field(sa_type=BigInteger)
    sid: str | None = Field(default=None, max_length=64)
    expires_at: int = Field(sa_type=BigInteger)
    consumed_at: int | None = Field(default=None, sa_type=BigInteger)
    # RFC 9449 §10: the DPoP key thumbprint the authorization request named; the code exchange must prove it.
    dpop_jkt: str | None = Field(default=None, max_length=64)

    # Authlib's AuthorizationCodeMixin, read by its grant and OIDC extensions.
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class RefreshToken(TenantOwned, table=True):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        *_owned_by(("client_id", "clients"), ("user_id", "users"), ("grant_id", "grants")),
        Index("ix_refresh_tokens_grant", "tenant_id", "grant_id"),
    )

    token_hash: str = Field(primary_key=True, max_length=64)
    grant_id: str = Field(max_length=32)
    client_id: str = Field(max_length=64)
    user_id: str = Field(max_length=32)
    scope: str = Field(sa_type=Text)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    # Set when this token is exchanged: presenting it again is reuse and revokes the grant.
    rotated_at: int | None = Field(default=None, sa_type=BigInteger)
    # With the client's reuse grace (``Client.refresh_token_grace``): the token this one was exchanged for,
    # and that exchange's response sealed (encrypted), so a retry within the grace gets the same answer.
    # Wiped when the successor is used in turn.
    successor_hash: str | None = Field(default=None, max_length=64)
    successor_sealed: str | None = Field(default=None, sa_type=Text)
    # RFC 9449 §5: a public client's refresh token is bound to its DPoP key (this thumbprint), carried to
    # every token of the family it rotates into; None: unbound (a confidential client's, or issued without DPoP).
    dpop_jkt: str | None = Field(default=None, max_length=64)

    # Authlib's TokenMixin, read by its refresh-token grant.
    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope


class RevokedAccessToken(TenantOwned, table=True):
    """An access token its client revoked (RFC 7009) before it expired: refused by ``jti`` until then. Only
    a single access token goes this way; revoking a refresh token revokes its whole grant instead."""

    __tablename__ = "revoked_access_tokens"
    __table_args__ = (
        *_owned_by(("client_id", "clients")),
        Index("ix_revoked_access_tokens_expires_at", "tenant_id", "expires_at"),
    )

    jti: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=64)
    expires_at: int = Field(sa_type=BigInteger)  # the token's exp: after it, the row is deleted
    revoked_at: int = Field(default_factory=now, sa_type=BigInteger)


class DPoPProofJti(TenantOwned, table=True):
    """A DPoP proof's ``jti`` seen within the proof's time window (RFC 9449 §11.1): the row's primary key is
    the claim, so of two requests with the same proof, on any replica, exactly one inserts it. Only the
    SHA-256 of the ``jti`` is kept; rows past ``expires_at`` are swept now and then."""

    __tablename__ = "dpop_proof_jtis"
    __table_args__ = (Index("ix_dpop_proof_jtis_expires_at", "tenant_id", "expires_at"),)

    jti_hash: str = Field(primary_key=True, max_length=64)
    expires_at: int = Field(sa_type=BigInteger)  # the proof's iat + its window: a proof that old is refused anyway


class LogoutDelivery(TenantOwned, table=True):
    """A back-channel logout notification (OIDC Back-Channel Logout 1.0) waiting for, or done with, delivery
    to a client's ``backchannel_logout_uri``: an outbox, so it survives a restart and an RP that is down, with
    bounded retries; the portal shows each client's recent deliveries. The logout token is signed at each
    attempt, so a retry never carries an expired one."""

    __tablename__ = "logout_deliveries"
    __table_args__ = (
        *_owned_by(("client_id", "clients")),
        Index("ix_logout_deliveries_due", "status", "next_attempt_at"),
        Index("ix_logout_deliveries_client", "tenant_id", "client_id", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    client_id: str = Field(max_length=64)
    uri: str = Field(sa_type=Text)
    user_id: str = Field(max_length=32)
    sid: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=20)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: int = Field(default_factory=now, sa_type=BigInteger)
    last_error: str = Field(default="", max_length=500)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    delivered_at: int | None = Field(default=None, sa_type=BigInteger)
