"""Storage for the protocol artefacts: codes, grants, refresh tokens. All queries name the tenant.

Single use is enforced by the database, not by reading then writing: the code (or refresh token) is
claimed with one ``UPDATE … WHERE consumed_at IS NULL``, so of two concurrent redemptions exactly one
updates a row. The loser finds the row already claimed, which is a replay: the grant is revoked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from identity import metrics
from identity.changes import access_tokens_revoked, announce, grant_revoked, user_changed
from identity.clock import now
from identity.crypto import KeyEncryptor, random_token, sha256_hex
from identity.db import tenant_delete, tenant_query, tenant_update
from identity.models.grant import AuthorizationCode, Grant, RefreshToken, RevokedAccessToken
from identity.models.tenant import Tenant
from identity.models.user import User
from tenants import audit

log = logging.getLogger("identity.tokens")

CODE_TTL = 60
# Set on the session when a request revoked a grant, so the token endpoint commits despite the error.
REVOKED_GRANT = "revoked_grant"
# The audit action of a replay, by what was presented again.
REPLAY_EVENTS: dict[type[Any], str] = {AuthorizationCode: "code.replay_detected", RefreshToken: "token.reuse_detected"}


def start_grant(session: Session, tenant: Tenant, request: Any, scope: str) -> Grant:
    """A user's grant to a client: what its tokens name (``grant_id``), what revocation and sign-out end,
    and, with the browser session's ``sid``, what logout notifies."""
    grant = Grant(
        tenant_id=tenant.id,
        client_id=request.client.id,
        user_id=request.user.id,
        scope=scope,
        auth_time=request.auth_time or now(),
        sid=request.sid,
    )
    session.add(grant)
    session.flush()  # codes and refresh tokens reference it
    return grant


def save_code(session: Session, tenant: Tenant, code: str, request: Any) -> AuthorizationCode:
    """A code and the grant it will start, bound to client, redirect URI, PKCE challenge and nonce."""
    data = request.payload.data
    grant = start_grant(session, tenant, request, request.scope)
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
        dpop_jkt=data.get("dpop_jkt") or None,
        auth_time=grant.auth_time,
        sid=grant.sid,
        expires_at=now() + CODE_TTL,
    )
    session.add(row)
    session.flush()
    return row


def _claim_once(
    session: Session,
    tenant: Tenant,
    model: type[Any],
    hash_column: str,
    used_column: str,
    secret: str,
    client_id: str,
    what: str,
    spare: Callable[[Any], bool] | None = None,
) -> Any | None:
    """Mark the row of ``secret`` used, for this client, once: one ``UPDATE … WHERE <used> IS NULL``.
    If it was already used, this is a replay: revoke the grant it belongs to and audit it (the token
    endpoint commits both despite the error), unless ``spare(row)`` says it is a retry to forgive.
    Returns the claimed row if it is still valid (not expired, grant not revoked)."""
    table = model.__table__.c
    where = (table[hash_column] == sha256_hex(secret), table.client_id == client_id)
    claimed = session.exec(
        tenant_update(model, tenant.id)
        .where(*where, table[used_column].is_(None))
        .values({used_column: now()})
        .returning(model)
    ).first()
    if claimed is None:
        previous = session.exec(tenant_query(model, tenant.id).where(*where)).first()
        if previous is not None and spare is not None and spare(previous):
            return None
        if previous is not None:
            log.warning("%s presented again; revoking its grant", what, extra={"tenant": tenant.slug})
            revoke_grant(session, tenant, previous.grant_id)
            actor = audit.Actor(f"client:{client_id}")
            target = f"grant:{previous.grant_id}"
            action = REPLAY_EVENTS[model]
            audit.record(session, tenant.id, actor, action, target, client_id=client_id, user=previous.user_id)
            (metrics.count_code_replay if model is AuthorizationCode else metrics.count_refresh_token_reuse)()
        return None
    row = claimed[0]
    if row.expires_at < now() or is_grant_revoked(session, tenant, row.grant_id):
        return None
    return row


def consume_code(session: Session, tenant: Tenant, code: str, client_id: str) -> AuthorizationCode | None:
    """Claim the code for this client, once. A second presentation revokes what the first issued."""
    row: AuthorizationCode | None = _claim_once(
        session, tenant, AuthorizationCode, "code_hash", "consumed_at", code, client_id, "authorization code"
    )
    return row


@dataclass(frozen=True)
class Retry:
    """A refresh token presented again within its client's grace after it was rotated: the rotation's own
    response, to send again (the client lost it), and the token row it was rotated from."""

    token: RefreshToken
    response: dict[str, Any]


def rotate_refresh_token(
    session: Session, tenant: Tenant, token: str, client_id: str, *, grace: int = 0, sealer: KeyEncryptor | None = None
) -> RefreshToken | Retry | None:
    """Claim the refresh token for rotation, once. Presenting a rotated token is reuse: revoke the family.
    With a ``grace`` (the client's, seconds), the token just rotated presented again within it, while its
    successor is unused and the family live, is a retry: the rotation's response comes back (audited as
    ``token.refresh_retried``), and nothing is revoked."""
    retried: list[Retry] = []

    def spare(previous: RefreshToken) -> bool:
        retry = _retry_within_grace(session, tenant, previous, grace, sealer) if sealer is not None else None
        if retry is not None:
            retried.append(retry)
        return retry is not None

    row: RefreshToken | None = _claim_once(
        session,
        tenant,
        RefreshToken,
        "token_hash",
        "rotated_at",
        token,
        client_id,
        "rotated refresh token",
        spare if grace > 0 else None,
    )
    if retried:
        return retried[0]
    if row is not None and grace > 0:  # this token is in use now: its predecessor's retry is over
        session.exec(
            tenant_update(RefreshToken, tenant.id)
            .where(col(RefreshToken.grant_id) == row.grant_id, col(RefreshToken.successor_hash) == row.token_hash)
            .values(successor_sealed=None)
        )
    return row


def _retry_within_grace(
    session: Session, tenant: Tenant, previous: RefreshToken, grace: int, sealer: KeyEncryptor
) -> Retry | None:
    if previous.successor_sealed is None or previous.successor_hash is None or previous.rotated_at is None:
        return None
    if now() > previous.rotated_at + grace or is_grant_revoked(session, tenant, previous.grant_id):
        return None
    successor = session.exec(
        tenant_query(RefreshToken, tenant.id).where(RefreshToken.token_hash == previous.successor_hash)
    ).first()
    if successor is None or successor.rotated_at is not None:  # not the immediately previous token any more
        return None
    try:
        response = json.loads(sealer.decrypt(previous.successor_sealed))
    except (InvalidToken, ValueError):
        return None
    actor = audit.Actor(f"client:{previous.client_id}")
    target = f"grant:{previous.grant_id}"
    audit.record(
        session, tenant.id, actor, "token.refresh_retried", target, client_id=previous.client_id, user=previous.user_id
    )
    return Retry(previous, response)


def seal_successor(
    session: Session, tenant: Tenant, rotated: RefreshToken, response: dict[str, Any], sealer: KeyEncryptor
) -> None:
    """Keep the rotation's response (encrypted) on the token it replaced, for a retry within the grace."""
    session.exec(
        tenant_update(RefreshToken, tenant.id)
        .where(col(RefreshToken.token_hash) == rotated.token_hash)
        .values(
            successor_hash=sha256_hex(str(response["refresh_token"])),
            successor_sealed=sealer.encrypt(json.dumps(response).encode()),
        )
    )


def save_refresh_token(
    session: Session,
    tenant: Tenant,
    *,
    grant_id: str,
    client_id: str,
    user_id: str,
    scope: str,
    ttl: int,
    dpop_jkt: str | None = None,
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
            dpop_jkt=dpop_jkt,
        )
    )
    session.flush()
    return token


def revoke_grant(session: Session, tenant: Tenant, grant_id: str) -> bool:
    """Revoke the grant and so every token issued from it; False if it was revoked already."""
    session.info[REVOKED_GRANT] = True
    announce(session, grant_revoked(tenant.id, grant_id))  # every process forgets it at commit
    result = session.exec(
        tenant_update(Grant, tenant.id)
        .where(col(Grant.id) == grant_id, col(Grant.revoked_at).is_(None))
        .values(revoked_at=now())
    )
    return bool(result.rowcount)


def revoke_user_grants(session: Session, tenant_id: str, user_id: str, client_id: str | None = None) -> int:
    """Revoke every live grant of a user (only those of ``client_id`` if given) in one statement; returns how many."""
    where = [col(Grant.user_id) == user_id, col(Grant.revoked_at).is_(None)]
    if client_id is not None:
        where.append(col(Grant.client_id) == client_id)
    result = session.exec(tenant_update(Grant, tenant_id).where(*where).values(revoked_at=now()))
    announce(session, user_changed(tenant_id, user_id))
    return int(result.rowcount or 0)


def revoke_access_token(session: Session, tenant: Tenant, *, jti: str, client_id: str, expires_at: int) -> bool:
    """Refuse this one access token until it expires (RFC 7009), in every process once this commits; False
    if it was revoked already."""
    t = now()
    # Rows of expired tokens serve no purpose: each revocation sweeps the tenant's, so the list stays short.
    session.exec(tenant_delete(RevokedAccessToken, tenant.id).where(col(RevokedAccessToken.expires_at) < t))
    if session.get(RevokedAccessToken, (tenant.id, jti)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(RevokedAccessToken(tenant_id=tenant.id, jti=jti, client_id=client_id, expires_at=expires_at))
    except IntegrityError:  # revoked at the same moment by another request: revoked either way
        return False
    announce(session, access_tokens_revoked(tenant.id))  # only a new row changes the cached sets
    return True


def revoked_access_tokens(session: Session, tenant_id: str) -> frozenset[str]:
    """The ``jti`` of every revoked access token of the tenant that has not expired yet."""
    query = tenant_query(RevokedAccessToken, tenant_id).where(col(RevokedAccessToken.expires_at) >= now())
    return frozenset(row.jti for row in session.exec(query))


def is_grant_revoked(session: Session, tenant: Tenant, grant_id: str) -> bool:
    grant = session.exec(tenant_query(Grant, tenant.id).where(Grant.id == grant_id)).first()
    return grant is None or grant.revoked_at is not None


def grant_of(session: Session, tenant: Tenant, refresh_token: RefreshToken) -> Grant:
    """The grant a refresh token belongs to (its auth_time and sid go into the refreshed ID token)."""
    return session.exec(tenant_query(Grant, tenant.id).where(Grant.id == refresh_token.grant_id)).one()


def user_of_live_grant(session: Session, tenant: Tenant, grant_id: str, user_id: str) -> User | None:
    """The token's user, if the grant it came from is not revoked and the user may still sign in.
    One statement: userinfo's only database read."""
    query = (
        tenant_query(User, tenant.id)
        .join(Grant, (col(Grant.tenant_id) == col(User.tenant_id)) & (col(Grant.user_id) == col(User.id)))
        .where(User.id == user_id, Grant.id == grant_id, col(Grant.revoked_at).is_(None), col(User.disabled).is_(False))
    )
    return session.exec(query).first()


def find_refresh_token(session: Session, tenant: Tenant, token: str) -> RefreshToken | None:
    """The refresh token's row, whatever its state (rotated, expired, grant revoked)."""
    return session.exec(
        tenant_query(RefreshToken, tenant.id).where(RefreshToken.token_hash == sha256_hex(token))
    ).first()


def live_refresh_token(session: Session, tenant: Tenant, token: str) -> RefreshToken | None:
    """The refresh token's row if it can still be exchanged: not rotated, not expired, its grant live and its
    user enabled. Reads only (introspection); the token endpoint claims with ``rotate_refresh_token``."""
    row = find_refresh_token(session, tenant, token)
    if row is None or row.rotated_at is not None or row.expires_at < now():
        return None
    return row if user_of_live_grant(session, tenant, row.grant_id, row.user_id) is not None else None


def active_user(session: Session, tenant: Tenant, user_id: str) -> User | None:
    user = session.exec(tenant_query(User, tenant.id).where(User.id == user_id)).first()
    return None if user is None or user.disabled else user
