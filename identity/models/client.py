from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKeyConstraint, Index, Text
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned


class Client(TenantOwned, table=True):
    """A registered application (RFC 6749 client) of one tenant.

    The secret is never stored: only its HMAC-SHA256 under the server key (see ``identity.crypto``).
    """

    __tablename__ = "clients"

    id: str = Field(primary_key=True, max_length=64)  # the public client_id
    name: str = Field(max_length=200)
    secret_hash: str | None = Field(default=None, max_length=128)
    is_public: bool = False
    redirect_uris: list[str] = Field(default_factory=list, sa_type=JSON)
    grant_types: list[str] = Field(default_factory=list, sa_type=JSON)
    scopes: list[str] = Field(default_factory=list, sa_type=JSON)
    require_pkce: bool = True
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    # Portal metadata: what kind of app set the defaults, and what the consent page may show.
    app_type: str = Field(default="web", max_length=20)  # web | spa | native | m2m
    description: str = Field(default="", max_length=500)
    logo_url: str = Field(default="", max_length=500)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, sa_type=JSON)
    # OIDC Back-Channel and Front-Channel Logout 1.0: where the client hears that a session ended ("" = not).
    backchannel_logout_uri: str = Field(default="", sa_type=Text)
    frontchannel_logout_uri: str = Field(default="", sa_type=Text)
    # Per-app lifetimes; None means the tenant's default.
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    # Seconds after a rotation in which presenting the previous refresh token again is a retry (the client
    # lost the response) and gets the same response, not reuse; 0 (the default) is off.
    refresh_token_grace: int = 0
    # RFC 9126 §6: this client's authorization requests must come pushed (PAR); a plain one is refused.
    require_pushed_requests: bool = False
    # RFC 9449 §5.2 client metadata: every token request must carry a DPoP proof (tokens always bound).
    dpop_bound_access_tokens: bool = False
    # RFC 9449 §8: this client's DPoP proofs must carry a nonce we issued (bounds how long a proof made in
    # advance, by a thief of the key's use, stays good); a proof without one gets use_dpop_nonce.
    require_dpop_nonce: bool = False
    # Secret rotation with a grace period: the previous secret still works until then.
    previous_secret_hash: str | None = Field(default=None, max_length=128)
    previous_secret_expires_at: int | None = Field(default=None, sa_type=BigInteger)
    # First-party apps (the tenant's own developer portal) skip consent and cannot be deleted.
    first_party: bool = False
    # Dynamic registration (RFC 7591/7592): how the client registered itself, with which initial access
    # token (None: open registration), and the HMAC of its registration access token (None: not manageable
    # at {issuer}/clients/{id}).
    registered_dynamically: bool = False
    initial_access_token_id: str | None = Field(default=None, max_length=32)
    registration_token_hash: str | None = Field(default=None, max_length=128)
    # How the client authenticates at the token, introspection, revocation and PAR endpoints (RFC 7591 §2):
    # client_secret_basic or client_secret_post (either is accepted from a client with a secret),
    # private_key_jwt (no secret; its keys are ``jwks`` or at ``jwks_uri``) or none (public clients).
    token_endpoint_auth_method: str = Field(default="client_secret_basic", max_length=40)
    jwks: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    jwks_uri: str = Field(default="", sa_type=Text)


class ClientAssertionJti(TenantOwned, table=True):
    """A ``jti`` of a client assertion already used (RFC 7523 §3 item 7), kept until the assertion expires so
    it is accepted once. The primary key makes the claim atomic: of two requests with the same assertion,
    one inserts the row and the other is refused. Only the SHA-256 of the ``jti`` is stored."""

    __tablename__ = "client_assertion_jtis"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"),
        Index("ix_client_assertion_jtis_expires_at", "tenant_id", "expires_at"),
    )

    client_id: str = Field(primary_key=True, max_length=64)
    jti_hash: str = Field(primary_key=True, max_length=64)
    expires_at: int = Field(sa_type=BigInteger)
