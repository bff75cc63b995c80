"""The endpoints where a client asks about a token it holds: introspection (RFC 7662), whether a token is
live and what it grants, and revocation (RFC 7009), to end it. Both take a form from an authenticated
client; errors are RFC 6749 §5.2 JSON, no-store, like the token endpoint's.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.endpoints.token import bad_form, is_form, token_error
from identity.oauth.introspection import IntrospectionEndpoint
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.revocation import RevocationEndpoint
from identity.oauth.server import AuthorizationServer, OAuthResponse
from identity.web import app_context, in_transaction, oauth_json, public_uri


async def _answer(request: Request, endpoint: Any, what: str) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    if not is_form(request.headers.get("content-type", "")):
        return token_error("invalid_request", f"The {what} request must be application/x-www-form-urlencoded.")
    form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    if (refused := bad_form(form)) is not None:
        return refused
    uri, headers = public_uri(request), dict(request.headers)

    def work(session: Session) -> OAuthResponse:
        server = AuthorizationServer(ctx, session, ctx.directory.tenant(slug))
        server.register_endpoint(endpoint)
        result: OAuthResponse = server.create_endpoint_response(
            endpoint.ENDPOINT_NAME, PlainOAuth2Request("POST", uri, headers, form=form)
        )
        return result

    return oauth_json(await in_transaction(request, work, keep=lambda _session, result: result.status == 200))


async def introspect(request: Request) -> Response:
    return await _answer(request, IntrospectionEndpoint, "introspection")


async def revoke(request: Request) -> Response:
    return await _answer(request, RevocationEndpoint, "revocation")
