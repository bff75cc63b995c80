"""A device authorization (RFC 8628): a TV or CLI waits, polling the token endpoint, while its user enters
the user code on the hosted ``/device`` page, signs in and answers.

Both codes are stored only as digests: the device code (256 random bits) as its SHA-256, the user code (8
letters: too few bits for a plain hash to hide it) as an HMAC under a key derived from the server secret.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Text, UniqueConstraint
from sqlmodel import Field

from identity.clock import now
from identity.models.base import TenantOwned, new_id

PENDING, APPROVED, DENIED = "pending", "approved", "denied"


class DeviceAuthorization(TenantOwned, table=True):
    __tablename__ = "device_authorizations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "client_id"], ["clients.tenant_id", "clients.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "grant_id"], ["grants.tenant_id", "grants.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "device_code_hash", name="uq_device_authorizations_device_code"),
        UniqueConstraint("tenant_id", "user_code_hash", name="uq_device_authorizations_user_code"),
        Index("ix_device_authorizations_expires_at", "tenant_id", "expires_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    device_code_hash: str = Field(max_length=64)
    user_code_hash: str = Field(max_length=64)
    client_id: str = Field(max_length=64)
    scope: str = Field(sa_type=Text)  # what the device asked for
    status: str = Field(default=PENDING, max_length=10)  # pending | approved | denied
    # The user's answer: who, what they granted, the sign-in it came from and the grant (token family) it starts.
    user_id: str | None = Field(default=None, max_length=32)
    granted_scope: str | None = Field(default=None, sa_type=Text)
    auth_time: int | None = Field(default=None, sa_type=BigInteger)
    sid: str | None = Field(default=None, max_length=64)
    grant_id: str | None = Field(default=None, max_length=32)
    # Polling (RFC 8628 §3.5): the seconds a client must wait between polls, grown by 5 at each slow_down.
    interval: int = 5
    last_polled_at: int | None = Field(default=None, sa_type=BigInteger)
    created_at: int = Field(default_factory=now, sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    consumed_at: int | None = Field(default=None, sa_type=BigInteger)  # tokens issued: the device code is spent
