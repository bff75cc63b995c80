"""The UserInfo endpoint (OIDC Core §5.3): a Bearer access token in, the granted claims out."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from identity import bearer
from identity.bearer import BearerError
from identity.context import AppContext
from identity.documents import ReadyResponse
from identity.keys import KeyRing
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.scopes import OPENID
from identity.userinfo_claims import user_claims
from identity.web import (
    app_context,
    current_tenant,
    in_transaction,
    json_body,
    json_bytes_response,
    json_response,
    key_ring,
)


def bearer_error(error: BearerError) -> Response:
    """RFC 6750 §3: the error in WWW-Authenticate (and, for convenience, in a JSON body)."""
    body = {"error": error.error, "error_description": error.description}
    return json_response(body, error.status, {"WWW-Authenticate": bearer.challenge("userinfo", error)})


def _verified(ctx: AppContext, tenant: Tenant, ring: KeyRing, token: str) -> bearer.AccessToken:
    """A valid user's access token that was granted ``openid``."""
    verified = bearer.verify(ctx, tenant, ring, token)
    verified.require_scope(OPENID)
    if verified.grant_id is None:  # a client's own token speaks for no user
        raise BearerError("insufficient_scope", "The access token was not granted the openid scope.", 403)
    return verified


def _claims(user: User | None, scopes: list[str]) -> dict[str, Any]:
    if user is None:
        raise bearer.revoked()
    return user_claims(user, scopes)


def response_in_memory(ctx: AppContext, tenant: Tenant, token: str) -> Response | None:
    """The answer when the key ring and the grant's user are in memory (no database, no thread hop);
    None when something must be loaded. Raises BearerError like ``claims_for``. The response (JSON body and
    headers) is made once per cached user snapshot and set of scopes (the body was a third of a warm
    request, the headers another eighth)."""
    ring = ctx.keys.cached(tenant)
    if ring is None:
        return None
    verified = _verified(ctx, tenant, ring, token)
    scopes = verified.scopes
    found, ready = ctx.directory.cached_grant_user_view(
        tenant.id,
        verified.grant_id or "",
        verified.subject,
        ("userinfo", *scopes),
        lambda user: _ready_claims(user, scopes),
    )
    if not found:
        return None
    revoked = bearer.revoked_in_memory(ctx, tenant, verified)
    if revoked is None:
        return None
    if ready is None or revoked:
        raise bearer.revoked()
    return ready.response()


def _ready_claims(user: User, scopes: list[str]) -> ReadyResponse:
    return ReadyResponse.of(json_bytes_response(json_body(user_claims(user, scopes))))


async def claims_for(request: Request, token: str) -> dict[str, Any]:
    """Verify on the event loop; reach the database (on the threadpool) only for what is not in memory."""
    ctx = app_context(request)
    tenant = await current_tenant(request)
    ring = await key_ring(request, tenant)
    verified = _verified(ctx, tenant, ring, token)
    found, user = bearer.cached_user(ctx, tenant, verified)
    if not found:
        user = await in_transaction(request, lambda session: bearer.user_of(ctx, session, tenant, verified))
    return _claims(user, verified.scopes)


async def userinfo(request: Request) -> Response:
    form: dict[str, str] = {}
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        claims = await claims_for(request, bearer.token_from(request.headers.get("authorization", ""), form))
    except BearerError as error:
        return bearer_error(error)
    return json_response(claims)
