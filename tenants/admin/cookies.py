"""The console's two cookies: a browser id (binds CSRF tokens, before and after sign-in) and the session.

Both are signed with itsdangerous under a salt of their own (a tenant cookie's value never verifies
here), HttpOnly, SameSite=Strict, Path=/admin, and Secure when the public URL is https.
"""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from identity.admins import SESSION_TTL
from identity.browser import cookies as tenant_cookies
from identity.browser import read_signed
from identity.crypto import random_token, sha256_hex
from identity.settings import Settings

SESSION_COOKIE = "idp_admin"
BROWSER_COOKIE = "idp_admin_browser"
BROWSER_MAX_AGE = 400 * 24 * 3600
PATH = "/admin"
SIGN_IN_PURPOSE = "admin-sign-in"


class AdminCookies:
    def __init__(self, settings: Settings) -> None:
        self._signer = URLSafeTimedSerializer(settings.secret_key, salt="idp-admin-cookies")
        self._secure = settings.secure_cookies

    def _read(self, request: Request, name: str, max_age: int) -> str | None:
        return read_signed(self._signer, request, name, max_age)

    def _write(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            self._signer.dumps(value),
            max_age=max_age,
            path=PATH,
            httponly=True,
            samesite="strict",
            secure=self._secure,
        )

    def session_id(self, request: Request) -> str | None:
        return self._read(request, SESSION_COOKIE, SESSION_TTL)

    def set_session(self, response: Response, session_id: str) -> None:
        self._write(response, SESSION_COOKIE, session_id, SESSION_TTL)

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=PATH, httponly=True, samesite="strict", secure=self._secure)

    def browser_id(self, request: Request) -> str | None:
        return self._read(request, BROWSER_COOKIE, BROWSER_MAX_AGE)

    def set_browser_id(self, response: Response, browser_id: str) -> None:
        self._write(response, BROWSER_COOKIE, browser_id, BROWSER_MAX_AGE)


def admin_cookies(request: Request) -> AdminCookies:
    """Built once per app (on first use) from its settings."""
    state = request.app.state
    if not hasattr(state, "admin_cookies"):
        state.admin_cookies = AdminCookies(state.ctx.settings)
    jar: AdminCookies = state.admin_cookies
    return jar


def ensure_browser_id(request: Request) -> tuple[str, bool]:
    """This browser's id, and whether it is new (then the response must set the cookie)."""
    existing = admin_cookies(request).browser_id(request)
    return (existing, False) if existing else (random_token(24), True)


# -- CSRF: the tenant pages' HMAC scheme, keyed by this console's browser id and bound to the session ----


def csrf_purpose(session_id: str | None) -> str:
    """Signed-in forms are bound to the session too: a token from before sign-in (or from an ended session)
    does not work after it."""
    return f"admin-session:{sha256_hex(session_id)}" if session_id else SIGN_IN_PURPOSE


def csrf_token(request: Request, browser_id: str, session_id: str | None) -> str:
    return tenant_cookies(request).csrf_token(browser_id, csrf_purpose(session_id))


def csrf_ok(request: Request, session_id: str | None, token: str | None) -> bool:
    browser_id = admin_cookies(request).browser_id(request)
    return tenant_cookies(request).check_csrf(browser_id, csrf_purpose(session_id), token)
