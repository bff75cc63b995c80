"""Clients that register and manage themselves (RFC 7591, RFC 7592), through the same services and
rules as the portal's apps (``tenants.manage.apps``); the actor of their audit events is
"dynamic registration". A registered client gets a registration access token for
``{issuer}/clients/{client_id}``: only its HMAC is kept on the client row."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from identity.context import AppContext
from identity.crypto import random_token
from identity.models.client import Client
from identity.models.registration import InitialAccessToken
from identity.models.tenant import Tenant
from identity.oauth.client_metadata import MetadataError, refusal, spec_from
from tenants import audit
from tenants.manage import apps
from tenants.manage.errors import Invalid, Missing

ACTOR = "dynamic registration"


def actor(ip: str) -> audit.Actor:
    return audit.Actor(ACTOR, ip)


def register(
    session: Session,
    ctx: AppContext,
    tenant: Tenant,
    data: dict[str, Any],
    initial_token: InitialAccessToken | None,
    ip: str,
) -> tuple[Client, str | None, str]:
    """The new client, its secret (None for a public client) and its registration access token, each
    shown this once. Raises ``MetadataError``."""
    spec, method = spec_from(data)
    details: dict[str, Any] = {"registered_dynamically": True}
    if initial_token is not None:
        details.update(initial_access_token=initial_token.id, initial_access_token_label=initial_token.label)
    try:
        new = apps.create_app(session, ctx, tenant, actor(ip), spec, **details)
    except Invalid as error:
        raise refusal(error.fields, error.message) from error
    registration_token = random_token(32)
    client = new.client
    client.registered_dynamically = True
    client.initial_access_token_id = initial_token.id if initial_token is not None else None
    client.registration_token_hash = ctx.hasher.hash(registration_token)
    client.token_endpoint_auth_method = method
    session.add(client)
    session.flush()
    return client, new.client_secret, registration_token


def managed_client(session: Session, ctx: AppContext, tenant: Tenant, client_id: str, token: str) -> Client | None:
    """The tenant's client ``client_id`` if ``token`` is its registration access token (compared in
    constant time); None for anything else: no such client here, a portal app (it has no such token), a
    wrong token."""
    if not client_id.isprintable():  # no client id holds control characters (and PostgreSQL refuses NUL)
        return None
    try:
        client = apps.get_app(session, tenant, client_id)
    except Missing:
        return None
    if client.registration_token_hash is None or not ctx.hasher.verify(token, client.registration_token_hash):
        return None
    return client


IMMUTABLE = ("registration_access_token", "registration_client_uri", "client_secret_expires_at", "client_id_issued_at")


class ReplaceRefused(ValueError):
    """A PUT that breaks RFC 7592 §2.2's rules (``invalid_request``), not the metadata's."""


def replace(session: Session, ctx: AppContext, tenant: Tenant, client: Client, data: dict[str, Any], ip: str) -> Client:
    """RFC 7592 §2.2: the client's metadata replaced by ``data`` as a whole (validated as a registration
    is); ``client_id`` must be the client's, a ``client_secret`` must be its current one (a client never
    chooses its secret). Raises ``ReplaceRefused`` or ``MetadataError``."""
    if data.get("client_id") != client.id:
        raise ReplaceRefused("client_id must be given, and be this client's (RFC 7592 section 2.2).")
    present = [member for member in IMMUTABLE if member in data]
    if present:
        raise ReplaceRefused(f"{present[0]} cannot be sent in an update (RFC 7592 section 2.2).")
    if "client_secret" in data:
        secret = data["client_secret"]
        if not isinstance(secret, str) or not ctx.hasher.verify(secret, client.secret_hash):
            raise ReplaceRefused("client_secret is not this client's current secret; it cannot be chosen.")
    spec, method = spec_from(data, client)
    try:
        apps.update_app(session, ctx, tenant, actor(ip), client, spec)
    except Invalid as error:
        raise refusal(error.fields, error.message) from error
    client.token_endpoint_auth_method = method
    session.add(client)
    session.flush()
    return client


def remove(session: Session, tenant: Tenant, client: Client, ip: str) -> None:
    """RFC 7592 §2.3, through the portal's deletion: the client's grants, and so its tokens, go with it."""
    apps.delete_app(session, tenant, actor(ip), client)


__all__ = ["MetadataError", "ReplaceRefused", "managed_client", "register", "remove", "replace"]
