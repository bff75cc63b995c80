"""Registering and finding clients (used by the CLI now, the portal and admin API later)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlmodel import Session

from identity.crypto import SecretHasher, random_token
from identity.db import tenant_query
from identity.models.client import Client
from identity.scopes import known_scopes

SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_GRANT_TYPES = ["authorization_code", "refresh_token"]
DEFAULT_USER_SCOPES = ["openid", "profile", "email", "offline_access"]
# RFC 8252 §7.1: a private-use scheme is a reversed domain name, so it must contain a dot.
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")


class ClientError(ValueError):
    """A client registration we refuse, with a message fit to show the developer."""


def redirect_uri_problem(uri: str, *, dev: bool) -> str | None:
    """Why ``uri`` cannot be registered, or None. DESIGN.md: exact match, https, loopback http
    (RFC 8252 §7.3), localhost only in dev, private-use schemes (RFC 8252 §7.1), no fragment, no wildcard."""
    if not uri or uri != uri.strip() or any(ch.isspace() for ch in uri):
        return "must be a non-empty URI without spaces"
    if "*" in uri:
        return "wildcards are not allowed: register each URI exactly"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "is not a valid URI"
    if "#" in uri:
        return "must not contain a fragment (RFC 6749 §3.1.2)"
    scheme = parts.scheme.lower()
    if not scheme:
        return "must be an absolute URI"
    if scheme == "https":
        return None if parts.hostname else "must name a host"
    if scheme == "http":
        host = parts.hostname or ""
        if _is_loopback_ip(host):
            return None
        if host == "localhost":
            return None if dev else "http://localhost is allowed only in dev mode; use http://127.0.0.1"
        return "must use https (http is allowed only for loopback addresses)"
    if scheme in {"javascript", "data", "file", "vbscript", "about", "blob"}:
        return f"the {scheme}: scheme is not allowed"
    if _PRIVATE_SCHEME.match(scheme):
        return None
    return "a custom scheme must be a reversed domain name such as com.example.app:/callback (RFC 8252)"


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class NewClient:
    client: Client
    client_secret: str | None  # shown once, never stored


def register_client(
    session: Session,
    tenant_id: str,
    hasher: SecretHasher,
    *,
    name: str,
    redirect_uris: list[str],
    public: bool = False,
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
    dev: bool = False,
) -> NewClient:
    name = name.strip()
    if not name:
        raise ClientError("name is required")
    grant_types = list(dict.fromkeys(grant_types or DEFAULT_GRANT_TYPES))
    for grant_type in grant_types:
        if grant_type not in SUPPORTED_GRANT_TYPES:
            raise ClientError(f"grant type {grant_type!r} is not supported ({', '.join(SUPPORTED_GRANT_TYPES)})")
    if public and "client_credentials" in grant_types:
        raise ClientError("a public client cannot use client_credentials: it has no secret")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise ClientError("refresh_token needs authorization_code")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("at least one redirect URI is required for authorization_code")
    for uri in redirect_uris:
        problem = redirect_uri_problem(uri, dev=dev)
        if problem:
            raise ClientError(f"redirect URI {uri!r} {problem}")

    known = known_scopes(session, tenant_id)
    if scopes is None:
        scopes = DEFAULT_USER_SCOPES if "authorization_code" in grant_types else []
    for scope in scopes:
        if scope not in known:
            raise ClientError(f"scope {scope!r} is not defined for this tenant")

    secret = None if public else random_token(32)
    client = Client(
        tenant_id=tenant_id,
        id=random_token(18),
        name=name,
        secret_hash=hasher.hash(secret) if secret else None,
        is_public=public,
        redirect_uris=list(dict.fromkeys(redirect_uris)),
        grant_types=grant_types,
        scopes=list(dict.fromkeys(scopes)),
        require_pkce=public,
    )
    session.add(client)
    session.flush()
    return NewClient(client, secret)


def find_client(session: Session, tenant_id: str, client_id: str) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    return session.exec(tenant_query(Client, tenant_id).where(Client.id == client_id)).first()
