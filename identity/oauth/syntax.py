"""The syntax of protocol parameters (RFC 6749 Appendix A, RFC 7636, OIDC Core), checked before Authlib sees
a request.

Authlib puts some values it refuses into its error descriptions ("response_type=… is not supported"), and
refuses (with a ValueError, which was our 500) to build an error whose description holds characters
RFC 6749 §4.1.2.1 forbids there. The grammars below only admit characters that are also allowed in a
description, so a request that passes reaches Authlib, and one that does not is ``invalid_request`` with
our own wording, never an echo of the input. A parameter sent twice is refused the same way (RFC 6749
§3.1, §3.2), whatever its values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_VSCHAR = r"[\x20-\x7e]"
_NQCHAR = r"[\x21\x23-\x5b\x5d-\x7e]"  # VSCHAR less space, '"' and '\'
_NAME = r"[-._0-9A-Za-z]"
_TOKENS = rf"{_NQCHAR}+(?: {_NQCHAR}+)*"  # space-separated, as scope is

MAX_VALUE = 16 * 1024  # longer than any real value (a JWT with many claims included); more is an attack or a bug

GRAMMAR: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "client_id": rf"{_NQCHAR}*",
        "response_type": rf"{_NAME}+(?: {_NAME}+)*",
        "response_mode": rf"{_NAME}+",
        "redirect_uri": rf"{_NQCHAR}+",
        "scope": rf"(?:{_TOKENS})?",
        "state": rf"{_VSCHAR}*",
        "nonce": rf"{_VSCHAR}*",
        "prompt": rf"(?:{_TOKENS})?",
        "display": rf"{_NAME}*",
        "ui_locales": rf"(?:{_TOKENS})?",
        "acr_values": rf"(?:{_TOKENS})?",
        "max_age": r"[0-9]*",
        "code_challenge": rf"{_NQCHAR}*",
        "code_challenge_method": rf"{_NAME}*",
        "code_verifier": rf"{_NQCHAR}*",
        "grant_type": rf"{_NQCHAR}+",
        "code": rf"{_VSCHAR}*",
        "device_code": rf"{_VSCHAR}*",
        "user_code": rf"{_VSCHAR}*",
        "refresh_token": rf"{_VSCHAR}*",
        "token": rf"{_VSCHAR}*",
        "token_type_hint": rf"{_NAME}*",
        "client_secret": rf"{_VSCHAR}*",
        "client_assertion_type": rf"{_NQCHAR}*",
        "dpop_jkt": r"[-_0-9A-Za-z]{43}",  # RFC 9449 §10: a base64url SHA-256 thumbprint (RFC 7638)
    }.items()
}


def _control(value: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)


def bad_parameter(items: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """(name, what is wrong) for the first parameter that is repeated, too long or outside its grammar;
    None when all are well-formed. Parameters without a grammar (login_hint may be any text) only may not
    be repeated, overlong or hold control characters."""
    items = list(items)
    for name, count in Counter(name for name, _ in items).items():
        if count > 1:
            return name, "was sent more than once"
    for name, value in items:
        if len(value) > MAX_VALUE:
            return name, "is too long"
        grammar = GRAMMAR.get(name)
        if (grammar is not None and not grammar.fullmatch(value)) or (grammar is None and _control(value)):
            return name, "is malformed"
    return None


def describe(name: str, problem: str) -> str:
    """An error description that names the parameter (if it is a known one) and never the value."""
    label = name if name in GRAMMAR else "A"
    return f"The {label} parameter {problem}." if label != "A" else f"A parameter {problem}."
