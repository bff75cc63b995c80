"""Who calls the management API: a client of the tenant (or of the platform) with a bearer access token
from our own token endpoint (client_credentials), for this API (audience), with the needed scope.

401 for a missing, malformed, expired, foreign or wrong-audience token, or one whose app was deleted;
403 ``insufficient_scope`` for a valid token without the scope (RFC 6750 §3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from identity.bearer import AccessToken, BearerError, challenge, stands, token_from, verify
from identity.db import session_scope
from identity.models.team import ADMIN, OWNER
from identity.models.tenant import PLATFORM_SLUG, Tenant
from identity.problems import ApiProblem
from identity.web import app_context
from tenants.audit import Actor
from tenants.resolution import TenantNotFound, TenantSuspended


@dataclass(frozen=True)
class Caller:
    tenant: Tenant  # the tenant whose API is called (for the platform API: the platform tenant)
    client_id: str
    scopes: frozenset[str]
    actor: Actor


def _refused(error: BearerError) -> ApiProblem:
    """RFC 6750 §3 in the API's problem+json: the challenge from ``identity.bearer``, the same code in the body."""
    code = "unauthorized" if error.error == "invalid_request" and error.status == 401 else error.error
    return ApiProblem(error.status, code, error.description, headers={"WWW-Authenticate": challenge("api", error)})


def _load(request: Request, slug: str, platform: bool) -> tuple[Tenant, object]:
    """The tenant (404 unknown, 403 suspended) and its key ring; blocking."""
    ctx = app_context(request)
    try:
        tenant = ctx.directory.tenant(slug)
    except TenantNotFound as error:
        if platform:  # no platform tenant yet: no token can be one of its own
            raise _refused(
                BearerError("invalid_token", "The access token was not issued by the platform.", 401)
            ) from error
        raise ApiProblem(404, "not_found", "No such tenant.") from error
    except TenantSuspended as error:
        raise ApiProblem(403, "tenant_suspended", "This tenant is suspended.") from error
    ring = ctx.keys.cached(tenant)
    if ring is None:
        with session_scope(ctx.sessions) as session:
            ring = ctx.keys.get(session, tenant)
    return tenant, ring


def _stands(request: Request, tenant: Tenant, token: AccessToken) -> bool:
    ctx = app_context(request)
    with session_scope(ctx.sessions) as session:
        return stands(ctx, session, tenant, token)


async def authenticate(request: Request, scope: str, *, platform: bool = False) -> Caller:
    ctx = app_context(request)
    try:
        token = token_from(request.headers.get("authorization", ""))
    except BearerError as error:
        raise _refused(error) from error
    slug = PLATFORM_SLUG if platform else request.path_params["tenant"]
    tenant, ring = await run_in_threadpool(_load, request, slug, platform)
    if platform != tenant.is_platform:  # the platform tenant has no tenant API; customers no platform API
        raise ApiProblem(404, "not_found", "No such tenant.")
    audience = f"{ctx.settings.public_url}/api/admin" if platform else f"{ctx.settings.issuer(tenant.slug)}/api"
    try:
        verified = verify(ctx, tenant, ring, token, audience=audience)  # type: ignore[arg-type]
        if not await run_in_threadpool(_stands, request, tenant, verified):
            raise BearerError("invalid_token", "The application of this access token no longer exists.", 401)
        verified.require_scope(scope)
    except BearerError as error:
        raise _refused(error) from error
    client_id, scopes = verified.client_id, frozenset(verified.scopes)
    ip = request.client.host if request.client else ""
    # A tenant's API client acts as an admin of the tenant (it cannot touch owners); the platform's as owner.
    actor = Actor(f"client:{client_id}", ip, OWNER if platform else ADMIN)
    return Caller(tenant, client_id, scopes, actor)
