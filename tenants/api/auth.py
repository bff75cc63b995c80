"""Who calls the management API: a client of the tenant (or of the platform) with a bearer access token
from our own token endpoint (client_credentials), for this API (audience), with the needed scope.

401 for a missing, malformed, expired, foreign or wrong-audience token, or one whose app was deleted;
403 ``insufficient_scope`` for a valid token without the scope (RFC 6750 §3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from identity.db import session_scope
from identity.models.team import ADMIN, OWNER
from identity.models.tenant import PLATFORM_SLUG, Tenant
from identity.problems import ApiProblem
from identity.scopes import split
from identity.tokens import InvalidAccessToken
from identity.web import app_context
from tenants.audit import Actor
from tenants.resolution import TenantNotFound, TenantSuspended


@dataclass(frozen=True)
class Caller:
    tenant: Tenant  # the tenant whose API is called (for the platform API: the platform tenant)
    client_id: str
    scopes: frozenset[str]
    actor: Actor


def _challenge(error: str = "", description: str = "", scope: str = "") -> dict[str, str]:
    value = 'Bearer realm="api"'
    if error:
        value += f', error="{error}", error_description="{description}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


def _unauthorized(description: str) -> ApiProblem:
    return ApiProblem(401, "invalid_token", description, headers=_challenge("invalid_token", description))


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiProblem(
            401, "unauthorized", "Send an access token: Authorization: Bearer <token>.", headers=_challenge()
        )
    return value.strip()


def _load(request: Request, slug: str, platform: bool) -> tuple[Tenant, object]:
    """The tenant (404 unknown, 403 suspended) and its key ring; blocking."""
    ctx = app_context(request)
    try:
        tenant = ctx.directory.tenant(slug)
    except TenantNotFound as error:
        if platform:  # no platform tenant yet: no token can be one of its own
            raise _unauthorized("The access token was not issued by the platform.") from error
        raise ApiProblem(404, "not_found", "No such tenant.") from error
    except TenantSuspended as error:
        raise ApiProblem(403, "tenant_suspended", "This tenant is suspended.") from error
    ring = ctx.keys.cached(tenant)
    if ring is None:
        with session_scope(ctx.sessions) as session:
            ring = ctx.keys.get(session, tenant)
    return tenant, ring


def _live_client(request: Request, tenant: Tenant, client_id: str) -> bool:
    ctx = app_context(request)
    with session_scope(ctx.sessions) as session:
        return ctx.directory.client(session, tenant.id, client_id) is not None


async def authenticate(request: Request, scope: str, *, platform: bool = False) -> Caller:
    ctx = app_context(request)
    token = _bearer(request)
    slug = PLATFORM_SLUG if platform else request.path_params["tenant"]
    tenant, ring = await run_in_threadpool(_load, request, slug, platform)
    if platform != tenant.is_platform:  # the platform tenant has no tenant API; customers no platform API
        raise ApiProblem(404, "not_found", "No such tenant.")
    issuer = ctx.settings.issuer(tenant.slug)
    audience = f"{ctx.settings.public_url}/api/admin" if platform else f"{issuer}/api"
    try:
        claims = ctx.access_tokens.verify(token, issuer, ring)  # type: ignore[arg-type]
    except InvalidAccessToken as error:
        raise _unauthorized(str(error)) from error
    aud = claims.get("aud")
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise _unauthorized("The access token is not for this API (audience).")
    client_id = str(claims.get("client_id", ""))
    if not await run_in_threadpool(_live_client, request, tenant, client_id):
        raise _unauthorized("The application of this access token no longer exists.")
    scopes = frozenset(split(claims.get("scope")))
    if scope not in scopes:
        description = f"This needs the {scope} scope."
        raise ApiProblem(
            403, "insufficient_scope", description, headers=_challenge("insufficient_scope", description, scope)
        )
    ip = request.client.host if request.client else ""
    # A tenant's API client acts as an admin of the tenant (it cannot touch owners); the platform's as owner.
    actor = Actor(f"client:{client_id}", ip, OWNER if platform else ADMIN)
    return Caller(tenant, client_id, scopes, actor)
