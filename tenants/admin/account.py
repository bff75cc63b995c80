"""The admin's own account: two-step verification (TOTP), which production requires before anything else.

Enrolment shows the secret and its ``otpauth://`` URI as text (typed or pasted into an authenticator app)
and turns TOTP on only once a code from the app is accepted. Once on, it stays on: every sign-in asks
for a code.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.admins import confirm_enrolment, pending_secret, provisioning_uri
from identity.web import app_context, in_transaction, redirect
from tenants import audit
from tenants.admin.access import SignedInAdmin, require_admin, signed_in
from tenants.admin.web import admin_page
from tenants.manage.tenants import platform_tenant
from tenants.portal import forms

NOTICES = {"totp": "Two-step verification is on. Every sign-in now asks for a code from your app."}
CODE_PROBLEMS = {
    "bad_totp": "That code is not right. Enter the current code your app shows for Identity platform.",
    "replayed_totp": "That code was already used. Wait for the next code and enter it.",
}


async def account_page(request: Request) -> Response:
    notice = NOTICES.get(request.query_params.get("notice", ""), "")

    def work(session: Session) -> Response:
        admin = require_admin(session, request)
        return admin_page(request, admin, "admin/account.html", {"notice": notice}, section="account")

    return await in_transaction(request, work)


def _enrol_page(request: Request, admin: SignedInAdmin, secret: str, error: str = "", status: int = 200) -> Response:
    context = {
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": provisioning_uri(secret, admin.email),
        "required": app_context(request).settings.is_prod,
        "error": error,
    }
    return admin_page(request, admin, "admin/totp_enrol.html", context, section="account", status=status)


async def enrol_page(request: Request) -> Response:
    ctx = app_context(request)

    def work(session: Session) -> Response:
        admin, live = signed_in(session, request, enrolling=True)
        if live.admin.totp_enabled:
            return redirect("/admin/account", 303)
        return _enrol_page(request, admin, pending_secret(session, ctx.encryptor, live.admin))

    return await in_transaction(request, work)


async def enrol_confirm(request: Request) -> Response:
    ctx = app_context(request)
    form = await request.form()

    def work(session: Session) -> Response:
        admin, live = signed_in(session, request, csrf=forms.text(form, "csrf_token"), enrolling=True)
        if live.admin.totp_enabled:
            return redirect("/admin/account", 303)
        secret = pending_secret(session, ctx.encryptor, live.admin)
        if problem := confirm_enrolment(session, ctx.encryptor, live.admin, forms.text(form, "code", 20)):
            return _enrol_page(request, admin, secret, CODE_PROBLEMS.get(problem, CODE_PROBLEMS["bad_totp"]), 400)
        platform_id = platform_tenant(session, ctx.encryptor).id
        audit.record(session, platform_id, admin.actor, "admin.totp_enabled", f"admin:{admin.admin_id}")
        return redirect("/admin/account?notice=totp", 303)

    return await in_transaction(request, work)


routes = [
    Route("/account", account_page, methods=["GET"]),
    Route("/account/totp", enrol_page, methods=["GET"]),
    Route("/account/totp", enrol_confirm, methods=["POST"]),
]
