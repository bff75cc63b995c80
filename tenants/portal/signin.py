"""Portal sign-in: the tenant's own authorization code flow with PKCE, and sign-out."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import browser as browser_cookies
from identity import sessions
from identity.browser import cookies
from identity.clients import first_party_client
from identity.crypto import random_token
from identity.i18n import N_
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer
from identity.web import app_context, error_page, in_transaction, redirect
from tenants import audit
from tenants.portal.web import plain_page
from tenants.resolution import resolve_tenant
from tenants.service import PORTAL_CALLBACK, create_portal_client

PENDING_COOKIE = "idp_portal_signin"


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app_context(request).settings.secret_key, salt="portal-signin")


def _safe_next(slug: str, next_path: str | None) -> str:
    """Only a path inside this tenant's portal: never an open redirect."""
    prefix = f"/t/{slug}/portal"
    if next_path and next_path.startswith(prefix) and "//" not in next_path and "\\" not in next_path:
        return next_path
    return prefix


async def portal_login(request: Request) -> Response:
    slug = request.path_params["tenant"]
    ctx = app_context(request)

    def work(session: Session) -> str:
        tenant = resolve_tenant(session, slug)
        client = first_party_client(session, tenant.id)
        if client is None:  # tenants created before the portal existed
            create_portal_client(session, tenant)
            client = first_party_client(session, tenant.id)
        assert client is not None
        return client.id

    client_id = await in_transaction(request, work)
    issuer = ctx.settings.issuer(slug)
    verifier, state = random_token(48), random_token(16)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": issuer + PORTAL_CALLBACK,
        "scope": "openid profile email",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = redirect(f"{issuer}/authorize?" + urlencode(params), 303)
    pending = {"state": state, "verifier": verifier, "next": _safe_next(slug, request.query_params.get("next"))}
    response.set_cookie(
        PENDING_COOKIE,
        _serializer(request).dumps(pending),
        max_age=1800,
        path=f"/t/{slug}/portal",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
    )
    return response


async def portal_callback(request: Request) -> Response:
    slug = request.path_params["tenant"]
    ctx = app_context(request)
    try:
        pending = _serializer(request).loads(request.cookies.get(PENDING_COOKIE, ""), max_age=1800)
    except BadSignature:
        pending = None
    code, state = request.query_params.get("code"), request.query_params.get("state")
    if not pending or not code or state != pending.get("state"):
        return error_page(request, N_("Sign-in did not complete"), N_("Start again from the developer portal."), 400)
    issuer = ctx.settings.issuer(slug)
    form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", issuer + PORTAL_CALLBACK),
        ("code_verifier", pending["verifier"]),
    ]

    def work(session: Session) -> int:
        tenant = resolve_tenant(session, slug)
        client = first_party_client(session, tenant.id)
        assert client is not None
        server = AuthorizationServer(ctx, session, tenant)
        token_request = PlainOAuth2Request("POST", issuer + "/token", {}, form=[*form, ("client_id", client.id)])
        return server.create_token_response(token_request).status

    if await in_transaction(request, work) != 200:
        return error_page(request, N_("Sign-in did not complete"), N_("Start again from the developer portal."), 400)
    response = redirect(pending["next"], 303)
    response.delete_cookie(PENDING_COOKIE, path=f"/t/{slug}/portal")
    return response


async def portal_logout(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()
    jar = cookies(request)
    session_id = jar.session_id(request)
    csrf_ok = jar.check_csrf(jar.browser_id(request), "portal", str(form.get("csrf_token", "")))

    def work(session: Session) -> None:
        tenant = resolve_tenant(session, slug)
        if csrf_ok and session_id:  # the same session the hosted pages use: its clients are told too
            signed_in = browser_cookies.current_user(session, tenant, session_id)
            who = f"user:{signed_in.user.id} {signed_in.user.email}" if signed_in else "user:unknown"
            actor = audit.Actor(who, request.client.host if request.client else "")
            sessions.end_browser_session(session, tenant, app_context(request).settings.issuer(slug), session_id, actor)

    await in_transaction(request, work)
    request.app.state.logout_wakeup.set()
    response = redirect(f"/t/{slug}/portal/signed-out", 303)
    response.delete_cookie(browser_cookies.SESSION_COOKIE, path=f"/t/{slug}")
    return response


async def signed_out(request: Request) -> Response:
    slug = request.path_params["tenant"]
    name = await in_transaction(request, lambda session: resolve_tenant(session, slug).name)
    return plain_page(request, "portal/signed_out.html", {"tenant_name": name, "base": f"/t/{slug}"})
