"""Storage for the protocol artefacts: codes, grants, refresh tokens. All queries name the tenant.

Single use is enforced by the database, not by reading then writing: the code (or refresh token) is
claimed with one ``UPDATE … WHERE consumed_at IS NULL``, so of two concurrent redemptions exactly one
updates a row. The loser finds the row already claimed, which is a replay: the grant is revoked.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import random_token, sha256_hex
from identity.db import tenant_query
from identity.models.grant import AuthorizationCode, Grant, RefreshToken
from identity.models.user import User
from tenants.models import Tenant

log = logging.getLogger("identity.tokens")

CODE_TTL = 60
# Set on the session when a request revoked a grant, so the token endpoint commits despite the error.
REVOKED_GRANT = "revoked_grant"


def save_code(session: Session, tenant: Tenant, code: str, request: Any) -> AuthorizationCode:
    """A code and the grant it will start, bound to client, redirect URI, PKCE challenge and nonce."""
    data = request.payload.data
    grant = Grant(
        tenant_id=tenant.id,
        client_id=request.client.id,
        user_id=request.user.id,
        scope=request.scope,
        auth_time=request.auth_time or now(),
    )
    session.add(grant)
    session.flush()  # the code references the grant
    row = AuthorizationCode(
        tenant_id=tenant.id,
        code_hash=sha256_hex(code),
        client_id=request.client.id,
        user_id=request.user.id,
        grant_id=grant.id,
        # Stored as sent: if the request omitted it, the token request must omit it too (RFC 6749 §4.1.3).
        redirect_uri=request.payload.redirect_uri or "",
        scope=request.scope,
        nonce=data.get("nonce"),
        code_challenge=data.get("code_challenge"),
        code_challenge_method=data.get("code_challenge_method"),
        auth_time=grant.auth_time,
        expires_at=now() + CODE_TTL,
    )
    session.add(row)
    session.flush()
    return row


def consume_code(session: Session, tenant: Tenant, code: str, client_id: str) -> AuthorizationCode | None:
    """Claim the code for this client, once. A second presentation revokes what the first issued."""
    code_hash = sha256_hex(code)
    claimed = session.exec(
        update(AuthorizationCode)
        .where(
            col(AuthorizationCode.tenant_id) == tenant.id,
            col(AuthorizationCode.code_hash) == code_hash,
            col(AuthorizationCode.client_id) == client_id,
            col(AuthorizationCode.consumed_at).is_(None),
        )
        .values(consumed_at=now())
        .returning(AuthorizationCode)
    ).first()
    if claimed is None:
        previous = session.exec(
            tenant_query(AuthorizationCode, tenant.id).where(
                AuthorizationCode.code_hash == code_hash, AuthorizationCode.client_id == client_id
            )
        ).first()
        if previous is not None:
            log.warning("authorization code replayed; revoking its grant", extra={"tenant": tenant.slug})
            revoke_grant(session, tenant, previous.grant_id)
        return None
    row = claimed[0] if not isinstance(claimed, AuthorizationCode) else claimed
    if row.expires_at < now() or is_grant_revoked(session, tenant, row.grant_id):
        return None
    return row


def rotate_refresh_token(session: Session, tenant: Tenant, token: str, client_id: str) -> RefreshToken | None:
    """Claim the refresh token for rotation, once. Presenting a rotated token is reuse: revoke the family."""
    token_hash = sha256_hex(token)
    claimed = session.exec(
        update(RefreshToken)
        .where(
            col(RefreshToken.tenant_id) == tenant.id,
            col(RefreshToken.token_hash) == token_hash,
            col(RefreshToken.client_id) == client_id,
            col(RefreshToken.rotated_at).is_(None),
        )
        .values(rotated_at=now())
        .returning(RefreshToken)
    ).first()
    if claimed is None:
        previous = session.exec(
            tenant_query(RefreshToken, tenant.id).where(
                RefreshToken.token_hash == token_hash, RefreshToken.client_id == client_id
            )
        ).first()
        if previous is not None:
            log.warning("refresh token reused; revoking its family", extra={"tenant": tenant.slug})
            revoke_grant(session, tenant, previous.grant_id)
        return None
    row = claimed[0] if not isinstance(claimed, RefreshToken) else claimed
    if row.expires_at < now() or is_grant_revoked(session, tenant, row.grant_id):
        return None
    return row


def save_refresh_token(
    session: Session, tenant: Tenant, *, grant_id: str, client_id: str, user_id: str, scope: str, ttl: int
) -> str:
    token = random_token(32)
    session.add(
        RefreshToken(
            tenant_id=tenant.id,
            token_hash=sha256_hex(token),
            grant_id=grant_id,
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            expires_at=now() + ttl,
        )
    )
    session.flush()
    return token


def revoke_grant(session: Session, tenant: Tenant, grant_id: str) -> None:
    session.info[REVOKED_GRANT] = True
    session.exec(
        update(Grant)
        .where(col(Grant.tenant_id) == tenant.id, col(Grant.id) == grant_id, col(Grant.revoked_at).is_(None))
        .values(revoked_at=now())
    )


def is_grant_revoked(session: Session, tenant: Tenant, grant_id: str) -> bool:
    grant = session.exec(tenant_query(Grant, tenant.id).where(Grant.id == grant_id)).first()
    return grant is None or grant.revoked_at is not None


def grant_auth_time(session: Session, tenant: Tenant, refresh_token: RefreshToken) -> int:
    grant = session.exec(tenant_query(Grant, tenant.id).where(Grant.id == refresh_token.grant_id)).one()
    return grant.auth_time


def user_of_live_grant(session: Session, tenant: Tenant, grant_id: str, user_id: str) -> User | None:
    """The token's user, if the grant it came from is not revoked and the user may still sign in.
    One statement: userinfo's only database read."""
    query = (
        tenant_query(User, tenant.id)
        .join(Grant, (col(Grant.tenant_id) == col(User.tenant_id)) & (col(Grant.user_id) == col(User.id)))
        .where(User.id == user_id, Grant.id == grant_id, col(Grant.revoked_at).is_(None), col(User.disabled).is_(False))
    )
    return session.exec(query).first()


def active_user(session: Session, tenant: Tenant, user_id: str) -> User | None:
    user = session.exec(tenant_query(User, tenant.id).where(User.id == user_id)).first()
    return None if user is None or user.disabled else user
