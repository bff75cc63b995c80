"""The token endpoint (RFC 6749 §3.2): Authlib dispatches to our grants; errors are §5.2 JSON, no-store."""

from __future__ import annotations

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer, OAuthResponse
from identity.oauth.store import REVOKED_GRANT
from identity.web import app_context, current_tenant, in_transaction, json_response, oauth_json, public_uri, run_inline


def token_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


async def token(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return token_error("invalid_request", "The token request must be application/x-www-form-urlencoded.")
    form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    names = [k for k, _ in form]
    if len(names) != len(set(names)):  # RFC 6749 §3.2: parameters MUST NOT be repeated
        return token_error("invalid_request", "A parameter was sent more than once.")
    uri, headers = public_uri(request), dict(request.headers)

    def work(session: Session) -> OAuthResponse:
        tenant = ctx.directory.tenant(slug)
        server = AuthorizationServer(ctx, session, tenant)
        result: OAuthResponse = server.create_token_response(PlainOAuth2Request("POST", uri, headers, form=form))
        return result

    if await _all_in_memory(request, dict(form)):
        # client_credentials with the tenant, the client and the keys in memory: no database statement
        # will run, so the work (a signature: ~0.1 ms ES256, ~1 ms RS256) is done here, without a thread hop.
        return oauth_json(run_inline(ctx.sessions, work, _keep))
    return oauth_json(await in_transaction(request, work, keep=_keep))


async def _all_in_memory(request: Request, form: dict[str, str]) -> bool:
    if form.get("grant_type") != "client_credentials":
        return False
    ctx = app_context(request)
    tenant = await current_tenant(request)
    client_id = extract_basic_authorization(request.headers)[0] or form.get("client_id")
    return (
        client_id is not None
        and ctx.keys.cached(tenant) is not None
        and ctx.directory.cached_client(tenant.id, client_id)
    )


def _keep(session: Session, result: OAuthResponse) -> bool:
    """A failed request leaves no trace (a wrong code_verifier does not burn the code), except a
    revocation: a replayed code or reused refresh token revokes its grant durably, error or not."""
    return result.status == 200 or bool(session.info.get(REVOKED_GRANT))
