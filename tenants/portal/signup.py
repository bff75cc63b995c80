"""The /signup pages: create an organisation, then land signed in in its portal."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from identity import browser as browser_cookies
from identity.browser import cookies
from identity.crypto import random_token
from identity.web import app_context, in_transaction, redirect
from tenants.portal import forms
from tenants.portal.web import plain_page
from tenants.signup import NewTenant, SignupError, sign_up, slug_problem

SIGNUP_COOKIE = "idp_signup"


def _signup_id(request: Request) -> str | None:
    return cookies(request)._read(request, SIGNUP_COOKIE, 3600)  # noqa: SLF001 - same signer, own cookie


def _page(request: Request, signup_id: str, context: dict[str, Any], status: int = 200) -> Response:
    token = cookies(request).csrf_token(signup_id, "signup")
    response = plain_page(
        request, "portal/signup.html", {"csrf_token": token, "values": {}, "errors": {}, **context}, status
    )
    response.set_cookie(
        SIGNUP_COOKIE,
        cookies(request)._signer.dumps(signup_id),
        max_age=3600,
        path="/signup",  # noqa: SLF001
        httponly=True,
        samesite="lax",
        secure=app_context(request).settings.secure_cookies,
    )
    return response


async def signup_page(request: Request) -> Response:
    return _page(request, _signup_id(request) or random_token(24), {})


async def check_slug(request: Request) -> Response:
    slug = request.query_params.get("slug", "")
    problem = await in_transaction(request, lambda session: slug_problem(session, slug))
    return JSONResponse(
        {"slug": slug, "available": problem is None, "reason": problem or ""}, headers={"Cache-Control": "no-store"}
    )


async def signup_submit(request: Request) -> Response:
    ctx = app_context(request)
    form = await request.form()
    signup_id = _signup_id(request)
    values = {k: forms.text(form, k, 400) for k in ("org_name", "slug", "email")}
    if not signup_id or not cookies(request).check_csrf(signup_id, "signup", forms.text(form, "csrf_token")):
        return _page(
            request,
            random_token(24),
            {"values": values, "errors": {"form": "The form expired. Please submit it again."}},
            400,
        )
    ip = request.client.host if request.client else ""

    def work(session: Session) -> NewTenant | SignupError:
        try:
            return sign_up(
                session,
                ctx.encryptor,
                org_name=values["org_name"],
                slug=values["slug"],
                email=values["email"],
                password=forms.secret(form, "password"),
                ip=ip,
            )
        except SignupError as error:
            session.rollback()  # nothing half-created
            return error

    result = await in_transaction(request, work)
    if isinstance(result, SignupError):
        return _page(request, signup_id, {"values": values, "errors": result.fields}, 400)

    def start(session: Session) -> str:
        return browser_cookies.start_session(session, result.tenant, result.owner, None)

    session_id = await in_transaction(request, start)
    response = redirect(f"/t/{result.tenant.slug}/portal?welcome=1", 303)
    jar = cookies(request)
    jar.set_browser_id(response, result.tenant, random_token(24))
    jar.set_session(response, result.tenant, session_id)
    response.delete_cookie(SIGNUP_COOKIE, path="/signup")
    return response
