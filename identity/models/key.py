from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Text
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned

NEXT = "next"  # published in JWKS, not yet signing
CURRENT = "current"  # signs new tokens
RETIRED = "retired"  # still published until every token it signed has expired


class SigningKey(TenantOwned, table=True):
    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    alg: str = Field(max_length=10)
    status: str = Field(max_length=10)
    public_jwk: dict[str, Any] = Field(sa_type=JSON)
    private_jwk_encrypted: str = Field(sa_type=Text)  # Fernet token, key derived from IDENTITY_SECRET_KEY
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    retired_at: int | None = Field(default=None, sa_type=BigInteger)
    # After this instant no unexpired token can carry this kid: the key leaves JWKS.
    remove_after: int | None = Field(default=None, sa_type=BigInteger)
