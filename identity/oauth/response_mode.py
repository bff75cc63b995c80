"""How the authorization response reaches the client: ``response_mode`` (OAuth 2.0 Multiple Response Type
Encoding Practices §2.1, OAuth 2.0 Form Post Response Mode).

Authlib builds every response to the client as a redirect with the parameters in the query. Here that
redirect is re-delivered as the request asked: unchanged (``query``, the code flow's default), with the
parameters in the fragment (``fragment``), or as a page that POSTs them to the redirect URI
(``form_post``). The redirect URI's own query, if it has one, stays where it is, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749.errors import InvalidRequestError

QUERY, FRAGMENT, FORM_POST = "query", "fragment", "form_post"
MODES = (QUERY, FRAGMENT, FORM_POST)
# What an authorization response adds to the redirect URI (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207).
RESPONSE_PARAMETERS = frozenset({"code", "state", "iss", "error", "error_description", "error_uri"})
# The implicit flow's response types, and what their responses add besides (OIDC Core §3.2.2.5). Tokens
# never travel in the query (OAuth 2.0 Multiple Response Type Encoding Practices §2.1): fragment by default.
TOKEN_RESPONSE_TYPES = frozenset({"id_token", "id_token token"})
TOKEN_PARAMETERS = RESPONSE_PARAMETERS | {"access_token", "token_type", "expires_in", "scope", "id_token"}


@dataclass(frozen=True)
class ToClient:
    """The way back to the client: a redirect to ``location``, or (``form`` set) a page that POSTs ``form``
    to ``location``."""

    location: str
    form: list[tuple[str, str]] | None = None


def check(data: dict[str, Any], redirect_uri: str) -> None:
    """An unknown ``response_mode``, or ``query`` for a response with tokens, is ``invalid_request``."""
    mode = data.get("response_mode")
    if mode is not None and mode not in MODES:
        raise InvalidRequestError(f"response_mode must be one of: {', '.join(MODES)}.", redirect_uri=redirect_uri)
    if mode == QUERY and carries_tokens(data):
        raise InvalidRequestError(
            "response_mode=query cannot carry tokens: use fragment or form_post.", redirect_uri=redirect_uri
        )


def carries_tokens(data: dict[str, Any]) -> bool:
    return data.get("response_type") in TOKEN_RESPONSE_TYPES


def requested(data: dict[str, Any]) -> str:
    mode = data.get("response_mode")
    if mode in MODES and not (mode == QUERY and carries_tokens(data)):
        return str(mode)
    return FRAGMENT if carries_tokens(data) else QUERY


def back_to_client(request: Any, location: str) -> ToClient:
    """The redirect Authlib made for this authorization request, delivered in the mode it asked for."""
    data = request.payload.data
    return deliver(location, requested(data), TOKEN_PARAMETERS if carries_tokens(data) else RESPONSE_PARAMETERS)


def deliver(location: str, mode: str, names: frozenset[str] = RESPONSE_PARAMETERS) -> ToClient:
    """``location`` with the response (the parameters in ``names``) moved where ``mode`` puts it."""
    if mode == QUERY:
        return ToClient(location)
    parts = urlsplit(location)
    pieces = [piece for piece in parts.query.split("&") if piece]
    own = [piece for piece in pieces if _name(piece) not in names]
    response = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k in names]
    base = urlunsplit(parts._replace(query="&".join(own), fragment=""))
    if mode == FRAGMENT:
        return ToClient(f"{base}#{urlencode(response)}")
    return ToClient(base, response)


def _name(piece: str) -> str:
    parsed = parse_qsl(piece, keep_blank_values=True)
    return parsed[0][0] if parsed else piece
