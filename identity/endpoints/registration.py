"""Dynamic client registration (RFC 7591) at ``{issuer}/clients`` and client management (RFC 7592) at
``{issuer}/clients/{client_id}``, when the tenant's ``dynamic_registration`` setting allows it.

Authlib's ``ClientRegistrationEndpoint`` / ``ClientConfigurationEndpoint`` are not used: they validate
metadata with their own claims classes and make the client id and secret themselves, where ours must go
through ``ClientSpec`` and the portal's services (``tenants.manage.dynamic_clients``); what is left is
reading a bounded JSON body and a bearer token, which is this module.

Every answer is JSON and ``no-store``; a refusal is RFC 7591 §3.2.2 (``invalid_redirect_uri``,
``invalid_client_metadata``) or RFC 6750 §3.1 (``invalid_token``, 401 with ``WWW-Authenticate: Bearer``).
With the setting ``off`` neither URL exists for the tenant (404), as discovery then does not name them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.bearer import BearerError, challenge, token_from
from identity.initial_tokens import spend_initial_token
from identity.models.tenant import REGISTRATION_OFF, REGISTRATION_TOKEN, Tenant
from identity.oauth.client_metadata import MetadataError, metadata_of
from identity.web import NO_STORE, app_context, current_tenant, in_transaction, json_response
from tenants.manage import dynamic_clients

MAX_BODY = 64 * 1024
REALM = "registration"


def _error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def _invalid_token(description: str) -> Response:
    refused = BearerError("invalid_token", description, 401)
    response = _error("invalid_token", description, 401)
    response.headers["WWW-Authenticate"] = challenge(REALM, refused)
    return response


def _not_served() -> Response:
    return _error("not_found", "Dynamic client registration is not enabled for this issuer.", 404)


def _bearer(request: Request) -> str | None:
    try:
        return token_from(request.headers.get("authorization", ""))
    except BearerError:
        return None


async def _metadata(request: Request) -> dict[str, Any] | MetadataError:
    """The request's JSON object, or why it is not one (never more than ``MAX_BODY`` bytes are read)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return MetadataError("invalid_client_metadata", "Send the client metadata as application/json.")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            return MetadataError("invalid_client_metadata", f"The body is too large ({MAX_BODY} bytes at most).")
    try:
        data = json.loads(bytes(raw))
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return MetadataError("invalid_client_metadata", "The body is not valid JSON.")
    if not isinstance(data, dict):
        return MetadataError("invalid_client_metadata", "The body must be a JSON object of client metadata.")
    return data


def _client_information(issuer: str, client: Any, registration_token: str) -> dict[str, Any]:
    return {
        **metadata_of(client),
        "registration_access_token": registration_token,
        "registration_client_uri": f"{issuer}/clients/{client.id}",
    }


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _succeeded(_session: Session, response: Response) -> bool:
    return response.status_code < 400  # a refusal leaves no trace: an initial token's use is not spent


async def register(request: Request) -> Response:
    """RFC 7591 §3.1: POST client metadata, get the client's credentials (201)."""
    ctx = app_context(request)
    tenant: Tenant = await current_tenant(request)
    if tenant.dynamic_registration == REGISTRATION_OFF:
        return _not_served()
    token = _bearer(request)
    data = await _metadata(request)
    issuer = ctx.settings.issuer(tenant.slug)

    def work(session: Session) -> Response:
        initial = None
        if tenant.dynamic_registration == REGISTRATION_TOKEN:
            if token is None:
                return _invalid_token("This issuer registers clients with an initial access token only.")
            initial = spend_initial_token(session, tenant.id, ctx.hasher, token)
            if initial is None:
                return _invalid_token("The initial access token is unknown, expired, used up or revoked.")
        if isinstance(data, MetadataError):
            return _error(data.error, data.description)
        try:
            client, secret, registration_token = dynamic_clients.register(
                session, ctx, tenant, data, initial, _ip(request)
            )
        except MetadataError as error:
            return _error(error.error, error.description)
        body = _client_information(issuer, client, registration_token)
        if secret is not None:
            body["client_secret"] = secret
        return json_response(body, 201, {"Location": body["registration_client_uri"]})

    return await in_transaction(request, work, keep=_succeeded)


async def manage(request: Request) -> Response:
    """RFC 7592: GET (read), PUT (replace), DELETE, with the client's registration access token."""
    ctx = app_context(request)
    tenant: Tenant = await current_tenant(request)
    if tenant.dynamic_registration == REGISTRATION_OFF:
        return _not_served()
    token = _bearer(request)
    if token is None:
        return _invalid_token("Send the registration access token: Authorization: Bearer <token>.")
    data = await _metadata(request) if request.method == "PUT" else {}
    client_id, issuer = request.path_params["client_id"], ctx.settings.issuer(tenant.slug)

    def work(session: Session) -> Response:
        client = dynamic_clients.managed_client(session, ctx, tenant, client_id, token)
        if client is None:
            return _invalid_token("The registration access token is not valid for this client.")
        if request.method == "DELETE":
            dynamic_clients.remove(session, tenant, client, _ip(request))
            return Response(status_code=204, headers=NO_STORE)
        if request.method == "PUT":
            if isinstance(data, MetadataError):
                return _error(data.error, data.description)
            try:
                dynamic_clients.replace(session, ctx, tenant, client, data, _ip(request))
            except dynamic_clients.ReplaceRefused as refused:
                return _error("invalid_request", str(refused))
            except MetadataError as error:
                return _error(error.error, error.description)
        return json_response(_client_information(issuer, client, token))

    return await in_transaction(request, work, keep=_succeeded)
