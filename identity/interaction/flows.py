"""A pending authorization request, from /authorize through login and consent back to the client.

Created only when the user has to do something; a signed-in user with remembered consent gets the
code straight from /authorize. Bound to the browser that started it, expires, used once.

    [*] --> LOGIN     : /authorize, nobody signed in (or prompt=login, or max_age exceeded)
    [*] --> CONSENT   : /authorize, signed in, consent not yet given for these scopes (or prompt=consent)
    LOGIN --> CONSENT : password accepted, consent needed (or prompt=consent)
    LOGIN --> [*]     : password accepted, consent remembered -> code to the client
    CONSENT --> [*]   : approved (code) or denied (access_denied) -> redirect to the client

``next_step`` is the one decision between them, made by /authorize and again after every sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import sha256_hex
from identity.db import tenant_delete, tenant_query
from identity.directory import Directory
from identity.models.client import Client
from identity.models.interaction import AuthorizationRequest, Consent
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.oauth import claims_request
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer, OAuthResponse
from identity.scopes import split
from identity.tokens import InvalidIdTokenHint, verify_id_token_hint

LOGIN = "login"
CONSENT = "consent"
SELECT_ACCOUNT = "select_account"
FINISH = "finish"
FLOW_TTL = 30 * 60
DEVICE = "device"  # the key of a device flow's authorization id in the stored params
MAX_LOGIN_HINT = 320  # the longest email address


@dataclass(frozen=True)
class Step:
    """What the request needs next: LOGIN, CONSENT, or FINISH with the scope to grant without asking."""

    name: str
    granted_scope: str | None = None


def next_step(
    session: Session,
    tenant: Tenant,
    client: Client,
    requested: list[str],
    prompts: list[str],
    *,
    user_id: str | None,
    auth_time: int | None,
    max_age: int | None,
) -> Step:
    """OIDC Core §3.1.2.1: sign in when nobody is, when ``prompt=login`` or when the last sign-in is older
    than ``max_age``; then ask for consent unless it is remembered for these scopes and ``prompt=consent``
    is absent. A request that goes through the login page is stored with ``prompt=login`` and ``max_age``
    consumed (the sign-in just happened) and ``prompt=consent`` kept, so the decision after it is the same
    function on the same request."""
    too_old = auth_time is not None and max_age is not None and now() - auth_time > max_age
    # select_account: one account per browser, so choosing one is signing in again, as it or as another.
    if user_id is None or LOGIN in prompts or SELECT_ACCOUNT in prompts or too_old:
        return Step(LOGIN)
    granted = remembered_grant(session, tenant, user_id, client.id, requested, first_party=client.first_party)
    if granted is None or CONSENT in prompts:
        return Step(CONSENT)
    return Step(FINISH, granted)


def start(
    session: Session,
    tenant: Tenant,
    *,
    browser_id: str,
    client_id: str,
    params: list[tuple[str, str]],
    state: str,
    user: User | None = None,
    auth_time: int | None = None,
    sid: str | None = None,
    device_id: str | None = None,
) -> AuthorizationRequest:
    """``device_id``: the flow answers a device authorization (RFC 8628) instead of an /authorize request;
    kept beside the parameters, where nothing a client sends can put it."""
    # Expired requests of this tenant go when new ones come: the table never grows without bound.
    session.exec(tenant_delete(AuthorizationRequest, tenant.id).where(col(AuthorizationRequest.expires_at) < now()))
    flow = AuthorizationRequest(
        tenant_id=tenant.id,
        browser_hash=sha256_hex(browser_id),
        client_id=client_id,
        params={"items": [list(item) for item in params], **({DEVICE: device_id} if device_id else {})},
        state=state,
        user_id=user.id if user else None,
        auth_time=auth_time,
        sid=sid,
        expires_at=now() + FLOW_TTL,
    )
    session.add(flow)
    session.flush()
    return flow


def load(session: Session, tenant: Tenant, flow_id: str | None, browser_id: str | None) -> AuthorizationRequest | None:
    """The pending request, only for the browser that started it and only until it expires."""
    if not flow_id or not browser_id or len(flow_id) > 32:
        return None
    flow = session.exec(tenant_query(AuthorizationRequest, tenant.id).where(AuthorizationRequest.id == flow_id)).first()
    if flow is None or flow.expires_at < now() or flow.browser_hash != sha256_hex(browser_id):
        return None
    return flow


def pending(
    directory: Directory, session: Session, slug: str, flow_id: str | None, browser_id: str | None, state: str
) -> tuple[Tenant, AuthorizationRequest | None]:
    """The URL's tenant (the directory's snapshot: read-only), and this browser's pending request if it is
    waiting in ``state``."""
    tenant = directory.tenant(slug)
    flow = load(session, tenant, flow_id, browser_id)
    return tenant, flow if flow is not None and flow.state == state else None


def device_of(flow: AuthorizationRequest) -> str | None:
    """The device authorization this flow answers, if it is one (``start(device_id=…)``)."""
    device_id = flow.params.get(DEVICE)
    return device_id if isinstance(device_id, str) else None


def params_of(flow: AuthorizationRequest) -> list[tuple[str, str]]:
    return [(k, v) for k, v in flow.params["items"]]


def requested_scopes(flow: AuthorizationRequest) -> list[str]:
    return split(dict(params_of(flow)).get("scope"))


def login_hint(flow: AuthorizationRequest) -> str:
    """OIDC Core §3.1.2.1 ``login_hint``: what the client believes the user signs in with; the login page
    prefills the email field with it (when it is one) and the user may change it."""
    hint = dict(params_of(flow)).get("login_hint", "")
    return hint if "@" in hint and len(hint) <= MAX_LOGIN_HINT else ""


def ui_locales(flow: AuthorizationRequest) -> str | None:
    """OIDC Core §3.1.2.1 ``ui_locales``: the languages the client asked the pages to speak, preferred first."""
    return dict(params_of(flow)).get("ui_locales")


def signed_in_email(session: Session, tenant: Tenant, flow: AuthorizationRequest) -> str:
    """The email of the account this browser is signed in with, when the flow asks to sign in again
    (``prompt=login`` or ``select_account``, ``max_age``): the login page offers it, and the user may
    type another."""
    if flow.user_id is None:
        return ""
    user = session.get(User, (tenant.id, flow.user_id))
    return user.email if user is not None else ""


def stored_prompts(flow: AuthorizationRequest) -> list[str]:
    return split(dict(params_of(flow)).get("prompt"))


def params_to_store(request: PlainOAuth2Request) -> list[tuple[str, str]]:
    """The validated request as the pending flow keeps it: ``prompt=login`` and ``max_age`` are consumed by
    the sign-in the flow is about to get, ``prompt=consent`` stays for the decision after it."""
    kept = [p for p in split(request.payload.data.get("prompt")) if p == CONSENT]
    items = params_without(request, "prompt", "max_age")
    return [*items, ("prompt", " ".join(kept))] if kept else items


def remembered_grant(
    session: Session, tenant: Tenant, user_id: str, client_id: str, requested: list[str], *, first_party: bool = False
) -> str | None:
    """The scope to grant without asking, if the user already decided on this (or a wider) request.
    The tenant's own apps (its developer portal) are not third parties: no consent to ask."""
    if first_party:
        return " ".join(requested)
    consent = session.exec(
        tenant_query(Consent, tenant.id).where(Consent.user_id == user_id, Consent.client_id == client_id)
    ).first()
    if consent is None or not set(requested) <= set(split(consent.requested_scope)):
        return None
    granted = set(split(consent.granted_scope))
    return " ".join(s for s in requested if s in granted)


def remember(
    session: Session, tenant: Tenant, user_id: str, client_id: str, requested: list[str], granted: list[str]
) -> None:
    consent = session.exec(
        tenant_query(Consent, tenant.id).where(Consent.user_id == user_id, Consent.client_id == client_id)
    ).first()
    if consent is None:
        consent = Consent(
            tenant_id=tenant.id, user_id=user_id, client_id=client_id, requested_scope="", granted_scope=""
        )
    consent.requested_scope = " ".join(requested)
    consent.granted_scope = " ".join(granted)
    consent.updated_at = now()
    session.add(consent)
    session.flush()


def requested_user(
    server: AuthorizationServer,
    data: dict[str, Any],
    client_id: str | None,
    redirect_uri: str | None = None,
    claims: claims_request.ClaimsRequest | None = None,
) -> str | None:
    """The user the request is for, when it names one: the ``sub`` of ``id_token_hint`` (OIDC Core §3.1.2.1;
    an ID token we issued to this client, expired or not) or of the ``claims`` parameter's ``id_token.sub``
    value (§5.5.1; ``claims``, when the caller has parsed it already). Raises ``invalid_request`` for a hint
    that is not ours or not this client's, or when the two name different users."""
    if claims is None:
        claims = claims_request.parse(data.get("claims"), redirect_uri)
    named = claims.required_sub
    hint = data.get("id_token_hint")
    if not hint:
        return named
    try:
        hinted = verify_id_token_hint(hint, server.issuer, server.ctx.keys.get(server.session, server.tenant))
    except InvalidIdTokenHint as error:
        raise InvalidRequestError(str(error), redirect_uri=redirect_uri) from error
    audience = hinted.get("aud")
    if client_id not in ([audience] if isinstance(audience, str) else list(audience or [])):
        raise InvalidRequestError("The id_token_hint was not issued to this client.", redirect_uri=redirect_uri)
    if named is not None and named != hinted["sub"]:
        raise InvalidRequestError(
            "The id_token_hint and the claims parameter name different users.", redirect_uri=redirect_uri
        )
    return str(hinted["sub"])


def finish(
    server: AuthorizationServer,
    request: PlainOAuth2Request,
    *,
    user: User | None,
    auth_time: int | None,
    granted_scope: str | None,
    sid: str | None = None,
) -> OAuthResponse:
    """Issue the code for the granted scope (or ``access_denied`` when ``user`` is None) and redirect.

    The stored request is validated again by Authlib: nothing the browser sent in between can widen it.
    """
    if granted_scope is not None:
        request = narrowed(request, granted_scope)
    try:
        required = requested_user(server, request.payload.data, request.payload.client_id)
    except InvalidRequestError:  # checked at /authorize; a hint whose key has been retired since names nobody
        required = ""
    if user is not None and required is not None and required != user.id:
        user = None  # the request was for another user (id_token_hint, claims id_token.sub): access_denied
    grant = server.get_consent_grant(request, end_user=user)
    request.auth_time, request.sid = auth_time, sid
    response: OAuthResponse = server.create_authorization_response(request, grant_user=user, grant=grant)
    return response


def params_without(request: PlainOAuth2Request, *names: str) -> list[tuple[str, str]]:
    """The request's parameters, repeated ones included, less ``names``."""
    return [(k, v) for k, values in request.payload.datalist.items() for v in values if k not in names]


def narrowed(request: PlainOAuth2Request, scope: str) -> PlainOAuth2Request:
    """The same request for ``scope`` instead (narrowed to what was granted, or widened by ``claims``)."""
    items = params_without(request, "scope")
    return PlainOAuth2Request(request.method, request.uri, request.headers, query=[*items, ("scope", scope)])


def replay(flow: AuthorizationRequest, uri: str, headers: dict[str, Any]) -> PlainOAuth2Request:
    return PlainOAuth2Request("GET", uri, headers, query=params_of(flow))


def discard(session: Session, flow: AuthorizationRequest) -> None:
    session.delete(flow)
    session.flush()
