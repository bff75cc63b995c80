"""The hosted login and consent pages: GET renders, POST checks CSRF and advances the flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import browser as browser_cookies
from identity.branding import branding_context
from identity.browser import cookies
from identity.clock import now
from identity.i18n import N_
from identity.interaction import flows
from identity.interaction.signin import PasswordSignIn
from identity.models.client import Client
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.oauth import device, response_mode
from identity.oauth.server import AuthorizationServer
from identity.scopes import REQUIRED_ON_CONSENT, known_scopes
from identity.users import find_user_by_email
from identity.web import app_context, error_page, form_post_page, in_transaction, page, redirect
from tenants import audit

BAD_CREDENTIALS = N_("The email or password is incorrect.")
THROTTLED = N_("Too many failed attempts. Wait a few minutes, then try again.")
EXPIRED_TITLE = N_("This sign-in request has expired")
EXPIRED_MESSAGE = N_("Go back to the application and start signing in again.")


@dataclass
class View:
    """A page to render, or a redirect, plus the cookie to set."""

    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    location: str | None = None
    form: list[tuple[str, str]] | None = None  # response_mode=form_post: POST these to ``location``
    new_session_id: str | None = None
    tenant: Tenant | None = None
    ui_locales: str | None = None  # the flow's, for pages rendered without a template context


def render(request: Request, view: View) -> Response:
    if view.location is not None and view.form is not None:
        response = form_post_page(request, view.location, view.form, view.tenant, ui_locales=view.ui_locales)
    elif view.location is not None:
        response = redirect(view.location, 303)
    elif view.template is None:
        return error_page(request, EXPIRED_TITLE, EXPIRED_MESSAGE, 400, tenant=view.tenant)
    else:
        response = page(request, view.template, view.context, view.status)
    if view.new_session_id and view.tenant:
        cookies(request).set_session(response, view.tenant, view.new_session_id)
    return response


def base_context(request: Request, tenant: Tenant, flow: Any, client_name: str, purpose: str) -> dict[str, Any]:
    browser_id = cookies(request).browser_id(request) or ""
    return {
        "tenant_name": tenant.name,
        "client_name": client_name,
        "flow_id": flow.id,
        "csrf_token": cookies(request).csrf_token(browser_id, f"{purpose}:{flow.id}"),
        "action": f"{app_context(request).settings.issuer(tenant.slug)}/{purpose}",
        "signup_open": tenant.signup_open,
        "register_url": f"{app_context(request).settings.issuer(tenant.slug)}/register?flow={flow.id}",
        "ui_locales": flows.ui_locales(flow),
        **branding_context(tenant),
    }


def client_of(request: Request, session: Session, tenant: Tenant, flow: Any) -> Client | None:
    """The flow's client as the directory holds it (a read-only snapshot, fresh within the cache's life)."""
    return app_context(request).directory.client(session, tenant.id, flow.client_id)


def client_name(request: Request, session: Session, tenant: Tenant, flow: Any) -> str:
    client = client_of(request, session, tenant, flow)
    return client.name if client else ""


def after_login(server: AuthorizationServer, request: Request, flow: Any, user: User, auth_time: int, sid: str) -> View:
    """The same decision as /authorize, now that the user has signed in: straight back to the client, or
    the consent page (not remembered, or ``prompt=consent``)."""
    client = client_of(request, server.session, server.tenant, flow)
    if client is None:  # deleted meanwhile: the replayed request is refused without a redirect
        return _finish(server, request, flow, user, auth_time, None, sid)
    step = flows.next_step(
        server.session,
        server.tenant,
        client,
        flows.requested_scopes(flow),
        flows.stored_prompts(flow),
        user_id=user.id,
        auth_time=auth_time,
        max_age=None,
    )
    if step.name == flows.FINISH and flow.state == flows.LOGIN:
        return _finish(server, request, flow, user, auth_time, step.granted_scope, sid)
    flow.state, flow.user_id, flow.auth_time, flow.sid = flows.CONSENT, user.id, auth_time, sid
    server.session.add(flow)
    return View(location=f"{server.issuer}/consent?" + urlencode({"flow": flow.id}))


def _finish(
    server: AuthorizationServer,
    request: Request,
    flow: Any,
    user: User | None,
    auth_time: int | None,
    granted: str | None,
    sid: str | None = None,
) -> View:
    if (device_id := flows.device_of(flow)) is not None:
        return _device_answered(server, request, flow, device_id, user, auth_time, granted, sid)
    oauth_request = flows.replay(flow, f"{server.issuer}/authorize", dict(request.headers))
    languages = flows.ui_locales(flow)
    flows.discard(server.session, flow)
    result = flows.finish(server, oauth_request, user=user, auth_time=auth_time, granted_scope=granted, sid=sid)
    if not result.location:  # the stored request no longer validates (client changed): say so, never redirect
        return View(tenant=server.tenant, ui_locales=languages)
    back = response_mode.back_to_client(oauth_request, result.location)
    return View(location=back.location, form=back.form, tenant=server.tenant, ui_locales=languages)


def _device_answered(
    server: AuthorizationServer,
    request: Request,
    flow: Any,
    device_id: str,
    user: User | None,
    auth_time: int | None,
    granted: str | None,
    sid: str | None,
) -> View:
    """A device flow's end: the answer is stored for the device's next poll (RFC 8628 §3.5) and the page
    says to go back to the device; no redirect, the device is not a browser."""
    tenant, name = server.tenant, client_name(request, server.session, server.tenant, flow)
    flows.discard(server.session, flow)
    if user is not None and granted:
        answered = device.approve(server.session, tenant, device_id, user, granted, auth_time or now(), sid)
        outcome = "approved"
    else:
        answered = device.deny(server.session, tenant, device_id, user)
        outcome = "denied"
    if not answered:  # expired meanwhile, or answered in another browser
        outcome = "expired"
    else:
        actor = audit.Actor(f"user:{user.id} {user.email}" if user else "anonymous")
        audit.record(server.session, tenant.id, actor, f"device.{outcome}", f"client:{flow.client_id}")
    context = {"tenant_name": tenant.name, "client_name": name, "outcome": outcome, **branding_context(tenant)}
    return View("identity/device_done.html", context, status=200 if answered else 400, tenant=tenant)


# -- login ------------------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    directory, slug = app_context(request).directory, request.path_params["tenant"]
    browser_id = cookies(request).browser_id(request)
    flow_id = request.query_params.get("flow")

    def work(session: Session) -> View:
        tenant, flow = flows.pending(directory, session, slug, flow_id, browser_id, flows.LOGIN)
        if flow is None:
            return View(tenant=tenant)
        context = base_context(request, tenant, flow, client_name(request, session, tenant, flow), "login")
        context["email"] = flows.login_hint(flow) or flows.signed_in_email(session, tenant, flow)
        return View("identity/login.html", context, tenant=tenant)

    return render(request, await in_transaction(request, work))


async def login_submit(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    form = await request.form()
    flow_id, email = str(form.get("flow", "")), str(form.get("email", ""))
    browser_id = cookies(request).browser_id(request)
    csrf_ok = cookies(request).check_csrf(browser_id, f"login:{flow_id}", str(form.get("csrf_token", "")))
    ip = request.client.host if request.client else ""
    attempt = PasswordSignIn(ctx.settings, email, str(form.get("password", "")), ip, "login.failed")

    def check(session: Session) -> View | None:
        tenant, flow = flows.pending(ctx.directory, session, slug, flow_id, browser_id, flows.LOGIN)
        if flow is None or not csrf_ok:
            return View(tenant=tenant)
        attempt.audit_details = {"client_id": flow.client_id}
        if not attempt.check(session, tenant.id, find_user_by_email(session, tenant.id, email)):
            return _login_error(request, tenant, flow, session, email, THROTTLED, 429)
        return None

    early = await in_transaction(request, check)
    if early is not None:
        return render(request, early)
    await attempt.verify(request.app.state.passwords)

    def complete(session: Session) -> View:
        tenant, flow = flows.pending(ctx.directory, session, slug, flow_id, browser_id, flows.LOGIN)
        if flow is None:
            return View(tenant=tenant)
        user = find_user_by_email(session, tenant.id, email)
        if not attempt.complete(session, tenant.id, user) or user is None:  # (None is refused by complete)
            return _login_error(request, tenant, flow, session, email, BAD_CREDENTIALS, 401)
        audit.record(
            session, tenant.id, attempt.actor(user), "login.succeeded", f"user:{user.id}", client_id=flow.client_id
        )
        session_id = browser_cookies.start_session(session, tenant, user, cookies(request).session_id(request))
        server = AuthorizationServer(ctx, session, tenant)
        view = after_login(server, request, flow, user, now(), browser_cookies.session_sid(session_id))
        view.new_session_id, view.tenant = session_id, tenant
        return view

    return render(request, await in_transaction(request, complete))


def user_actor(user: User, ip: str) -> audit.Actor:
    return audit.Actor(f"user:{user.id} {user.email}", ip)


def _login_error(
    request: Request, tenant: Tenant, flow: Any, session: Session, email: str, message: str, status: int
) -> View:
    context = base_context(request, tenant, flow, client_name(request, session, tenant, flow), "login")
    context.update(error=message, email=email)
    return View("identity/login.html", context, status=status, tenant=tenant)


# -- consent ----------------------------------------------------------------------------------------


async def consent_page(request: Request) -> Response:
    directory, slug = app_context(request).directory, request.path_params["tenant"]
    browser_id = cookies(request).browser_id(request)
    flow_id = request.query_params.get("flow")

    def work(session: Session) -> View:
        tenant, flow = flows.pending(directory, session, slug, flow_id, browser_id, flows.CONSENT)
        if flow is None:
            return View(tenant=tenant)
        return _consent_view(request, session, tenant, flow)

    return render(request, await in_transaction(request, work))


def _consent_view(request: Request, session: Session, tenant: Tenant, flow: Any) -> View:
    described = known_scopes(session, tenant.id)
    user = session.get(User, (tenant.id, flow.user_id))
    scopes = [
        {"name": s, "description": described.get(s, s), "required": s in REQUIRED_ON_CONSENT}
        for s in flows.requested_scopes(flow)
    ]
    context = base_context(request, tenant, flow, client_name(request, session, tenant, flow), "consent")
    context.update(scopes=scopes, user_email=user.email if user else "", device=flows.device_of(flow) is not None)
    return View("identity/consent.html", context, tenant=tenant)


async def consent_submit(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    form = await request.form()
    flow_id = str(form.get("flow", ""))
    browser_id = cookies(request).browser_id(request)
    csrf_ok = cookies(request).check_csrf(browser_id, f"consent:{flow_id}", str(form.get("csrf_token", "")))
    ip = request.client.host if request.client else ""
    approved = form.get("decision") == "approve"
    chosen = {str(v) for v in form.getlist("scope")}

    def work(session: Session) -> View:
        tenant, flow = flows.pending(ctx.directory, session, slug, flow_id, browser_id, flows.CONSENT)
        if flow is None or not csrf_ok:
            return View(tenant=tenant)
        server = AuthorizationServer(ctx, session, tenant)
        user = session.get(User, (tenant.id, flow.user_id))
        if user is None or user.disabled:
            return View(tenant=tenant)
        requested = flows.requested_scopes(flow)
        # Optional scopes are the user's to drop; required ones (openid) always stay.
        granted = [s for s in requested if s in REQUIRED_ON_CONSENT or s in chosen]
        target = f"client:{flow.client_id}"
        if not approved or not granted:  # nothing left to grant is a refusal
            audit.record(session, tenant.id, user_actor(user, ip), "consent.denied", target)
            return _finish(server, request, flow, None, None, None)
        flows.remember(session, tenant, user.id, flow.client_id, requested, granted)
        audit.record(session, tenant.id, user_actor(user, ip), "consent.granted", target, scopes=granted)
        return _finish(server, request, flow, user, flow.auth_time, " ".join(granted), flow.sid)

    return render(request, await in_transaction(request, work))
