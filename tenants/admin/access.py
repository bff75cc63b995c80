"""Who is using the console: a platform admin with a live, fully signed-in admin session.

Only the ``idp_admin`` cookie counts; a tenant's sign-in session (``idp_session``) is another cookie,
another table and another signing salt, so it can never open /admin (nor the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session
from starlette.requests import Request

from identity.admins import LiveSession, live_session
from tenants.admin.cookies import admin_cookies, csrf_ok, csrf_token, ensure_browser_id
from tenants.audit import Actor

HOME = "/admin/tenants"


class NotSignedIn(Exception):
    """Send the browser to the sign-in page, then back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class SecondStepPending(NotSignedIn):
    """The password was right; the TOTP code is still to come."""


class EnrolmentRequired(Exception):
    """In production every admin must set up TOTP before anything else."""


class CsrfRefused(Exception):
    """A form post without this browser's token for this session (HTTP 403)."""


@dataclass(frozen=True)
class SignedInAdmin:
    """Plain values (they outlive the transaction: error pages render after its rollback)."""

    admin_id: str
    email: str
    totp_enabled: bool
    session_id: str
    browser_id: str
    new_browser_id: bool  # the page must set the cookie its CSRF token is keyed by
    csrf_token: str
    ip: str

    @property
    def actor(self) -> Actor:
        return Actor(f"admin:{self.admin_id} {self.email}", self.ip)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def safe_next(next_path: str | None) -> str:
    """Only a path inside this console: never another site, never a scheme-relative ``//host``."""
    path = next_path or ""
    inside = path == "/admin" or path.startswith("/admin/")
    odd = "//" in path or "\\" in path or any(ord(ch) < 0x21 for ch in path)
    return path if inside and not odd and not path.startswith("/admin/login") else HOME


def _here(request: Request) -> str:
    if request.method != "GET":
        return HOME
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def signed_in(
    session: Session, request: Request, *, csrf: str | None = None, enrolling: bool = False
) -> tuple[SignedInAdmin, LiveSession]:
    """The admin behind this request's cookie, fully signed in; on a POST ``csrf`` must be this browser's
    token for this session. ``enrolling``: the TOTP set-up pages, which production requires first."""
    session_id = admin_cookies(request).session_id(request)
    live = live_session(session, session_id)
    if live is None or session_id is None:
        raise NotSignedIn(_here(request))
    if not live.row.mfa_passed:
        raise SecondStepPending(_here(request))
    if request.method == "POST" and not csrf_ok(request, session_id, csrf):
        raise CsrfRefused()
    settings = request.app.state.ctx.settings
    if settings.is_prod and not live.admin.totp_enabled and not enrolling:
        raise EnrolmentRequired()
    browser_id, new_browser_id = ensure_browser_id(request)
    admin = SignedInAdmin(
        admin_id=live.admin.id,
        email=live.admin.email,
        totp_enabled=live.admin.totp_enabled,
        session_id=session_id,
        browser_id=browser_id,
        new_browser_id=new_browser_id,
        csrf_token=csrf_token(request, browser_id, session_id),
        ip=client_ip(request),
    )
    return admin, live


def require_admin(session: Session, request: Request, *, csrf: str | None = None) -> SignedInAdmin:
    return signed_in(session, request, csrf=csrf)[0]
