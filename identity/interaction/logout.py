"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) at ``{issuer}/logout``, GET or POST.

The request is checked before anything ends: an ``id_token_hint`` must be an ID token this tenant signed
(expired ones are accepted, §2), a ``client_id`` must agree with its audience, and a
``post_logout_redirect_uri`` must be registered, exactly, by the client named (§3). A request that fails
gets an error page and never a redirect.

The user is signed out at once when the hint names the signed-in session (its ``sid``, or its user when
the token has none); otherwise (no hint, or a hint of someone else) the confirmation page asks first, so
a link or image on another site cannot sign people out. The signed-out page loads the clients'
front-channel logout URIs in iframes and then returns to the client; back-channel tokens are queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import browser as browser_cookies
from identity import sessions
from identity.branding import branding_context
from identity.browser import SignedIn, cookies
from identity.clients import find_client
from identity.i18n import N_
from identity.models.client import Client
from identity.models.tenant import Tenant
from identity.oauth import syntax
from identity.tokens import InvalidIdTokenHint, verify_id_token_hint
from identity.web import FORM_POST_CSP, app_context, error_page, in_transaction, page, redirect
from tenants import audit

CONFIRM_MAX_AGE = 30 * 60
REFUSED_TITLE = N_("This sign-out link is not valid")


class LogoutRefused(ValueError):
    """A logout request we will not act on; the message is fit for the page (nothing of the request in it)."""


@dataclass
class LogoutRequest:
    """A validated logout request: the client it came from, where to return, and who the hint names."""

    client: Client | None = None
    return_to: str | None = None  # the registered post_logout_redirect_uri, with ``state`` added
    hint_sub: str | None = None
    hint_sid: str | None = None

    def names(self, signed_in: SignedIn) -> bool:
        """Whether the hint names this browser's session (so no confirmation is needed)."""
        if self.hint_sub is None or self.hint_sub != signed_in.user.id:
            return False
        return self.hint_sid is None or self.hint_sid == signed_in.sid


@dataclass
class Outcome:
    """What the endpoint decided; ``ended`` is set when sessions ended (the cookie goes, clients are told)."""

    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    redirect_to: str | None = None
    ended: sessions.Ended | None = None
    frame_origins: list[str] = field(default_factory=list)
    tenant: Tenant | None = None
    refused: str | None = None


def check_request(session: Session, tenant: Tenant, issuer: str, ring: Any, params: dict[str, str]) -> LogoutRequest:
    request = LogoutRequest()
    client_id = params.get("client_id") or None
    hint = params.get("id_token_hint")
    if hint:
        try:
            claims = verify_id_token_hint(hint, issuer, ring)
        except InvalidIdTokenHint as error:
            raise LogoutRefused(str(error)) from error
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if client_id is not None and client_id not in audiences:
            raise LogoutRefused(N_("The client_id does not match the id_token_hint."))
        client_id = client_id or claims.get("azp") or (audiences[0] if len(audiences) == 1 else None)
        request.hint_sub = claims["sub"]
        request.hint_sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    if client_id is not None:
        request.client = find_client(session, tenant.id, client_id)
        if request.client is None:
            raise LogoutRefused(N_("The application that sent you here is not registered."))
    uri = params.get("post_logout_redirect_uri")
    if uri:
        if request.client is None:
            raise LogoutRefused(N_("The application that sent you here did not say who it is (client_id)."))
        if uri not in request.client.post_logout_redirect_uris:  # exact match, as for redirect URIs
            raise LogoutRefused(N_("The application asked to return to an address it has not registered."))
        state = params.get("state")
        request.return_to = add_params_to_uri(uri, [("state", state)]) if state else uri
    return request


def _sealer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app_context(request).settings.secret_key, salt="idp-logout-confirm")


def _signed_out(request: Request, tenant: Tenant, ended: sessions.Ended, checked: LogoutRequest) -> Outcome:
    """The end of a logout: the signed-out page (with front-channel iframes), or straight back to the client."""
    if not ended.frontchannel_urls and checked.return_to:
        return Outcome(redirect_to=checked.return_to, ended=ended, tenant=tenant)
    context = {
        "tenant_name": tenant.name,
        "frames": ended.frontchannel_urls,
        "return_to": checked.return_to,
        "client_name": checked.client.name if checked.client else "",
        **branding_context(tenant),
    }
    origins = sorted({_origin(url) for url in ended.frontchannel_urls})
    return Outcome("identity/signed_out.html", context, ended=ended, frame_origins=origins, tenant=tenant)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _end(
    request: Request, session: Session, tenant: Tenant, signed_in: SignedIn | None, everywhere: bool
) -> sessions.Ended:
    session_id = cookies(request).session_id(request)
    if signed_in is None or session_id is None:
        return sessions.Ended()
    issuer = app_context(request).settings.issuer(tenant.slug)
    ip = request.client.host if request.client else ""
    actor = audit.Actor(f"user:{signed_in.user.id} {signed_in.user.email}", ip)
    if everywhere:
        return sessions.end_all_sessions(session, tenant, issuer, signed_in.user.id, actor, current_session=session_id)
    return sessions.end_browser_session(session, tenant, issuer, session_id, actor)


async def logout(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    items = list(request.query_params.multi_items())
    if request.method == "POST":  # §2: GET and POST
        items += [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    session_id = cookies(request).session_id(request)
    browser_id = cookies(request).browser_id(request) or ""

    def work(session: Session) -> Outcome:
        tenant = ctx.directory.tenant(slug)
        bad = syntax.bad_parameter(items)
        if bad is not None:
            return Outcome(refused=syntax.describe(*bad), tenant=tenant)
        issuer = ctx.settings.issuer(tenant.slug)
        try:
            checked = check_request(session, tenant, issuer, ctx.keys.get(session, tenant), dict(items))
        except LogoutRefused as error:
            return Outcome(refused=str(error), tenant=tenant)
        signed_in = browser_cookies.current_user(session, tenant, session_id)
        if signed_in is None or checked.names(signed_in):
            return _signed_out(request, tenant, _end(request, session, tenant, signed_in, False), checked)
        # The request goes to the confirmation signed, without the hint, and is checked again there: the
        # client's registration may change meanwhile.
        carried = {k: v for k, v in items if k in {"post_logout_redirect_uri", "state", "ui_locales"}}
        if checked.client is not None:
            carried["client_id"] = checked.client.id
        sealed = _sealer(request).dumps({"tenant": tenant.id, "params": carried})
        context = {
            "tenant_name": tenant.name,
            "user_email": signed_in.user.email,
            "client_name": checked.client.name if checked.client else "",
            "action": f"{issuer}/logout/confirm",
            "csrf_token": cookies(request).csrf_token(browser_id, "logout"),
            "sealed": sealed,
            **branding_context(tenant),
        }
        return Outcome("identity/logout_confirm.html", context, tenant=tenant)

    return _respond(request, await in_transaction(request, work), dict(items).get("ui_locales"))


async def logout_confirm(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    form = await request.form()
    jar = cookies(request)
    csrf_ok = jar.check_csrf(jar.browser_id(request), "logout", str(form.get("csrf_token", "")))
    try:
        carried = _sealer(request).loads(str(form.get("sealed", "")), max_age=CONFIRM_MAX_AGE)
    except BadSignature:
        carried = None
    session_id = jar.session_id(request)

    def work(session: Session) -> Outcome:
        tenant = ctx.directory.tenant(slug)
        if not csrf_ok or not isinstance(carried, dict) or carried.get("tenant") != tenant.id:
            return Outcome(refused=N_("This sign-out page has expired. Go back and try again."), tenant=tenant)
        issuer = ctx.settings.issuer(tenant.slug)
        try:
            checked = check_request(session, tenant, issuer, None, dict(carried["params"]))
        except LogoutRefused as error:
            return Outcome(refused=str(error), tenant=tenant)
        signed_in = browser_cookies.current_user(session, tenant, session_id)
        if form.get("decision") != "sign_out":
            context = {"tenant_name": tenant.name, "stayed": True, "frames": [], **branding_context(tenant)}
            return Outcome("identity/signed_out.html", context, tenant=tenant)
        ended = _end(request, session, tenant, signed_in, form.get("everywhere") == "yes")
        return _signed_out(request, tenant, ended, checked)

    ui_locales = carried.get("params", {}).get("ui_locales") if isinstance(carried, dict) else None
    return _respond(request, await in_transaction(request, work), ui_locales)


def _respond(request: Request, outcome: Outcome, ui_locales: str | None) -> Response:
    """The outcome as a response; its pages in the language ``ui_locales`` asks for (OIDC RP-Initiated
    Logout §2), else the browser's."""
    if outcome.refused is not None:
        return error_page(request, REFUSED_TITLE, outcome.refused, 400, tenant=outcome.tenant, ui_locales=ui_locales)
    if outcome.redirect_to is not None:
        response = redirect(outcome.redirect_to, 303)
    else:
        context = {**outcome.context, "ui_locales": ui_locales}
        response = page(request, outcome.template or "identity/signed_out.html", context)
        if outcome.frame_origins:  # the iframes, and the script that returns to the client after them
            frames = f"frame-src {' '.join(outcome.frame_origins)}; frame-ancestors"
            response.headers["Content-Security-Policy"] = FORM_POST_CSP.replace("frame-ancestors", frames)
    if outcome.ended is not None and outcome.tenant is not None:
        cookies(request).clear_session(response, outcome.tenant)
        if outcome.ended.backchannel_queued:
            request.app.state.logout_wakeup.set()
    return response
