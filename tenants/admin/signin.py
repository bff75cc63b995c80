"""Console sign-in: email and password, then the TOTP code when the admin has one; and sign-out.

Throttled like the tenants' hosted login (per account and per IP, in the database) under the platform
tenant's id; the counter is only cleared once every factor has passed, so a known password does not
buy unlimited guesses at the code. Each outcome is an audit event in the platform tenant's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.admins import (
    check_code,
    end_session,
    find_admin,
    live_session,
    start_session,
)
from identity.interaction import throttle
from identity.interaction.signin import PasswordSignIn
from identity.models.admin import PlatformAdmin
from identity.web import app_context, in_transaction, redirect
from tenants import audit
from tenants.admin.access import CsrfRefused, client_ip, safe_next
from tenants.admin.cookies import admin_cookies, csrf_ok, csrf_token, ensure_browser_id
from tenants.admin.web import card_page
from tenants.manage.tenants import platform_tenant
from tenants.portal import forms

BAD_CREDENTIALS = "The email address or password is incorrect."
BAD_CODE = "That code is not right. Enter the current code from your authenticator app."
REPLAYED_CODE = "That code was already used. Wait for the next code and enter it."
THROTTLED = "Too many failed attempts. Wait a few minutes, then try again."
EXPIRED = "The form expired. Please try again."


def _form_page(
    request: Request, template: str, *, session_id: str | None = None, status: int = 200, **context: Any
) -> Response:
    """A sign-in step's form, its CSRF token keyed by this browser (and by the pending session, if any)."""
    browser_id, new = ensure_browser_id(request)
    context = {"csrf_token": csrf_token(request, browser_id, session_id), **context}
    response = card_page(request, template, context, status)
    if new:
        admin_cookies(request).set_browser_id(response, browser_id)
    return response


def _attempt(request: Request, email: str, password: str) -> PasswordSignIn:
    """The console's password step: the hosted login's sequence, audited in the platform tenant's log."""
    return PasswordSignIn(
        app_context(request).settings,
        email,
        password,
        client_ip(request),
        "admin.login_failed",
        actor_kind="admin",
        unknown_reason="unknown_admin",
    )


def _succeeded(session: Session, platform_id: str, attempt: PasswordSignIn, admin: PlatformAdmin) -> None:
    actor = attempt.actor(admin)
    audit.record(session, platform_id, actor, "admin.login_succeeded", f"admin:{admin.id}", totp=admin.totp_enabled)


# -- step 1: email and password -------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    session_id = admin_cookies(request).session_id(request)
    live = await in_transaction(request, lambda session: live_session(session, session_id))
    if live is not None and live.row.mfa_passed:
        return redirect(next_path, 303)
    notice = "You are signed out." if request.query_params.get("signed_out") == "1" else ""
    return _form_page(request, "admin/login.html", next=next_path, email="", error="", notice=notice)


async def login_submit(request: Request) -> Response:
    ctx = app_context(request)
    form = await request.form()
    email = forms.text(form, "email", 320)
    next_path = safe_next(forms.text(form, "next", 2000))

    def again(error: str, status: int) -> Response:
        return _form_page(request, "admin/login.html", status=status, next=next_path, email=email, error=error)

    if not csrf_ok(request, None, forms.text(form, "csrf_token")):
        return again(EXPIRED, 403)
    attempt = _attempt(request, email, forms.secret(form, "password"))

    def check(session: Session) -> bool:
        return attempt.check(session, platform_tenant(session, ctx.encryptor).id, find_admin(session, email))

    if not await in_transaction(request, check):
        return again(THROTTLED, 429)
    await attempt.verify(request.app.state.passwords)
    previous_id = admin_cookies(request).session_id(request)

    def complete(session: Session) -> tuple[str, bool] | None:
        """The new session's id and whether it is complete (False: the TOTP step follows); None: refused."""
        platform_id, admin = platform_tenant(session, ctx.encryptor).id, find_admin(session, email)
        # With a TOTP code still to come, the failure count stays until the code has passed too.
        clear = admin is not None and not admin.totp_enabled
        if not attempt.complete(session, platform_id, admin, clear_throttle=clear) or admin is None:
            return None
        if admin.totp_enabled:
            return start_session(session, admin, mfa_passed=False, previous_id=previous_id), False
        _succeeded(session, platform_id, attempt, admin)
        return start_session(session, admin, mfa_passed=True, previous_id=previous_id), True

    started = await in_transaction(request, complete)
    if started is None:
        return again(BAD_CREDENTIALS, 401)
    session_id, complete_now = started
    target = next_path if complete_now else "/admin/login/totp?" + urlencode({"next": next_path})
    response = redirect(target, 303)
    admin_cookies(request).set_session(response, session_id)
    return response


# -- step 2: the TOTP code ------------------------------------------------------------------------------


async def totp_page(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    session_id = admin_cookies(request).session_id(request)
    live = await in_transaction(request, lambda session: live_session(session, session_id))
    if live is None:
        return redirect("/admin/login?" + urlencode({"next": next_path}), 303)
    if live.row.mfa_passed:
        return redirect(next_path, 303)
    return _form_page(request, "admin/totp.html", session_id=session_id, next=next_path, error="")


@dataclass(frozen=True)
class _Step:
    """What the code step came to: a complete session, somewhere to go instead, or the form again."""

    session_id: str = ""
    go_to: str = ""
    error: str = ""
    status: int = 200


async def totp_submit(request: Request) -> Response:
    ctx = app_context(request)
    form = await request.form()
    code, next_path = forms.text(form, "code", 20), safe_next(forms.text(form, "next", 2000))
    session_id = admin_cookies(request).session_id(request)

    def work(session: Session) -> _Step:
        live = live_session(session, session_id)
        if live is None or session_id is None:
            return _Step(go_to="/admin/login?" + urlencode({"next": next_path}))
        if live.row.mfa_passed:
            return _Step(go_to=next_path)
        if not csrf_ok(request, session_id, forms.text(form, "csrf_token")):
            return _Step(error=EXPIRED, status=403)
        admin = live.admin
        platform_id = platform_tenant(session, ctx.encryptor).id
        attempt = _attempt(request, admin.email, "")  # the same throttle keys and audit as the password step
        if throttle.is_blocked(session, ctx.settings, platform_id, attempt.keys):
            attempt.refused(session, platform_id, admin, "throttled")
            return _Step(error=THROTTLED, status=429)
        if problem := check_code(session, ctx.encryptor, admin, code):
            throttle.record_failure(session, ctx.settings, platform_id, attempt.keys)
            attempt.refused(session, platform_id, admin, problem)
            return _Step(error=REPLAYED_CODE if problem == "replayed_totp" else BAD_CODE, status=401)
        attempt.passed(session, platform_id)
        _succeeded(session, platform_id, attempt, admin)
        # A new id once every factor has passed: the half-signed-in id is worth nothing from now on.
        return _Step(session_id=start_session(session, admin, mfa_passed=True, previous_id=session_id))

    step = await in_transaction(request, work)
    if step.go_to:
        return redirect(step.go_to, 303)
    if step.error:
        return _form_page(
            request, "admin/totp.html", session_id=session_id, status=step.status, next=next_path, error=step.error
        )
    response = redirect(next_path, 303)
    admin_cookies(request).set_session(response, step.session_id)
    return response


# -- sign-out -------------------------------------------------------------------------------------------


async def logout(request: Request) -> Response:
    """Ends this browser's admin session, complete or half-way (the code step offers it too)."""
    form = await request.form()
    session_id = admin_cookies(request).session_id(request)

    def work(session: Session) -> None:
        if live_session(session, session_id) is None or session_id is None:
            return  # nothing left to end (expired, or already ended): just forget the cookie
        if not csrf_ok(request, session_id, forms.text(form, "csrf_token")):
            raise CsrfRefused()
        end_session(session, session_id)

    await in_transaction(request, work)
    response = redirect("/admin/login?signed_out=1", 303)
    admin_cookies(request).clear_session(response)
    return response
