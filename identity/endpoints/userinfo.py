"""The UserInfo endpoint (OIDC Core §5.3): a Bearer access token in, the granted claims out."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from identity.context import AppContext
from identity.documents import ReadyResponse
from identity.keys import KeyRing
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.scopes import OPENID, split
from identity.tokens import InvalidAccessToken
from identity.userinfo_claims import user_claims
from identity.web import app_context, current_tenant, in_transaction, json_body, json_bytes_response, json_response


class BearerError(Exception):
    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def bearer_error(error: BearerError) -> Response:
    """RFC 6750 §3: the error in WWW-Authenticate (and, for convenience, in a JSON body)."""
    challenge = 'Bearer realm="userinfo"'
    if error.error != "invalid_request" or error.status != 401:
        challenge += f', error="{error.error}", error_description="{error.description}"'
    body = {"error": error.error, "error_description": error.description}
    return json_response(body, error.status, {"WWW-Authenticate": challenge})


def bearer_token(authorization: str, form: dict[str, str]) -> str:
    """The access token from the Authorization header's value or the form body (RFC 6750 §2.1, §2.2)."""
    from_body = form.get("access_token")
    if authorization and from_body:
        raise BearerError("invalid_request", "Send the access token one way only.", 400)
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BearerError("invalid_request", "Use the Bearer authorization scheme.", 401)
        return value.strip()
    if from_body:
        return from_body
    raise BearerError("invalid_request", "An access token is required.", 401)


def _verified(ctx: AppContext, tenant: Tenant, ring: KeyRing, token: str) -> tuple[list[str], str, str]:
    """(scopes, grant id, subject) of a valid access token that was granted ``openid``."""
    try:
        claims = ctx.access_tokens.verify(token, ctx.settings.issuer(tenant.slug), ring)
    except InvalidAccessToken as error:
        raise BearerError("invalid_token", str(error), 401) from error
    scopes = split(claims.get("scope"))
    grant_id = claims.get("gid")
    if OPENID not in scopes or not isinstance(grant_id, str):
        raise BearerError("insufficient_scope", "The access token was not granted the openid scope.", 403)
    return scopes, grant_id, str(claims.get("sub"))


def _revoked() -> BearerError:
    return BearerError("invalid_token", "The access token was revoked, or its user can no longer sign in.", 401)


def _claims(user: User | None, scopes: list[str]) -> dict[str, Any]:
    if user is None:
        raise _revoked()
    return user_claims(user, scopes)


def response_in_memory(ctx: AppContext, tenant: Tenant, token: str) -> Response | None:
    """The answer when the key ring and the grant's user are in memory (no database, no thread hop);
    None when something must be loaded. Raises BearerError like ``claims_for``. The response (JSON body and
    headers) is made once per cached user snapshot and set of scopes (the body was a third of a warm
    request, the headers another eighth)."""
    ring = ctx.keys.cached(tenant)
    if ring is None:
        return None
    scopes, grant_id, subject = _verified(ctx, tenant, ring, token)
    found, ready = ctx.directory.cached_grant_user_view(
        tenant.id, grant_id, subject, ("userinfo", *scopes), lambda user: _ready_claims(user, scopes)
    )
    if not found:
        return None
    if ready is None:
        raise _revoked()
    return ready.response()


def _ready_claims(user: User, scopes: list[str]) -> ReadyResponse:
    return ReadyResponse.of(json_bytes_response(json_body(user_claims(user, scopes))))


async def claims_for(request: Request, token: str) -> dict[str, Any]:
    """Verify on the event loop; reach the database (on the threadpool) only for what is not in memory."""
    ctx = app_context(request)
    tenant = await current_tenant(request)
    ring = ctx.keys.cached(tenant) or await in_transaction(request, lambda session: ctx.keys.get(session, tenant))
    scopes, grant_id, subject = _verified(ctx, tenant, ring, token)
    found, user = ctx.directory.cached_grant_user(tenant.id, grant_id, subject)
    if not found:
        user = await in_transaction(
            request, lambda session: ctx.directory.grant_user(session, tenant, grant_id, subject)
        )
    return _claims(user, scopes)


async def userinfo(request: Request) -> Response:
    form: dict[str, str] = {}
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        claims = await claims_for(request, bearer_token(request.headers.get("authorization", ""), form))
    except BearerError as error:
        return bearer_error(error)
    return json_response(claims)
