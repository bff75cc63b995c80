"""Initial access tokens (RFC 7591 §3) kept as HMACs: issue one (shown once), list, revoke, and spend
one use of a token at the registration endpoint (atomically, so two registrations cannot share the last
use)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import SecretHasher, random_token
from identity.db import tenant_query, tenant_update
from identity.models.registration import InitialAccessToken

TOKEN_MAX = 200  # longer than any token we issue: a longer bearer value is not ours, and is not hashed


@dataclass(frozen=True)
class NewInitialToken:
    row: InitialAccessToken
    token: str  # shown once, never stored


def status_of(row: InitialAccessToken, at: int | None = None) -> str:
    """``active``, ``revoked``, ``expired`` or ``used up`` (what the portal's list shows)."""
    moment = now() if at is None else at
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= moment:
        return "expired"
    if row.max_uses is not None and row.uses >= row.max_uses:
        return "used up"
    return "active"


def issue_initial_token(
    session: Session,
    tenant_id: str,
    hasher: SecretHasher,
    *,
    label: str,
    lifetime_seconds: int,
    max_uses: int | None,
    created_by: str,
) -> NewInitialToken:
    token = random_token(32)
    row = InitialAccessToken(
        tenant_id=tenant_id,
        label=label,
        token_hash=hasher.hash(token),
        created_by=created_by,
        expires_at=now() + lifetime_seconds,
        max_uses=max_uses,
    )
    session.add(row)
    session.flush()
    return NewInitialToken(row, token)


def list_initial_tokens(session: Session, tenant_id: str) -> list[InitialAccessToken]:
    query = tenant_query(InitialAccessToken, tenant_id).order_by(col(InitialAccessToken.created_at).desc())
    return list(session.exec(query).all())


def find_initial_token(session: Session, tenant_id: str, token_id: str) -> InitialAccessToken | None:
    if not token_id or len(token_id) > 32:
        return None
    query = tenant_query(InitialAccessToken, tenant_id).where(InitialAccessToken.id == token_id)
    return session.exec(query).first()


def revoke_initial_token(session: Session, row: InitialAccessToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = now()
        session.add(row)
        session.flush()


def spend_initial_token(
    session: Session, tenant_id: str, hasher: SecretHasher, token: str
) -> InitialAccessToken | None:
    """The live token ``token`` is, with one of its uses spent; None if it is unknown, another tenant's,
    revoked, expired or used up. The row is found by its HMAC (the lookup reveals nothing: an attacker
    cannot aim at a hash), and the use is counted by one conditional UPDATE, so the last use goes once."""
    if not token or len(token) > TOKEN_MAX:
        return None
    row = session.exec(
        tenant_query(InitialAccessToken, tenant_id).where(InitialAccessToken.token_hash == hasher.hash(token))
    ).first()
    if row is None:
        return None
    moment = now()
    spent = session.execute(
        tenant_update(InitialAccessToken, tenant_id)
        .where(
            col(InitialAccessToken.id) == row.id,
            col(InitialAccessToken.revoked_at).is_(None),
            col(InitialAccessToken.expires_at) > moment,
            or_(
                col(InitialAccessToken.max_uses).is_(None),
                col(InitialAccessToken.uses) < col(InitialAccessToken.max_uses),
            ),
        )
        .values(uses=InitialAccessToken.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(row)
    return row
