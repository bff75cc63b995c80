from __future__ import annotations

from sqlalchemy import JSON, BigInteger
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
