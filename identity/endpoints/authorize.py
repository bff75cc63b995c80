"""The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2).

Errors redirect to the client only when the client and redirect URI are valid; otherwise an error page
(RFC 6749 §4.1.2.1). Every redirect carries ``iss`` (RFC 9207).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import browser as browser_cookies
from identity.i18n import N_
from identity.interaction import flows
from identity.oauth import claims_request, pushed, response_mode, syntax
from identity.oauth.claims_request import UnmetAuthenticationRequirementsError
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer, OAuthResponse
from identity.scopes import split
from identity.web import app_context, error_page, form_post_page, in_transaction, public_uri, redirect

log = logging.getLogger("identity.authorize")


@dataclass
class Outcome:
    """What the endpoint decided: a redirect (to the client or to a hosted page) or an error page."""

    location: str | None = None
    form: list[tuple[str, str]] | None = None  # response_mode=form_post: POST these to ``location``
    error_title: str | None = None
    error_message: str | None = None
    error_code: str | None = None
    tenant_name: str | None = None


def to_client(server: AuthorizationServer, request: PlainOAuth2Request, error: OAuth2Error) -> Outcome:
    """An OAuth error: to the client if its redirect URI was validated, else an error page."""
    if error.redirect_uri:
        result: OAuthResponse = server.handle_error_response(request, error)
        location = add_params_to_uri(result.location or error.redirect_uri, [("iss", server.issuer)])
        back = response_mode.back_to_client(request, location)
        return Outcome(location=back.location, form=back.form)
    # Nothing from the request is echoed on our page (a phishing link could use it); details go to the log.
    log.info(
        "authorization request refused",
        extra={"tenant": server.tenant.slug, "error": error.error, "description": error.get_error_description()},
    )
    return Outcome(
        error_title=N_("This sign-in link is not valid"),
        error_message=PAGE_MESSAGES.get(error.error, PAGE_MESSAGES["invalid_request"]),  # %(tenant)s: the page's
        error_code=error.error,
        tenant_name=server.tenant.name,
    )


SPENT_REFERENCE = N_(
    "This sign-in request has expired or was already used. Go back to the application and start again."
)


def _spent_reference(tenant: Any) -> Outcome:
    """A pushed request's reference that is unknown, another client's, expired or used: the error page (no
    redirect URI is known to be this client's until the request is found)."""
    return Outcome(
        error_title=N_("This sign-in link is not valid"),
        error_message=SPENT_REFERENCE,
        error_code="invalid_request_uri",
        tenant_name=tenant.name,
    )


PAGE_MESSAGES = {
    "invalid_client": N_("The application that sent you here is not registered with %(tenant)s."),
    "invalid_request": N_(
        "The application that sent you here made a request %(tenant)s cannot accept, "
        "for example with a return address it has not registered."
    ),
}


@dataclass
class Checked:
    """An authorization request that passed every check: as it will be served (widened by ``claims``), the
    Authlib grant that will serve it, ``max_age``, and the user it is for when it names one."""

    request: PlainOAuth2Request
    grant: Any
    max_age: int | None
    required_user: str | None


def checked_request(
    server: AuthorizationServer, request: PlainOAuth2Request, end_user: Any, *, pushed: bool
) -> Checked:
    """What /authorize checks before deciding on a page, and the PAR endpoint before keeping a request
    (``pushed``): Authlib's validation (client, redirect URI, response type, scope, PKCE), then ours. Raises
    OAuth2Error, carrying the redirect URI once that is validated."""
    grant = server.get_consent_grant(request, end_user=end_user)
    data = request.payload.data
    _refuse_request_objects(data, grant.redirect_uri)
    if request.client.row.require_pushed_requests and not pushed:
        raise InvalidRequestError(
            "This application must push its authorization requests (RFC 9126).", redirect_uri=grant.redirect_uri
        )
    response_mode.check(data, grant.redirect_uri)
    claims = claims_request.parse(data.get("claims"), grant.redirect_uri)
    if claims.acr_unmet():
        raise UnmetAuthenticationRequirementsError(redirect_uri=grant.redirect_uri)
    widened = claims_request.widened_scope(split(request.scope), claims, request.client.row.scopes)
    if widened != split(request.scope):  # the claims asked for bring their scopes (and consent for them)
        request = flows.narrowed(request, " ".join(widened))
        grant = server.get_consent_grant(request, end_user=end_user)
    max_age = _max_age(data.get("max_age"), grant.redirect_uri)
    required = flows.requested_user(server, data, request.client.id, grant.redirect_uri, claims)
    return Checked(request, grant, max_age, required)


def authorize_request(
    server: AuthorizationServer,
    request: PlainOAuth2Request,
    signed_in: browser_cookies.SignedIn | None,
    browser_id: str,
    *,
    pushed: bool = False,
) -> Outcome:
    refused = _malformed(server, request)
    if refused is not None:
        return refused
    try:
        checked = checked_request(server, request, signed_in.user if signed_in else None, pushed=pushed)
        request, grant = checked.request, checked.grant
        prompts = split(request.payload.data.get("prompt"))
        # A request for one user (id_token_hint, claims id_token.sub) treats a browser signed in as another
        # as not signed in: it must sign in, or with prompt=none it gets login_required.
        required = checked.required_user
        user_id = signed_in.user.id if signed_in and required in (None, signed_in.user.id) else None
        step = flows.next_step(
            server.session,
            server.tenant,
            request.client.row,
            split(request.scope),
            prompts,
            user_id=user_id,
            auth_time=signed_in.auth_time if signed_in else None,
            max_age=checked.max_age,
        )
        if step.name != flows.FINISH and "none" in prompts:  # OIDC Core §3.1.2.6: no page may be shown
            error = LoginRequiredError if step.name == flows.LOGIN else ConsentRequiredError
            raise error(redirect_uri=grant.redirect_uri)
        if step.name != flows.FINISH or signed_in is None:
            return _interaction(server, request, browser_id, step.name, signed_in)
        granted = step.granted_scope
        result = flows.finish(
            server,
            request,
            user=signed_in.user,
            auth_time=signed_in.auth_time,
            granted_scope=granted,
            sid=signed_in.sid,
        )
        if result.location is None:
            return Outcome()
        back = response_mode.back_to_client(request, result.location)
        return Outcome(location=back.location, form=back.form)
    except OAuth2Error as error:
        error.state = request.payload.state
        return to_client(server, request, error)


def _malformed(server: AuthorizationServer, request: PlainOAuth2Request) -> Outcome | None:
    """A repeated or malformed parameter is ``invalid_request`` (RFC 6749 §3.1): redirected to the client
    when its client_id and redirect_uri are themselves sound and registered, else the error page."""
    items = flows.params_without(request)
    bad = syntax.bad_parameter(items)
    if bad is None:
        return None

    def sound(name: str) -> str | None:
        values = [(k, v) for k, v in items if k == name]
        return values[0][1] if values and syntax.bad_parameter(values) is None else None

    error = InvalidRequestError(syntax.describe(*bad))
    client_id, redirect_uri, state = sound("client_id"), sound("redirect_uri"), sound("state")
    client = server.query_client(client_id) if client_id else None
    if client is not None and "redirect_uri" not in dict(items):
        redirect_uri = client.get_default_redirect_uri()
    if client is not None and redirect_uri and client.check_redirect_uri(redirect_uri):
        error.redirect_uri, error.state = redirect_uri, state
    return to_client(server, request, error)


def _refuse_request_objects(data: dict[str, Any], redirect_uri: str) -> None:
    """OIDC Core §6: request objects are not supported (discovery says so); a request that sends one is
    refused with the error that names it, not served without what the object asked for."""
    if "request" in data:
        raise RequestNotSupportedError(
            "Request objects (the request parameter) are not supported.", redirect_uri=redirect_uri
        )
    if "request_uri" in data:
        raise RequestURINotSupportedError("The request_uri parameter is not supported.", redirect_uri=redirect_uri)


def _max_age(value: str | None, redirect_uri: str) -> int | None:
    """OIDC Core §3.1.2.1: seconds since the last active authentication; 0 forces a new sign-in."""
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 10:
        raise InvalidRequestError("max_age must be a non-negative integer", redirect_uri=redirect_uri)
    return int(value)


def _interaction(
    server: AuthorizationServer,
    request: PlainOAuth2Request,
    browser_id: str,
    state: str,
    signed_in: browser_cookies.SignedIn | None,
) -> Outcome:
    params = flows.params_to_store(request)
    flow = flows.start(
        server.session,
        server.tenant,
        browser_id=browser_id,
        client_id=request.client.id,
        params=params,
        state=state,
        user=signed_in.user if signed_in else None,
        auth_time=signed_in.auth_time if signed_in else None,
        sid=signed_in.sid if signed_in else None,
    )
    page = "login" if state == flows.LOGIN else "consent"
    return Outcome(location=f"{server.issuer}/{page}?" + urlencode({"flow": flow.id}))


async def authorize(request: Request) -> Response:
    ctx = app_context(request)
    slug = request.path_params["tenant"]
    query = list(request.query_params.multi_items())
    form: list[tuple[str, str]] = []
    if request.method == "POST":  # OIDC Core §3.1.2.1: GET and POST
        form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    browser_id, new_browser = browser_cookies.cookies(request).ensure_browser_id(request)
    session_id = browser_cookies.cookies(request).session_id(request)
    uri, headers = public_uri(request), dict(request.headers)

    def work(session: Session) -> tuple[Outcome, Any, str | None]:
        tenant = ctx.directory.tenant(slug)  # a read-only snapshot, fresh within the cache's life
        server = AuthorizationServer(ctx, session, tenant)
        items = query + form
        named = dict(items)
        by_reference = pushed.is_pushed_reference(named.get("request_uri", "")) and len(items) == len(named)
        if by_reference:  # RFC 9126 §4: the pushed parameters, and only those, are the request
            client_id = named.get("client_id", "")
            stored = pushed.claim(session, tenant, named["request_uri"], client_id)
            if stored is None:
                return _spent_reference(tenant), tenant, None
            items = [*stored, ("client_id", client_id)]
        oauth_request = PlainOAuth2Request("GET", uri, headers, query=items)
        signed_in = browser_cookies.current_user(session, tenant, session_id)
        outcome = authorize_request(server, oauth_request, signed_in, browser_id, pushed=by_reference)
        # The pages speak the served request's languages: a pushed request's, not what came beside it.
        return outcome, tenant, next((v for k, v in items if k == "ui_locales"), None)

    outcome, tenant, languages = await in_transaction(request, work)
    if outcome.location is None:
        return error_page(
            request,
            outcome.error_title or N_("Error"),
            outcome.error_message or "",
            400,
            outcome.tenant_name,
            code=outcome.error_code,
            ui_locales=languages,
            message_args={"tenant": outcome.tenant_name or ""},
        )
    if outcome.form is not None:
        response = form_post_page(request, outcome.location, outcome.form, tenant, ui_locales=languages)
    else:
        response = redirect(outcome.location)
    if new_browser:
        browser_cookies.cookies(request).set_browser_id(response, tenant, browser_id)
    return response
