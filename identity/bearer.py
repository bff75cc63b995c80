"""Bearer access tokens (RFC 6750), checked in one place for every resource that takes them: userinfo,
introspection and the management API.

A token is honoured when it verifies (our published keys, this issuer, not expired, the audience if the
resource has one), it was not revoked on its own (RFC 7009, by ``jti``), and what it speaks for still
stands: the grant of a user's token is not revoked and its user not disabled; the client of a
client_credentials token still exists. The refusal is a
``BearerError``, and its ``WWW-Authenticate`` challenge is built here, its values limited to the
characters RFC 6750 §3 allows, so no input can break the header.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlmodel import Session

from identity.context import AppContext
from identity.keys import KeyRing
from identity.models.tenant import Tenant
from identity.models.user import User
from identity.oauth.dpop import ALGS
from identity.scopes import split
from identity.tokens import InvalidAccessToken

REVOKED = "The access token was revoked, or what it was issued for no longer exists."
BOUND_AS_BEARER = "This access token is bound to a DPoP key: send it as Authorization: DPoP, with a DPoP proof."
OTHER_KEY = "This access token is not bound to the key of the DPoP proof."
DPOP_ALGS = " ".join(ALGS)


class BearerError(Exception):
    """A refused bearer request: RFC 6750 §3.1 ``error``, a description for developers, the HTTP status;
    ``dpop``: the challenge is the DPoP scheme's (RFC 9449 §7.1), for a request made with (or that needed) it."""

    def __init__(self, error: str, description: str, status: int, *, scope: str = "", dpop: bool = False) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.scope = error, description, status, scope
        self.dpop = dpop


def revoked() -> BearerError:
    return BearerError("invalid_token", REVOKED, 401)


def _quoted(value: str) -> str:
    """RFC 6750 §3: error, error_description and scope values use %x20-21 / %x23-5B / %x5D-7E only."""
    return '"' + "".join(c for c in value if " " <= c <= "~" and c not in '"\\') + '"'


def challenge(realm: str, error: BearerError | None = None) -> str:
    """The ``WWW-Authenticate`` value. A request with no credentials at all gets the bare challenge
    (RFC 6750 §3.1: no error code when the client did not know authentication was needed)."""
    value = f"{'DPoP' if error is not None and error.dpop else 'Bearer'} realm={_quoted(realm)}"
    if error is not None and not (error.error == "invalid_request" and error.status == 401):
        value += f", error={_quoted(error.error)}, error_description={_quoted(error.description)}"
    if error is not None and error.scope:
        value += f", scope={_quoted(error.scope)}"
    if error is not None and error.dpop:
        value += f", algs={_quoted(DPOP_ALGS)}"  # RFC 9449 §7.1: the proof algorithms we accept
    return value


def token_from(authorization: str, form: dict[str, str] | None = None) -> str:
    """The access token from the Authorization header's value, or the form body where the resource
    accepts one (RFC 6750 §2.1, §2.2); never both."""
    from_body = (form or {}).get("access_token")
    if authorization and from_body:
        raise BearerError("invalid_request", "Send the access token one way only.", 400)
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BearerError("invalid_request", "Send an access token: Authorization: Bearer <token>.", 401)
        return value.strip()
    if from_body:
        return from_body
    raise BearerError("invalid_request", "An access token is required.", 401)


@dataclass(frozen=True)
class AccessToken:
    """A verified access token's claims; ``grant_id`` is set for a user's token, None for a client's. One
    object per remembered token (``VerifiedTokens.verify_as``), shared by the requests that present it:
    read-only."""

    claims: dict[str, Any]

    @cached_property
    def scopes(self) -> list[str]:  # split once per token, not per request
        return split(self.claims.get("scope"))

    @cached_property
    def jkt(self) -> str | None:
        """The thumbprint of the DPoP key the token is bound to (RFC 9449 §6.1 ``cnf.jkt``), None if unbound."""
        cnf = self.claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        return jkt if isinstance(jkt, str) else None

    @property
    def grant_id(self) -> str | None:
        gid = self.claims.get("gid")
        return gid if isinstance(gid, str) else None

    @property
    def jti(self) -> str:
        return str(self.claims.get("jti", ""))

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub"))

    @property
    def client_id(self) -> str:
        return str(self.claims.get("client_id", ""))

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise BearerError(
                "insufficient_scope", f"The access token was not granted the {scope} scope.", 403, scope=scope
            )


def verify(ctx: AppContext, tenant: Tenant, ring: KeyRing, token: str, *, audience: str | None = None) -> AccessToken:
    """A token presented as a bearer token: ``verify_token``, and not bound to a DPoP key (RFC 9449 §7.1: a
    bound token is no bearer token). ``verify_token``'s lines, inlined: on the warm userinfo path the
    ``jkt`` branch (an attribute cached per remembered token) is all a Bearer request pays for DPoP."""
    try:
        verified = ctx.access_tokens.verify_as(token, ctx.settings.issuer(tenant.slug), ring, AccessToken)
    except InvalidAccessToken as error:
        raise BearerError("invalid_token", str(error), 401) from error
    aud = verified.claims.get("aud")
    if audience is not None and aud != audience and not (isinstance(aud, list) and audience in aud):
        raise BearerError("invalid_token", "The access token is not for this resource (audience).", 401)
    if verified.jkt is not None:
        raise BearerError("invalid_token", BOUND_AS_BEARER, 401, dpop=True)
    return verified


def verify_dpop(
    ctx: AppContext, tenant: Tenant, ring: KeyRing, token: str, jkt: str, *, audience: str | None = None
) -> AccessToken:
    """A token presented with a DPoP proof whose key has thumbprint ``jkt``: ``verify_token``, and bound to
    that very key (RFC 9449 §7.1); refusals carry the DPoP challenge."""
    try:
        verified = verify_token(ctx, tenant, ring, token, audience=audience)
    except BearerError as error:
        error.dpop = True
        raise
    if verified.jkt is None or not hmac.compare_digest(verified.jkt, jkt):
        raise BearerError("invalid_token", OTHER_KEY, 401, dpop=True)
    return verified


def verify_token(
    ctx: AppContext, tenant: Tenant, ring: KeyRing, token: str, *, audience: str | None = None
) -> AccessToken:
    """Signature, type, issuer, expiry and (for a resource with one) audience; not yet whether it stands,
    nor how it was presented (introspection and revocation take either kind)."""
    try:
        verified = ctx.access_tokens.verify_as(token, ctx.settings.issuer(tenant.slug), ring, AccessToken)
    except InvalidAccessToken as error:
        raise BearerError("invalid_token", str(error), 401) from error
    aud = verified.claims.get("aud")
    if audience is not None and aud != audience and not (isinstance(aud, list) and audience in aud):
        raise BearerError("invalid_token", "The access token is not for this resource (audience).", 401)
    return verified


def cached_user(ctx: AppContext, tenant: Tenant, token: AccessToken) -> tuple[bool, User | None]:
    """A user's token from memory only: (found, the user or None when its grant or user is gone)."""
    assert token.grant_id is not None
    found, user = ctx.directory.cached_grant_user(tenant.id, token.grant_id, token.subject)
    if not found or user is None:
        return found, user
    revoked = revoked_in_memory(ctx, tenant, token)
    if revoked is None:
        return False, None
    return True, None if revoked else user


def revoked_in_memory(ctx: AppContext, tenant: Tenant, token: AccessToken) -> bool | None:
    """Whether this very token was revoked (RFC 7009); None when the tenant's list is not in memory."""
    revoked = ctx.directory.cached_revoked_tokens(tenant.id)
    return None if revoked is None else token.jti in revoked


def user_of(ctx: AppContext, session: Session, tenant: Tenant, token: AccessToken) -> User | None:
    """The user a user's token speaks for, or None when its grant is revoked or the user disabled."""
    found, user = cached_user(ctx, tenant, token)
    if found:
        return user
    assert token.grant_id is not None
    if token.jti in ctx.directory.revoked_tokens(session, tenant.id):
        return None
    return ctx.directory.grant_user(session, tenant, token.grant_id, token.subject)


def stands(ctx: AppContext, session: Session, tenant: Tenant, token: AccessToken) -> bool:
    """Whether what the token was issued for still stands: the user's grant, or the client itself."""
    if token.grant_id is not None:
        return user_of(ctx, session, tenant, token) is not None
    if token.jti in ctx.directory.revoked_tokens(session, tenant.id):
        return False
    return token.subject == token.client_id and ctx.directory.client(session, tenant.id, token.client_id) is not None
