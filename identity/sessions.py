"""Ending sign-in sessions, and telling the clients that used them.

One function per way a session ends, all through ``_end``: the user signs out (RP-initiated logout, the
portal's sign-out), or the user or a tenant admin signs out everywhere. Each ends the browser session
rows, revokes what must not outlive them, queues a back-channel logout token for every client with a
``backchannel_logout_uri`` (delivered by ``identity.logout_delivery``) and returns the front-channel
logout URLs the signed-out page loads in iframes.

What ends with a session: the grants made in it, unless they hold ``offline_access`` (that scope asks for
access while the user is away, OIDC Core §11). Signing out everywhere ends every grant of the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from authlib.common.urls import add_params_to_uri
from sqlmodel import Session, col

from identity import grants
from identity.browser import session_sid
from identity.clock import now
from identity.crypto import sha256_hex
from identity.db import tenant_query, tenant_update
from identity.models.client import Client
from identity.models.grant import Grant, LogoutDelivery
from identity.models.interaction import BrowserSession
from identity.models.tenant import Tenant
from identity.scopes import OFFLINE_ACCESS, split
from tenants import audit


@dataclass
class Ended:
    """What ending sessions did: how many ended, and the iframes the signed-out page must load."""

    sessions: int = 0
    frontchannel_urls: list[str] = field(default_factory=list)
    backchannel_queued: int = 0


def end_browser_session(db: Session, tenant: Tenant, issuer: str, session_id: str, actor: audit.Actor) -> Ended:
    """The user signs out of this browser (the session cookie's id)."""
    rows = db.exec(
        tenant_query(BrowserSession, tenant.id).where(
            BrowserSession.id_hash == sha256_hex(session_id), col(BrowserSession.revoked_at).is_(None)
        )
    ).all()
    return _end(db, tenant, issuer, list(rows), actor, reason="logout")


def end_all_sessions(
    db: Session, tenant: Tenant, issuer: str, user_id: str, actor: audit.Actor, *, current_session: str | None = None
) -> Ended:
    """Sign the user out everywhere: every session, every grant (offline ones too), every client told.
    ``current_session`` is the caller's own browser, whose front-channel iframes can be shown."""
    rows = db.exec(
        tenant_query(BrowserSession, tenant.id).where(
            BrowserSession.user_id == user_id, col(BrowserSession.revoked_at).is_(None)
        )
    ).all()
    current_sid = session_sid(current_session) if current_session else None
    ended = _end(db, tenant, issuer, list(rows), actor, reason="sign_out_everywhere", shown_sid=current_sid)
    ended.backchannel_queued += tell_clients_user_left(db, tenant, user_id)
    grants.revoke_user_grants(db, tenant.id, user_id)
    return ended


def tell_clients_user_left(db: Session, tenant: Tenant, user_id: str) -> int:
    """Queue one logout token by ``sub`` alone (Back-Channel Logout §2.4: every session of this user) for each
    client with a back-channel URI that holds a live grant of the user: before everything of the user ends
    (signed out everywhere, disabled, deleted). Returns how many were queued."""
    live = db.exec(
        tenant_query(Grant, tenant.id).where(Grant.user_id == user_id, col(Grant.revoked_at).is_(None))
    ).all()
    told = 0
    for client in _clients(db, tenant, {g.client_id for g in live}):
        if client.backchannel_logout_uri:
            _queue(db, tenant, client, user_id, sid=None)
            told += 1
    return told


def _end(
    db: Session,
    tenant: Tenant,
    issuer: str,
    rows: list[BrowserSession],
    actor: audit.Actor,
    *,
    reason: str,
    shown_sid: str | None = None,
) -> Ended:
    """End these sessions; per session, notify each client that got a grant in it."""
    ended = Ended()
    t = now()
    for row in rows:
        db.exec(
            tenant_update(BrowserSession, tenant.id)
            .where(col(BrowserSession.id_hash) == row.id_hash, col(BrowserSession.revoked_at).is_(None))
            .values(revoked_at=t)
        )
        ended.sessions += 1
        audit.record(db, tenant.id, actor, "session.ended", f"user:{row.user_id}", reason=reason)
        if not row.sid:  # a session from before sids: no grant can name it
            continue
        made_here = db.exec(tenant_query(Grant, tenant.id).where(Grant.sid == row.sid)).all()
        for grant in made_here if reason == "logout" else ():  # everywhere: all the user's grants go, after
            if grant.revoked_at is None and OFFLINE_ACCESS not in split(grant.scope):
                grants.revoke_grant(db, tenant, grant.id)
        for client in _clients(db, tenant, {g.client_id for g in made_here}):
            if client.backchannel_logout_uri and reason == "logout":  # everywhere: one token by sub, above
                _queue(db, tenant, client, row.user_id, sid=row.sid)
                ended.backchannel_queued += 1
            if client.frontchannel_logout_uri and (reason == "logout" or row.sid == shown_sid):
                ended.frontchannel_urls.append(frontchannel_url(client, issuer, row.sid))
    return ended


def recent_deliveries(db: Session, tenant: Tenant, client_id: str, limit: int = 10) -> list[LogoutDelivery]:
    """The client's latest back-channel logout deliveries, newest first (the portal shows them)."""
    query = (
        tenant_query(LogoutDelivery, tenant.id)
        .where(LogoutDelivery.client_id == client_id)
        .order_by(col(LogoutDelivery.created_at).desc())
        .limit(limit)
    )
    return list(db.exec(query).all())


def frontchannel_url(client: Client, issuer: str, sid: str) -> str:
    """OIDC Front-Channel Logout 1.0 §3: the client's URI with ``iss`` and ``sid`` (always sent, so a client
    that registered ``frontchannel_logout_session_required`` gets them and one that did not may ignore them)."""
    url: str = add_params_to_uri(client.frontchannel_logout_uri, [("iss", issuer), ("sid", sid)])
    return url


def _clients(db: Session, tenant: Tenant, client_ids: set[str]) -> list[Client]:
    if not client_ids:
        return []
    query = tenant_query(Client, tenant.id).where(col(Client.id).in_(sorted(client_ids)))
    return list(db.exec(query).all())


def _queue(db: Session, tenant: Tenant, client: Client, user_id: str, *, sid: str | None) -> None:
    db.add(
        LogoutDelivery(
            tenant_id=tenant.id,
            client_id=client.id,
            uri=client.backchannel_logout_uri,
            user_id=user_id,
            sid=sid,
        )
    )
    db.flush()
