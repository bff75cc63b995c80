from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, UniqueConstraint
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned, new_id


class User(TenantOwned, table=True):
    """An end user of one tenant. ``id`` is the OIDC ``sub``: random, opaque, never reused."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email_normalized"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=320)
    email_normalized: str = Field(max_length=320)
    email_verified: bool = False
    name: str = Field(default="", max_length=200)
    # The other standard claims (OIDC Core §5.1: given_name, address, phone_number, …), as identity.profile
    # checks them; replaced as a whole on change, never mutated in place.
    claims: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    password_hash: str = Field(max_length=300)
    disabled: bool = False
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    updated_at: int = Field(default_factory=now, sa_type=BigInteger)

    def get_user_id(self) -> str:
        return self.id
