"""Single use of client assertions (RFC 7523 §3 item 7): each ``jti`` is claimed once per client until the
assertion expires.

The claim is its own short transaction, committed before the request goes on: an assertion is spent once
presented, even when the request then fails (a token request that fails rolls back everything else). The
primary key (tenant, client, SHA-256 of the jti) decides between concurrent requests (``db.insert_once``):
one insert wins, the other finds the key taken and is refused. Expired rows of the client go when it
claims a new one, so the table stays small.
"""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import sha256_hex
from identity.db import insert_once, session_scope, tenant_delete
from identity.models.client import ClientAssertionJti


def claim(sessions: sessionmaker[Session], tenant_id: str, client_id: str, jti: str, expires_at: int) -> bool:
    """True the first time this client presents ``jti`` (kept until ``expires_at``), False after that."""
    with session_scope(sessions) as session:
        session.exec(
            tenant_delete(ClientAssertionJti, tenant_id).where(
                col(ClientAssertionJti.client_id) == client_id, col(ClientAssertionJti.expires_at) < now()
            )
        )
        return insert_once(
            session,
            ClientAssertionJti,
            tenant_id=tenant_id,
            client_id=client_id,
            jti_hash=sha256_hex(jti),
            expires_at=expires_at,
        )
