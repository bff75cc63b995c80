"""The developer portal's team: memberships (roles) and invitations."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned, new_id

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
