"""OpenID Connect Discovery 1.0 and RFC 8414 metadata, and the JWKS (RFC 7517)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity import i18n
from identity.client_jwks import SIGNING_ALGS
from identity.clients import SUPPORTED_GRANT_TYPES
from identity.context import AppContext
from identity.documents import ReadyDocument, public_json
from identity.models.tenant import DEVICE_CODE, REGISTRATION_OFF, Tenant
from identity.oauth import claims_request, dpop, response_mode
from identity.oauth.client import RESPONSE_TYPE_GRANTS
from identity.oauth.grants import CLIENT_AUTH_METHODS
from identity.oauth.introspection import IntrospectionEndpoint
from identity.oauth.revocation import RevocationEndpoint
from identity.scopes import CLAIMS_SUPPORTED, is_api_scope, known_scopes
from identity.web import app_context, current_tenant, in_transaction, key_ring


def metadata(issuer: str, tenant: Tenant, scopes: list[str]) -> dict[str, Any]:
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "scopes_supported": scopes,
        "response_types_supported": [
            t for t, grant in RESPONSE_TYPE_GRANTS.items() if grant in tenant.allowed_grant_types
        ],
        "response_modes_supported": list(response_mode.MODES),
        "grant_types_supported": [g for g in SUPPORTED_GRANT_TYPES if g in tenant.allowed_grant_types],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,  # PAR takes the same (RFC 9126 §2)
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,  # private_key_jwt assertions
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": IntrospectionEndpoint.CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "pushed_authorization_request_endpoint": f"{issuer}/par",  # RFC 9126; required per app, not for all
        "require_pushed_authorization_requests": False,
        "revocation_endpoint": f"{issuer}/revoke",
        "revocation_endpoint_auth_methods_supported": RevocationEndpoint.CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        # OIDC RP-Initiated, Front-Channel and Back-Channel Logout 1.0 (identity.interaction.logout, .sessions).
        "end_session_endpoint": f"{issuer}/logout",
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [tenant.id_token_alg],
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": list(i18n.available()),
        "claims_parameter_supported": True,  # identity.oauth.claims_request: what it does and does not
        "acr_values_supported": claims_request.ACR_VALUES_SUPPORTED,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        # RFC 9449 §5.1: DPoP at the token endpoint and userinfo (identity.oauth.dpop).
        "dpop_signing_alg_values_supported": list(dpop.ALGS),
    }
    if DEVICE_CODE in tenant.allowed_grant_types:  # RFC 8628 §4: served (not refused) only then
        document["device_authorization_endpoint"] = f"{issuer}/device_authorization"
    if tenant.dynamic_registration != REGISTRATION_OFF:  # RFC 7591 (identity.endpoints.registration)
        document["registration_endpoint"] = f"{issuer}/clients"
    return document


def discovery_in_memory(ctx: AppContext, tenant: Tenant, if_none_match: str) -> Response | None:
    """The discovery response if this tenant snapshot's document is already rendered, else None."""
    document: ReadyDocument | None = ctx.directory.derived(tenant, "discovery")
    return document.response(if_none_match) if document is not None else None


def jwks_in_memory(ctx: AppContext, tenant: Tenant, if_none_match: str) -> Response | None:
    """The JWKS response if the tenant's key ring is loaded, else None."""
    ring = ctx.keys.cached(tenant)
    return ring.jwks.response(if_none_match) if ring is not None else None


def render_discovery(ctx: AppContext, session: Session, tenant: Tenant) -> ReadyDocument:
    """The discovery document as ready bytes, with its ETag and response headers."""
    scopes = [s for s in known_scopes(session, tenant.id) if not is_api_scope(s)]
    body = json.dumps(metadata(ctx.settings.issuer(tenant.slug), tenant, scopes), separators=(",", ":")).encode()
    return public_json(body)


async def openid_configuration(request: Request) -> Response:
    ctx = app_context(request)
    tenant = await current_tenant(request)
    document: ReadyDocument | None = ctx.directory.derived(tenant, "discovery")
    if document is None:
        make = partial(render_discovery, ctx)
        document = await in_transaction(request, lambda session: make(session, tenant))
        ctx.directory.keep_derived(tenant, "discovery", document, make)
    return document.response(request.headers.get("if-none-match", ""))


async def jwks(request: Request) -> Response:
    tenant = await current_tenant(request)
    ring = await key_ring(request, tenant)
    return ring.jwks.response(request.headers.get("if-none-match", ""))
