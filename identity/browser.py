"""The browser's cookies: a browser id (binds pending requests, keys CSRF tokens) and the sign-in session.

Both are signed with itsdangerous, HttpOnly, SameSite=Lax, scoped to the tenant's path and Secure when
the public URL is https. The session cookie only carries an id; the state is a ``BrowserSession`` row,
so logout and revocation work on every replica. Only the SHA-256 of ids is stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from identity.clock import now
from identity.crypto import derive_key, random_token, sha256_hex
from identity.db import tenant_query, tenant_update
from identity.models.interaction import BrowserSession
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.settings import Settings

BROWSER_COOKIE = "idp_browser"
SESSION_COOKIE = "idp_session"
BROWSER_MAX_AGE = 400 * 24 * 3600
SESSION_TTL = 24 * 3600


def read_signed(signer: URLSafeTimedSerializer, request: Request, name: str, max_age: int) -> str | None:
    """The value of a cookie signed by ``signer`` no longer ago than ``max_age``, or None."""
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        value = signer.loads(raw, max_age=max_age)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


class Cookies:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._signer = URLSafeTimedSerializer(settings.secret_key, salt="idp-cookies")
        self._csrf_key = derive_key(settings.secret_key, "csrf")

    def _path(self, tenant: Tenant) -> str:
        return f"/t/{tenant.slug}"

    def _read(self, request: Request, name: str, max_age: int) -> str | None:
        return read_signed(self._signer, request, name, max_age)

    def _write(self, response: Response, tenant: Tenant, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            self._signer.dumps(value),
            max_age=max_age,
            path=self._path(tenant),
            httponly=True,
            samesite="lax",
            secure=self.settings.secure_cookies,
        )

    # -- the browser id -------------------------------------------------------------------------
    def browser_id(self, request: Request) -> str | None:
        return self._read(request, BROWSER_COOKIE, BROWSER_MAX_AGE)

    def ensure_browser_id(self, request: Request) -> tuple[str, bool]:
        """The browser id, and whether it is new (then the response must set the cookie)."""
        existing = self.browser_id(request)
        return (existing, False) if existing else (random_token(24), True)

    def set_browser_id(self, response: Response, tenant: Tenant, browser_id: str) -> None:
        self._write(response, tenant, BROWSER_COOKIE, browser_id, BROWSER_MAX_AGE)

    # -- CSRF: an HMAC of the browser id and the form's purpose; unforgeable without the cookie --
    def csrf_token(self, browser_id: str, purpose: str) -> str:
        return hmac.new(self._csrf_key, f"{browser_id}|{purpose}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, browser_id: str | None, purpose: str, token: str | None) -> bool:
        if not browser_id or not token:
            return False
        return hmac.compare_digest(self.csrf_token(browser_id, purpose), token)

    # -- the sign-in session --------------------------------------------------------------------
    def session_id(self, request: Request) -> str | None:
        return self._read(request, SESSION_COOKIE, SESSION_TTL)

    def set_session(self, response: Response, tenant: Tenant, session_id: str) -> None:
        self._write(response, tenant, SESSION_COOKIE, session_id, SESSION_TTL)

    def clear_session(self, response: Response, tenant: Tenant) -> None:
        response.delete_cookie(SESSION_COOKIE, path=self._path(tenant), secure=self.settings.secure_cookies)


def cookies(request: Request) -> Cookies:
    """The app's cookie jar (built once in ``create_app`` from the settings)."""
    jar: Cookies = request.app.state.cookies
    return jar


@dataclass(frozen=True)
class SignedIn:
    user: User
    auth_time: int
    sid: str | None = None  # the session's public name (None for sessions older than sids)


def session_sid(session_id: str) -> str:
    """The public name of a session (the ``sid`` claim): one-way from its secret id, so it can be shown to
    clients, and distinct from ``id_hash``, which is the row's lookup key."""
    return sha256_hex(f"sid:{session_id}")[:32]


def start_session(db: Session, tenant: Tenant, user: User, previous_id: str | None) -> str:
    """A new session id at every sign-in (no fixation); the previous session, if any, ends."""
    if previous_id:
        end_session(db, tenant, previous_id)
    session_id = random_token(32)
    t = now()
    db.add(
        BrowserSession(
            tenant_id=tenant.id,
            id_hash=sha256_hex(session_id),
            sid=session_sid(session_id),
            user_id=user.id,
            auth_time=t,
            expires_at=t + SESSION_TTL,
        )
    )
    db.flush()
    return session_id


def current_user(db: Session, tenant: Tenant, session_id: str | None) -> SignedIn | None:
    if not session_id:
        return None
    row = db.exec(
        tenant_query(BrowserSession, tenant.id).where(BrowserSession.id_hash == sha256_hex(session_id))
    ).first()
    if row is None or row.revoked_at is not None or row.expires_at < now():
        return None
    user = db.exec(tenant_query(User, tenant.id).where(User.id == row.user_id)).first()
    if user is None or user.disabled:
        return None
    return SignedIn(user, row.auth_time, row.sid or None)


def end_session(db: Session, tenant: Tenant, session_id: str) -> None:
    db.exec(
        tenant_update(BrowserSession, tenant.id)
        .where(col(BrowserSession.id_hash) == sha256_hex(session_id))
        .values(revoked_at=now())
    )
