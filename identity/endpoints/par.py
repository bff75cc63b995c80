"""The pushed authorization request endpoint (RFC 9126), ``{issuer}/par``.

An authenticated client POSTs what it would have put in the authorization URL; it is checked exactly as
/authorize checks it (``authorize.checked_request``) and kept for a short while (``identity.oauth.pushed``).
The answer is a ``request_uri`` for the browser to bring to /authorize with the ``client_id``. Errors come
back in this response as RFC 6749 §5.2 JSON, never as a redirect (§2.3). A DPoP proof sent with the push
(RFC 9449 §10.1) names the key the code will be bound to: it becomes the request's ``dpop_jkt``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.endpoints.authorize import checked_request
from identity.endpoints.token import bad_form, checked_proof, is_form, token_error
from identity.oauth import dpop, pushed
from identity.oauth.grants import CLIENT_AUTH_METHODS
from identity.oauth.requests import PlainOAuth2Request
from identity.oauth.server import AuthorizationServer, InvalidDPoPProofError, dpop_oauth_error
from identity.oauth.token_endpoints import authenticated_client
from identity.web import app_context, in_transaction, json_response, oauth_json, public_uri

ENDPOINT = "pushed_authorization_request"
CREDENTIALS = {"client_secret", "client_assertion", "client_assertion_type"}  # never kept with the request


async def push(request: Request) -> Response:
    ctx, slug = app_context(request), request.path_params["tenant"]
    if not is_form(request.headers.get("content-type", "")):
        return token_error("invalid_request", "The pushed request must be application/x-www-form-urlencoded.")
    form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
    if (refused := bad_form(form)) is not None:
        return refused
    uri, headers = public_uri(request), dict(request.headers)
    authorize_uri = uri.removesuffix("/par") + "/authorize"
    proofs = request.headers.getlist("dpop")

    def work(session: Session) -> Response:
        server = AuthorizationServer(ctx, session, ctx.directory.tenant(slug))
        response = pushed_response(server, session)
        if proofs:  # RFC 9449 §8: a nonce for the client's next proof
            response.headers["DPoP-Nonce"] = ctx.dpop_nonces.current(server.tenant.id)
        return response

    def pushed_response(server: AuthorizationServer, session: Session) -> Response:
        par_request = PlainOAuth2Request("POST", uri, headers, form=form)
        try:
            # Checked (and its jti claimed, in a transaction of its own) before this one reads anything.
            proof = proven(server) if proofs else None
            client = authenticated_client(server, par_request, CLIENT_AUTH_METHODS, ENDPOINT)  # as at /token
            params = [(k, v) for k, v in form if k not in CREDENTIALS]
            if dict(params).get("client_id", client.id) != client.id:
                raise InvalidRequestError("The client_id is not the client that authenticated.")
            if "request_uri" in dict(params):
                raise InvalidRequestError("A pushed request cannot carry a request_uri (RFC 9126, section 2.1).")
            params = [(k, v) for k, v in params if k != "client_id"]
            if proof is not None:
                params = with_proven_key(server, client, proof, params)
            authorization = PlainOAuth2Request("GET", authorize_uri, headers, query=[*params, ("client_id", client.id)])
            checked_request(server, authorization, None, pushed=True)
        except OAuth2Error as error:
            error.redirect_uri = None  # §2.3: the error is this response's, never sent to a redirect URI
            error.state = None
            return oauth_json(server.handle_error_response(par_request, error))
        request_uri = pushed.push(session, server.tenant, client.id, params)
        return json_response({"request_uri": request_uri, "expires_in": pushed.PUSHED_TTL}, 201)

    def proven(server: AuthorizationServer) -> dpop.Proof:
        try:
            return checked_proof(ctx, server.tenant, proofs, uri)
        except dpop.DPoPError as error:
            raise dpop_oauth_error(error) from error

    def with_proven_key(
        server: AuthorizationServer, client: Any, proof: dpop.Proof, params: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """RFC 9449 §10.1: the proof's key is the request's ``dpop_jkt`` (one given too must be the same)."""
        try:
            ctx.dpop_nonces.check(server.tenant.id, proof, required=client.row.require_dpop_nonce)
        except dpop.DPoPError as error:
            raise dpop_oauth_error(error) from error
        if dict(params).get("dpop_jkt", proof.jkt) != proof.jkt:
            raise InvalidDPoPProofError("The dpop_jkt parameter is not the thumbprint of the DPoP proof's key.")
        return [(k, v) for k, v in params if k != "dpop_jkt"] + [("dpop_jkt", proof.jkt)]

    return await in_transaction(request, work, keep=lambda _session, response: response.status_code == 201)
