"""RFC 7591 §2 client metadata <-> ``identity.clients.ClientSpec``: the JSON a client registers itself with
becomes the spec the portal would have built, so ``ClientSpec`` stays the one validator. Only the shape is
checked here (types, the few values only metadata has, the agreement of grant and response types);
everything else is the spec's rules, their per-field problems named after the metadata member.

Unknown members are ignored (RFC 7591 §2)."""

from __future__ import annotations

from typing import Any

from identity.clients import AUTH_METHODS, ClientSpec, default_app_type
from identity.models.client import Client
from identity.oauth.client import RESPONSE_TYPE_GRANTS
from identity.scopes import is_api_scope

PUBLIC = "none"
DEFAULT_AUTH_METHOD = "client_secret_basic"  # RFC 7591 §2
DEFAULT_NAME = "Dynamically registered client"  # client_name is optional in RFC 7591; the spec needs a name
APPLICATION_TYPES = ("web", "native")  # OIDC Dynamic Client Registration 1.0 §2
STRING_MAX = 2000  # no member we take is longer (the spec has tighter limits for most)
LIST_MAX = 100

# ClientSpec's field -> the metadata member a developer sent it as
MEMBER_OF = {"name": "client_name", "logo_url": "logo_uri", "scopes": "scope", "app_type": "application_type"}


class MetadataError(ValueError):
    """A registration refused: RFC 7591 §3.2.2 ``error`` (``invalid_redirect_uri`` or
    ``invalid_client_metadata``) and a description naming the member at fault."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def _bad(member: str, problem: str) -> MetadataError:
    code = "invalid_redirect_uri" if member == "redirect_uris" else "invalid_client_metadata"
    return MetadataError(code, f"{member}: {problem}")


def _clean(member: str, value: object) -> str:
    if not isinstance(value, str):
        raise _bad(member, "must be a string")
    if len(value) > STRING_MAX or any(ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise _bad(member, f"must be at most {STRING_MAX} characters, without control characters")
    return value


def _string(data: dict[str, Any], member: str, default: str = "") -> str:
    return _clean(member, data[member]) if member in data and data[member] is not None else default


def _strings(data: dict[str, Any], member: str) -> list[str] | None:
    value = data.get(member)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > LIST_MAX:
        raise _bad(member, f"must be an array of at most {LIST_MAX} strings")
    return [_clean(member, item) for item in value]


def _flag(data: dict[str, Any], member: str) -> bool:
    value = data.get(member, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(member, "must be true or false")
    return value


def _key_set(data: dict[str, Any]) -> dict[str, Any] | None:
    """``jwks`` (private_key_jwt's public keys, checked by ClientSpec), which must be a JSON object."""
    value = data.get("jwks")
    if value is None or isinstance(value, dict):
        return value
    raise _bad("jwks", "must be a JWK Set, a JSON object")


def auth_method_of(data: dict[str, Any], current: Client | None = None) -> str:
    """The token endpoint auth method asked for; on a replacement (``current``) leaving it out keeps the
    client's, since a client's type (public or confidential) never changes."""
    fallback = (current.token_endpoint_auth_method or DEFAULT_AUTH_METHOD) if current else DEFAULT_AUTH_METHOD
    method = _string(data, "token_endpoint_auth_method", fallback)
    if method not in AUTH_METHODS:
        raise _bad("token_endpoint_auth_method", f"{method!r} is not supported ({', '.join(AUTH_METHODS)})")
    if current is not None and (method == PUBLIC) != current.is_public:
        raise _bad("token_endpoint_auth_method", "a client cannot change between public (none) and a secret method")
    return method


def spec_from(data: dict[str, Any], current: Client | None = None) -> tuple[ClientSpec, str]:
    """The spec for ``data`` (and the auth method it asked for). ``current``: the client a PUT replaces,
    whose settings that are not client metadata (description, lifetimes, reuse grace) stay as they are."""
    method = auth_method_of(data, current)
    public = method == PUBLIC
    grant_types = _strings(data, "grant_types")
    if grant_types is None:
        grant_types = ["authorization_code"]  # RFC 7591 §2's default
    if not grant_types:
        raise _bad("grant_types", "name at least one grant type")
    grant_types = list(dict.fromkeys(grant_types))
    response_types = _strings(data, "response_types")
    if response_types is None:
        response_types = served_response_types(grant_types)
    for response_type in response_types:
        grant = RESPONSE_TYPE_GRANTS.get(response_type)
        if grant is None:
            raise _bad("response_types", f"{response_type!r} is not supported ({', '.join(RESPONSE_TYPE_GRANTS)})")
        if grant not in grant_types:
            raise _bad("response_types", f"{response_type!r} needs the {grant} grant (RFC 7591 §2.1)")
    for grant in set(RESPONSE_TYPE_GRANTS.values()) & set(grant_types):
        if not any(RESPONSE_TYPE_GRANTS[r] == grant for r in response_types):
            raise _bad("response_types", f"the {grant} grant needs its response type (RFC 7591 §2.1)")
    application_type = _string(data, "application_type", "web")
    if application_type not in APPLICATION_TYPES:
        raise _bad("application_type", f"must be one of {', '.join(APPLICATION_TYPES)}")
    scope = _string(data, "scope", "") if data.get("scope") is not None else None
    scopes = None if scope is None else scope.split()
    if scopes and any(is_api_scope(s) for s in scopes):
        raise _bad("scope", "management API scopes are granted in the portal only, never by registration")
    spec = ClientSpec(
        name=_string(data, "client_name", DEFAULT_NAME),
        redirect_uris=_strings(data, "redirect_uris") or [],
        public=public,
        grant_types=grant_types,
        scopes=scopes,
        app_type="native" if application_type == "native" else default_app_type(public, grant_types),
        logo_url=_string(data, "logo_uri"),
        post_logout_redirect_uris=_strings(data, "post_logout_redirect_uris") or [],
        backchannel_logout_uri=_string(data, "backchannel_logout_uri"),
        frontchannel_logout_uri=_string(data, "frontchannel_logout_uri"),
        require_pushed_authorization_requests=_flag(data, "require_pushed_authorization_requests"),
        token_endpoint_auth_method=method,
        jwks=_key_set(data),
        jwks_uri=_string(data, "jwks_uri"),
    )
    if current is not None:
        spec.description, spec.refresh_token_grace = current.description, current.refresh_token_grace
        spec.access_token_ttl, spec.refresh_token_ttl = current.access_token_ttl, current.refresh_token_ttl
    return spec, method


def refusal(fields: dict[str, list[str]], message: str) -> MetadataError:
    """ClientSpec's per-field problems as one RFC 7591 error: ``invalid_redirect_uri`` when a redirect URI
    is at fault, else ``invalid_client_metadata``; the description names each member and its problem."""
    if not fields:
        return MetadataError("invalid_client_metadata", message)
    code = "invalid_redirect_uri" if "redirect_uris" in fields else "invalid_client_metadata"
    described = "; ".join(f"{MEMBER_OF.get(name, name)}: {m}" for name, ms in fields.items() for m in ms)
    return MetadataError(code, described)


def served_response_types(grant_types: list[str]) -> list[str]:
    """The response types a client with these grants is served (identity.oauth.client)."""
    return [r for r, grant in RESPONSE_TYPE_GRANTS.items() if grant in grant_types]


def metadata_of(client: Client) -> dict[str, Any]:
    """The client's registered metadata, as stored (RFC 7591 §3.2.1); empty URIs are left out."""
    method = client.token_endpoint_auth_method or (PUBLIC if client.is_public else DEFAULT_AUTH_METHOD)
    body: dict[str, Any] = {
        "client_id": client.id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": served_response_types(client.grant_types),
        "token_endpoint_auth_method": method,
        "application_type": "native" if client.app_type == "native" else "web",
        "scope": " ".join(client.scopes),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "require_pushed_authorization_requests": client.require_pushed_requests,
    }
    if not client.is_public:
        body["client_secret_expires_at"] = 0  # secrets do not expire (they rotate in the portal)
    for member, value in (
        ("logo_uri", client.logo_url),
        ("backchannel_logout_uri", client.backchannel_logout_uri),
        ("frontchannel_logout_uri", client.frontchannel_logout_uri),
        ("jwks_uri", client.jwks_uri),
        ("jwks", client.jwks),
    ):
        if value:
            body[member] = value
    return body
