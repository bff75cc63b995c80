"""Registering and finding clients (used by the CLI now, the portal and admin API later)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col

from identity.client_jwks import jwks_problem
from identity.clock import now
from identity.crypto import SecretHasher, random_token
from identity.db import tenant_query
from identity.models.client import Client
from identity.models.tenant import ALL_GRANT_TYPES, REFRESH_NEEDS, REFRESH_SOURCES, USER_GRANT_TYPES, Tenant
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
# RFC 7591 §2 token_endpoint_auth_method: how the client authenticates wherever clients do (identity.oauth).
PRIVATE_KEY_JWT = "private_key_jwt"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT, "none")


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


def jwks_uri_problem(uri: str, *, dev: bool) -> str | None:
    """Why ``uri`` cannot be a client's ``jwks_uri``, or None: https (http on a loopback address only in
    dev), no fragment. Where it resolves is checked at each fetch (``identity.remote_jwks``)."""
    if len(uri) > URI_MAX:
        return f"is too long ({URI_MAX} characters at most)"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "is not a valid URL"
    if any(ch.isspace() for ch in uri) or "#" in uri or not parts.hostname:
        return "must be an absolute https URL without a fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and dev and (_is_loopback_ip(parts.hostname) or parts.hostname == "localhost"):
        return None
    return "must be an https URL" + (" (or http on a loopback address)" if dev else "")


def default_auth_method(public: bool) -> str:
    return "none" if public else "client_secret_basic"


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class NewClient:
    client: Client
    client_secret: str | None  # shown once, never stored


# Apps that may also use the device authorization grant (RFC 8628) when their developer ticks it: ones a
# user has in front of them (a TV app, a CLI). A single-page app has a browser; a service has no user.
DEVICE_APP_TYPES = ("web", "native")

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
    token_endpoint_auth_method: str | None = None  # None: none for a public client, else client_secret_basic
    jwks: dict[str, Any] | None = None  # private_key_jwt: the client's public keys, or
    jwks_uri: str = ""  # where it serves them
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
        if self.public and "password" in grant_types:
            # Anyone holding a public client's id could try passwords through it: only a confidential app.
            add("grant_types", "a public client cannot use the password grant: it cannot authenticate itself")
        if "refresh_token" in grant_types and not set(REFRESH_SOURCES) & set(grant_types):
            add("grant_types", REFRESH_NEEDS)
        self.redirect_uris = list(dict.fromkeys(u.strip() for u in self.redirect_uris if u.strip()))
        for label in ("redirect_uris", "post_logout_redirect_uris"):
            uris = getattr(self, label)
            if len(uris) > URIS_MAX or any(len(u) > URI_MAX for u in uris):
                add(label, f"at most {URIS_MAX} URIs of at most {URI_MAX} characters each")
        for redirecting in ("authorization_code", "implicit"):
            if redirecting in grant_types and not self.redirect_uris:
                add("redirect_uris", f"at least one redirect URI is required for {redirecting}")
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
            self.scopes = DEFAULT_USER_SCOPES if set(USER_GRANT_TYPES) & set(grant_types) else []
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
        self._check_authentication(add, dev=dev)
        return errors

    def _check_authentication(self, add: Any, *, dev: bool) -> None:
        method = self.token_endpoint_auth_method = self.token_endpoint_auth_method or default_auth_method(self.public)
        self.jwks_uri = self.jwks_uri.strip()
        if method not in AUTH_METHODS:
            add("token_endpoint_auth_method", f"unknown authentication method {method!r} ({', '.join(AUTH_METHODS)})")
            return
        if self.public and method != "none":
            add("token_endpoint_auth_method", "a public client authenticates with none: it holds no secret or key")
        elif not self.public and method == "none":
            add("token_endpoint_auth_method", "a confidential client authenticates: with a secret or private_key_jwt")
        if method != PRIVATE_KEY_JWT:
            if self.jwks is not None:
                add("jwks", "keys are registered only for the private_key_jwt method")
            if self.jwks_uri:
                add("jwks_uri", "a jwks_uri is registered only for the private_key_jwt method")
            return
        if self.jwks is not None and self.jwks_uri:
            add("jwks", "register either jwks or jwks_uri, not both (OIDC Dynamic Client Registration §2)")
        elif self.jwks is not None:
            if (problem := jwks_problem(self.jwks)) is not None:
                add("jwks", f"the JWK Set {problem}")
        elif self.jwks_uri:
            if (problem := jwks_uri_problem(self.jwks_uri, dev=dev)) is not None:
                add("jwks_uri", f"the jwks_uri {problem}")
        else:
            add("jwks", "private_key_jwt needs the client's public keys: a JWK Set (jwks) or a jwks_uri")

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
        method = self.token_endpoint_auth_method or default_auth_method(client.is_public)
        client.token_endpoint_auth_method = method
        keyed = method == PRIVATE_KEY_JWT
        client.jwks, client.jwks_uri = (self.jwks if keyed else None), (self.jwks_uri if keyed else "")
        if keyed:  # a private_key_jwt client has no secret: a previous one stops working now
            client.secret_hash = client.previous_secret_hash = client.previous_secret_expires_at = None
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
    secret = None if public or spec.token_endpoint_auth_method == PRIVATE_KEY_JWT else random_token(32)
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
    """Change an app's settings; its type (public or confidential) and id never change. A client moved to
    private_key_jwt loses its secret; one moved from it to a secret method has none until it is rotated."""
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
    if client.token_endpoint_auth_method == PRIVATE_KEY_JWT:
        raise ClientError("a private_key_jwt client has no secret: it authenticates with its keys")
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
