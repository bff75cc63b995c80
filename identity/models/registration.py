"""Initial access tokens (RFC 7591 §3): what a tenant hands out so that only those who hold one may
register clients at ``{issuer}/clients`` (the tenant's ``dynamic_registration`` setting is ``token``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned, new_id


class InitialAccessToken(TenantOwned, table=True):
    """One initial access token: only its HMAC is stored (``identity.crypto.SecretHasher``); it stops
    working when it expires, when its uses run out, or when it is revoked."""

    __tablename__ = "initial_access_tokens"
    __table_args__ = (Index("ix_initial_access_tokens_token_hash", "tenant_id", "token_hash", unique=True),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    label: str = Field(max_length=100)
    token_hash: str = Field(max_length=128)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    created_by: str = Field(default="", max_length=400)  # the audit actor who made it
    expires_at: int = Field(sa_type=BigInteger)
    max_uses: int | None = None  # None: any number until it expires
    uses: int = 0
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)
