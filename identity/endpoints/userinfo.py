"""The UserInfo endpoint (OIDC Core §5.3): a Bearer access token in, the granted claims out; or a DPoP-bound
one (RFC 9449 §7) with its proof, on its own path (``dpop_userinfo``) so the Bearer path pays nothing for it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import bearer
from identity.bearer import BearerError
from identity.context import AppContext
from identity.documents import ReadyResponse
from identity.dpop_replay import claim_jti
from identity.keys import KeyRing
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.oauth import dpop
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
    """A valid user's Bearer access token that was granted ``openid`` (``_for_userinfo``'s lines, inlined:
    this is the warm path)."""
    verified = bearer.verify(ctx, tenant, ring, token)
    verified.require_scope(OPENID)
    if verified.grant_id is None:  # a client's own token speaks for no user
        raise BearerError("insufficient_scope", "The access token was not granted the openid scope.", 403)
    return verified


def _for_userinfo(verified: bearer.AccessToken) -> bearer.AccessToken:
    """A verified (DPoP-bound) token that may call userinfo: a user's, granted ``openid``."""
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


def is_dpop(authorization: str) -> bool:
    """``Authorization: DPoP <token>`` (RFC 9449 §7.1; the scheme is case-insensitive)."""
    return authorization[:5].lower() == "dpop "


def dpop_error(error: BearerError | dpop.DPoPError, nonce: str) -> Response:
    """RFC 9449 §7.1: the DPoP challenge (``error``, ``algs``) and, for the client's next proof, a nonce."""
    if isinstance(error, dpop.DPoPError):
        error = BearerError(error.error, error.description, 401, dpop=True)
    body = {"error": error.error, "error_description": error.description}
    headers = {"WWW-Authenticate": bearer.challenge("userinfo", error), "DPoP-Nonce": nonce}
    return json_response(body, error.status, headers)


async def dpop_userinfo(request: Request, authorization: str, form: dict[str, str]) -> Response:
    """The claims for a DPoP-bound token and its proof: the proof checked (``ath`` included), the token bound
    to the proof's key, the client's nonce rule, then the proof's ``jti`` claimed and the user loaded in one
    transaction, which commits even when what follows refuses (a refused proof is spent too)."""
    ctx = app_context(request)
    tenant = await current_tenant(request)
    nonce = ctx.dpop_nonces.current(tenant.id)
    token = authorization[5:].strip()
    try:
        if not token or "access_token" in form:
            raise BearerError("invalid_request", "Send the access token once: Authorization: DPoP <token>.", 400)
        url = ctx.settings.public_url + request.url.path
        proof = dpop.verify_proof(request.headers.getlist("dpop"), method=request.method, url=url, access_token=token)
        ring = await key_ring(request, tenant)
        verified = _for_userinfo(bearer.verify_dpop(ctx, tenant, ring, token, proof.jkt))

        def work(session: Session) -> User | dpop.DPoPError | None:
            client = ctx.directory.client(session, tenant.id, verified.client_id)
            try:
                ctx.dpop_nonces.check(tenant.id, proof, required=client is not None and client.require_dpop_nonce)
            except dpop.DPoPError as error:
                return error
            if not claim_jti(session, tenant.id, proof):
                return dpop.invalid("This DPoP proof was used already; make a new one for every request.")
            return bearer.user_of(ctx, session, tenant, verified)

        user = await in_transaction(request, work)
        if isinstance(user, dpop.DPoPError):
            raise user
        claims = _claims(user, verified.scopes)
    except (BearerError, dpop.DPoPError) as error:
        if isinstance(error, BearerError):
            error.dpop = True
        return dpop_error(error, nonce)
    return json_response(claims, headers={"DPoP-Nonce": nonce})


async def userinfo(request: Request) -> Response:
    form: dict[str, str] = {}
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    authorization = request.headers.get("authorization", "")
    if authorization[:5].lower() == "dpop ":  # is_dpop(), inlined: the Bearer path pays one branch
        return await dpop_userinfo(request, authorization, form)
    try:
        claims = await claims_for(request, bearer.token_from(authorization, form))
    except BearerError as error:
        return bearer_error(error)
    return json_response(claims)
