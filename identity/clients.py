"""Registering and finding clients (used by the CLI now, the portal and admin API later)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import SecretHasher, random_token
from identity.db import tenant_query
from identity.models.client import Client
from identity.models.tenant import ALL_GRANT_TYPES, Tenant
from identity.scopes import is_api_scope, known_scopes

SUPPORTED_GRANT_TYPES = ALL_GRANT_TYPES
DEFAULT_GRANT_TYPES = ["authorization_code", "refresh_token"]
DEFAULT_USER_SCOPES = ["openid", "profile", "email", "offline_access"]
# RFC 8252 §7.1: a private-use scheme is a reversed domain name, so it must contain a dot.
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")

# A registration's limits: enforced here (portal, CLI, API) and declared by the management API's contract
# (tenants.api.contract), which imports them, so the document and the rule cannot disagree.
NAME_MAX = 200
DESCRIPTION_MAX = 500
LOGO_URL_MAX = 500
URI_MAX = 2000  # each redirect or post-logout redirect URI
URIS_MAX = 100  # redirect URIs, post-logout redirect URIs and scopes, each
TTL_MIN = 60
ACCESS_TOKEN_TTL_MAX = 86400
REFRESH_TOKEN_TTL_MAX = 365 * 86400
SECRET_GRACE_MAX = 7 * 86400
REFRESH_GRACE_MAX = 300  # a retry after a lost response comes within seconds; longer only widens a thief's window


class ClientError(ValueError):
    """A client registration we refuse, with a message fit to show the developer (and, per field, why)."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


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


def logout_uri_problem(uri: str, *, dev: bool) -> str | None:
    """Why ``uri`` cannot be a back- or front-channel logout URI, or None: an absolute https URL (http on
    loopback, and localhost in dev), which may carry a query but no fragment (Back-Channel Logout §2.2,
    Front-Channel Logout §2). The provider calls back-channel URIs itself: ``identity.logout_delivery``
    also refuses private addresses in prod when it sends."""
    if len(uri) > URI_MAX:
        return f"is too long ({URI_MAX} characters at most)"
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    if scheme not in {"https", "http"}:
        return "must be an https URL"
    return redirect_uri_problem(uri, dev=dev)


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class NewClient:
    client: Client
    client_secret: str | None  # shown once, never stored


# What each kind of app gets unless told otherwise (the portal's "type" choice).
APP_TYPES: dict[str, dict[str, Any]] = {
    "web": {"public": False, "grant_types": ["authorization_code", "refresh_token"]},
    "spa": {"public": True, "grant_types": ["authorization_code", "refresh_token"]},
    "native": {"public": True, "grant_types": ["authorization_code", "refresh_token"]},
    "m2m": {"public": False, "grant_types": ["client_credentials"]},
}


@dataclass
class ClientSpec:
    """The editable settings of a client, validated together; problems are reported per field."""

    name: str
    redirect_uris: list[str]
    public: bool = False
    grant_types: list[str] | None = None
    scopes: list[str] | None = None
    app_type: str = "web"
    description: str = ""
    logo_url: str = ""
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str = ""
    frontchannel_logout_uri: str = ""
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    refresh_token_grace: int = 0
    require_pushed_authorization_requests: bool = False  # RFC 9126 §6 client metadata
    dpop_bound_access_tokens: bool = False  # RFC 9449 §5.2 client metadata: every token request with a proof
    require_dpop_nonce: bool = False  # RFC 9449 §8: the client's proofs carry our nonce

    def problems(
        self,
        known_scopes: dict[str, str],
        *,
        dev: bool,
        allowed_grant_types: list[str] | tuple[str, ...] = ALL_GRANT_TYPES,
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}

        def add(name: str, message: str) -> None:
            errors.setdefault(name, []).append(message)

        self.name = self.name.strip()
        if not self.name:
            add("name", "name is required")
        elif len(self.name) > NAME_MAX:
            add("name", f"name is too long ({NAME_MAX} characters at most)")
        if self.app_type not in APP_TYPES:
            add("app_type", f"unknown app type {self.app_type!r}")
        grant_types = self.grant_types = list(dict.fromkeys(self.grant_types or DEFAULT_GRANT_TYPES))
        for grant_type in grant_types:
            if grant_type not in SUPPORTED_GRANT_TYPES:
                add("grant_types", f"grant type {grant_type!r} is not supported ({', '.join(SUPPORTED_GRANT_TYPES)})")
            elif grant_type not in allowed_grant_types:
                add("grant_types", f"this organisation does not allow the {grant_type} grant (see its settings)")
        if self.public and "client_credentials" in grant_types:
            add("grant_types", "a public client cannot use client_credentials: it has no secret")
        if "refresh_token" in grant_types and "authorization_code" not in grant_types:
            add("grant_types", "refresh_token needs authorization_code")
        self.redirect_uris = list(dict.fromkeys(u.strip() for u in self.redirect_uris if u.strip()))
        for label in ("redirect_uris", "post_logout_redirect_uris"):
            uris = getattr(self, label)
            if len(uris) > URIS_MAX or any(len(u) > URI_MAX for u in uris):
                add(label, f"at most {URIS_MAX} URIs of at most {URI_MAX} characters each")
        if "authorization_code" in grant_types and not self.redirect_uris:
            add("redirect_uris", "at least one redirect URI is required for authorization_code")
        for uri in self.redirect_uris:
            problem = redirect_uri_problem(uri, dev=dev)
            if problem:
                add("redirect_uris", f"redirect URI {uri!r} {problem}")
        self.post_logout_redirect_uris = list(
            dict.fromkeys(u.strip() for u in self.post_logout_redirect_uris if u.strip())
        )
        for uri in self.post_logout_redirect_uris:
            problem = redirect_uri_problem(uri, dev=dev)
            if problem:
                add("post_logout_redirect_uris", f"post-logout redirect URI {uri!r} {problem}")
        for name in ("backchannel_logout_uri", "frontchannel_logout_uri"):
            uri = getattr(self, name).strip()
            setattr(self, name, uri)
            problem = logout_uri_problem(uri, dev=dev) if uri else None
            if problem:
                add(name, f"{name.split('_')[0]} logout URI {problem}")
        if self.scopes is None:
            self.scopes = DEFAULT_USER_SCOPES if "authorization_code" in grant_types else []
        self.scopes = list(dict.fromkeys(self.scopes))
        if len(self.scopes) > URIS_MAX:
            add("scopes", f"at most {URIS_MAX} scopes")
        for scope in self.scopes:
            if scope not in known_scopes:
                add("scopes", f"scope {scope!r} is not defined for this tenant")
        if any(is_api_scope(s) for s in self.scopes) and grant_types != ["client_credentials"]:
            add("scopes", "management API scopes are for machine-to-machine apps (client_credentials only)")
        if self.logo_url and not self.logo_url.startswith("https://"):
            add("logo_url", "the logo URL must be an https URL")
        elif len(self.logo_url) > LOGO_URL_MAX:
            add("logo_url", f"the logo URL is too long ({LOGO_URL_MAX} characters at most)")
        for name, ttl, most in (
            ("access_token_ttl", self.access_token_ttl, ACCESS_TOKEN_TTL_MAX),
            ("refresh_token_ttl", self.refresh_token_ttl, REFRESH_TOKEN_TTL_MAX),
        ):
            if ttl is not None and not TTL_MIN <= ttl <= most:
                add(name, f"lifetime must be between {TTL_MIN} and {most} seconds")
        if not 0 <= self.refresh_token_grace <= REFRESH_GRACE_MAX:
            add("refresh_token_grace", f"the reuse grace must be between 0 (off) and {REFRESH_GRACE_MAX} seconds")
        if len(self.description) > DESCRIPTION_MAX:
            add("description", f"description is too long ({DESCRIPTION_MAX} characters at most)")
        return errors

    def apply(self, client: Client) -> None:
        client.name, client.app_type, client.description = self.name, self.app_type, self.description.strip()
        client.logo_url, client.redirect_uris = self.logo_url, self.redirect_uris
        client.post_logout_redirect_uris = self.post_logout_redirect_uris
        client.backchannel_logout_uri, client.frontchannel_logout_uri = (
            self.backchannel_logout_uri,
            self.frontchannel_logout_uri,
        )
        client.grant_types, client.scopes = list(self.grant_types or []), list(self.scopes or [])
        client.access_token_ttl, client.refresh_token_ttl = self.access_token_ttl, self.refresh_token_ttl
        client.refresh_token_grace = self.refresh_token_grace
        client.require_pushed_requests = self.require_pushed_authorization_requests
        client.dpop_bound_access_tokens = self.dpop_bound_access_tokens
        client.require_dpop_nonce = self.require_dpop_nonce


def default_app_type(public: bool, grant_types: list[str] | None) -> str:
    """The kind of app a caller that does not say means: a public client is a SPA, a client that only
    does client_credentials is machine-to-machine, anything else a web app."""
    return "spa" if public else ("m2m" if grant_types == ["client_credentials"] else "web")


def _validated(session: Session, tenant_id: str, spec: ClientSpec, dev: bool) -> None:
    tenant = session.get(Tenant, tenant_id)
    allowed = tenant.allowed_grant_types if tenant is not None else ALL_GRANT_TYPES
    errors = spec.problems(known_scopes(session, tenant_id), dev=dev, allowed_grant_types=allowed)
    if errors:
        raise ClientError("; ".join(m for messages in errors.values() for m in messages), errors)


def register_client(
    session: Session,
    tenant_id: str,
    hasher: SecretHasher | None,
    *,
    name: str,
    redirect_uris: list[str],
    public: bool = False,
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
    dev: bool = False,
    first_party: bool = False,
    **metadata: Any,
) -> NewClient:
    metadata.setdefault("app_type", default_app_type(public, grant_types))
    spec = ClientSpec(
        name=name, redirect_uris=redirect_uris, public=public, grant_types=grant_types, scopes=scopes, **metadata
    )
    if not first_party:  # the portal's own client has a relative redirect URI, resolved per issuer
        _validated(session, tenant_id, spec, dev)
    secret = None if public else random_token(32)
    if secret and hasher is None:
        raise ValueError("a confidential client needs the secret hasher")
    client = Client(
        tenant_id=tenant_id,
        id=random_token(18),
        name=spec.name,
        secret_hash=hasher.hash(secret) if secret and hasher else None,
        is_public=public,
        require_pkce=public,
        first_party=first_party,
    )
    spec.apply(client)
    session.add(client)
    session.flush()
    return NewClient(client, secret)


def update_client(session: Session, client: Client, spec: ClientSpec, *, dev: bool) -> Client:
    """Change an app's settings; its type (public or confidential) and id never change."""
    spec.public = client.is_public
    _validated(session, client.tenant_id, spec, dev)
    spec.apply(client)
    session.add(client)
    session.flush()
    return client


def rotate_secret(session: Session, client: Client, hasher: SecretHasher, *, grace_seconds: int = 0) -> str:
    """A new secret, shown once. With a grace period the previous secret keeps working until it ends."""
    if client.is_public:
        raise ClientError("a public client has no secret")
    if not 0 <= grace_seconds <= SECRET_GRACE_MAX:
        raise ClientError("the grace period must be between 0 and 7 days")
    secret = random_token(32)
    if grace_seconds:
        client.previous_secret_hash, client.previous_secret_expires_at = client.secret_hash, now() + grace_seconds
    else:
        client.previous_secret_hash = client.previous_secret_expires_at = None
    client.secret_hash = hasher.hash(secret)
    session.add(client)
    session.flush()
    return secret


def delete_client(session: Session, client: Client) -> None:
    """Delete an app: its grants (so every refresh and access token), codes and consents go with it."""
    if client.first_party:
        raise ClientError("the developer portal's own app cannot be deleted")
    session.delete(client)  # the database cascades to grants, codes, refresh tokens and consents
    session.flush()


def list_clients(session: Session, tenant_id: str) -> list[Client]:
    query = tenant_query(Client, tenant_id).where(Client.first_party == False).order_by(col(Client.created_at))  # noqa: E712
    return list(session.exec(query).all())


def first_party_client(session: Session, tenant_id: str) -> Client | None:
    return session.exec(tenant_query(Client, tenant_id).where(Client.first_party == True)).first()  # noqa: E712


def find_client(session: Session, tenant_id: str, client_id: str) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    return session.exec(tenant_query(Client, tenant_id).where(Client.id == client_id)).first()
