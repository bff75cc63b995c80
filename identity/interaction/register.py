"""End-user sign-up on the hosted pages, when the tenant opens it (portal: Branding & settings).

Reached from the login page of a pending authorization request; the new user is signed in and the
request continues (consent, then back to the app), as after a password sign-in.
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import browser as browser_cookies
from identity.browser import cookies
from identity.clock import now
from identity.i18n import N_
from identity.interaction import flows
from identity.interaction.pages import View, after_login, base_context, client_name, render
from identity.oauth.server import AuthorizationServer
from identity.users import UserError, create_user, find_user_by_email
from identity.web import app_context, in_transaction
from tenants import audit

# Same words whether or not the email is taken elsewhere in the form's life: we only say what to do next.
TAKEN = N_("An account with this email already exists. Sign in instead, or use another email.")


def _view(request: Request, session: Session, tenant, flow, **extra) -> View:  # type: ignore[no-untyped-def]
    context = base_context(request, tenant, flow, client_name(request, session, tenant, flow), "register")
    context["login_url"] = f"{app_context(request).settings.issuer(tenant.slug)}/login?" + urlencode({"flow": flow.id})
    context.update(extra)
    return View("identity/register.html", context, status=400 if extra.get("errors") else 200, tenant=tenant)


async def register_page(request: Request) -> Response:
    directory, slug = app_context(request).directory, request.path_params["tenant"]
    browser_id = cookies(request).browser_id(request)
    flow_id = request.query_params.get("flow")

    def work(session: Session) -> View:
        tenant, flow = flows.pending(directory, session, slug, flow_id, browser_id, flows.LOGIN)
        if flow is None or not tenant.signup_open:
            return View(tenant=tenant)
        return _view(request, session, tenant, flow, values={}, errors={})

    return render(request, await in_transaction(request, work))


async def register_submit(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    form = await request.form()
    flow_id = str(form.get("flow", ""))
    values = {"name": str(form.get("name", "")).strip()[:200], "email": str(form.get("email", "")).strip()[:320]}
    password = str(form.get("password", ""))[:1100]
    browser_id = cookies(request).browser_id(request)
    csrf_ok = cookies(request).check_csrf(browser_id, f"register:{flow_id}", str(form.get("csrf_token", "")))
    ip = request.client.host if request.client else ""

    def work(session: Session) -> View:
        tenant, flow = flows.pending(ctx.directory, session, slug, flow_id, browser_id, flows.LOGIN)
        if flow is None or not tenant.signup_open or not csrf_ok:
            return View(tenant=tenant)
        if find_user_by_email(session, tenant.id, values["email"]) is not None:
            return _view(request, session, tenant, flow, values=values, errors={"email": TAKEN})
        try:
            user = create_user(session, tenant.id, email=values["email"], password=password, name=values["name"])
        except UserError as error:
            field = "password" if "assword" in str(error) else "email"
            return _view(request, session, tenant, flow, values=values, errors={field: str(error)})
        audit.record(session, tenant.id, audit.Actor(f"user:{user.id} {user.email}", ip), "user.registered", user.id)
        session_id = browser_cookies.start_session(session, tenant, user, cookies(request).session_id(request))
        server = AuthorizationServer(ctx, session, tenant)
        view = after_login(server, request, flow, user, now(), browser_cookies.session_sid(session_id))
        view.new_session_id, view.tenant = session_id, tenant
        return view

    return render(request, await in_transaction(request, work, keep=lambda _s, view: view.status < 400))
