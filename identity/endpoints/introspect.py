"""The introspection endpoint (RFC 7662): a confidential client asks whether a token is live, and what it grants.

Errors are RFC 6749 §5.2 JSON, no-store, like the token endpoint's.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.endpoints.token import bad_form, token_error
from identity.oauth.introspection import IntrospectionEndpoint
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer, OAuthResponse
from identity.web import app_context, in_transaction, oauth_json, public_uri


async def introspect(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return token_error("invalid_request", "The introspection request must be application/x-www-form-urlencoded.")
    form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    if (refused := bad_form(form)) is not None:
        return refused
    uri, headers = public_uri(request), dict(request.headers)

    def work(session: Session) -> OAuthResponse:
        server = AuthorizationServer(ctx, session, ctx.directory.tenant(slug))
        server.register_endpoint(IntrospectionEndpoint)
        result: OAuthResponse = server.create_endpoint_response(
            IntrospectionEndpoint.ENDPOINT_NAME, PlainOAuth2Request("POST", uri, headers, form=form)
        )
        return result

    return oauth_json(await in_transaction(request, work))
