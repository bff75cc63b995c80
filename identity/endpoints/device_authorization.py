"""The device authorization endpoint (RFC 8628 §3.1-3.2), ``{issuer}/device_authorization``.

A TV or CLI authenticates as at the token endpoint (a public client by its ``client_id``) and asks for a
scope; it gets a device code to poll /token with and a user code for its user to enter at ``{issuer}/device``.
Errors are RFC 6749 §5.2 JSON, never redirects (§3.2).
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import (
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.endpoints.token import bad_form, is_form, token_error
from identity.models.tenant import DEVICE_CODE
from identity.oauth import device
from identity.oauth.grants import CLIENT_AUTH_METHODS
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer
from identity.oauth.token_endpoints import authenticated_client
from identity.web import app_context, in_transaction, json_response, oauth_json, public_uri

ENDPOINT = "device_authorization"


async def device_authorization(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    if not is_form(request.headers.get("content-type", "")):
        return token_error("invalid_request", "The request must be application/x-www-form-urlencoded.")
    form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    if (refused := bad_form(form)) is not None:
        return refused
    uri, headers = public_uri(request), dict(request.headers)

    def work(session: Session) -> Response:
        server = AuthorizationServer(ctx, session, ctx.directory.tenant(slug))
        oauth_request = PlainOAuth2Request("POST", uri, headers, form=form)
        try:
            if DEVICE_CODE not in server.tenant.allowed_grant_types:
                raise UnsupportedGrantTypeError(DEVICE_CODE)
            client = authenticated_client(server, oauth_request, CLIENT_AUTH_METHODS, ENDPOINT)  # as at /token
            if not client.check_grant_type(DEVICE_CODE):
                raise UnauthorizedClientError("This client may not use the device authorization grant.")
            scope = client.get_allowed_scope(oauth_request.payload.scope)  # the rule of /authorize
            if scope is None:
                raise InvalidScopeError("Ask for one or more of the scopes this client is allowed.")
        except OAuth2Error as error:
            return oauth_json(server.handle_error_response(oauth_request, error))
        issued = device.issue(session, server.tenant, ctx.settings.secret_key, client.id, scope)
        verification_uri = f"{server.issuer}/device"
        return json_response(
            {
                "device_code": issued.device_code,
                "user_code": issued.user_code,
                "verification_uri": verification_uri,
                "verification_uri_complete": f"{verification_uri}?" + urlencode({"user_code": issued.user_code}),
                "expires_in": device.EXPIRES_IN,
                "interval": device.INTERVAL,
            }
        )

    return await in_transaction(request, work, keep=lambda _session, response: response.status_code == 200)
