"""The user's standard claims (OIDC Core §5.1) beyond email and name: what each may hold, checked once here
for the portal, the management API and the CLI alike, and kept on the user as one JSON document
(``User.claims``; no query ever filters on them).

Scope to claims (OIDC Core §5.4): ``profile`` releases the profile claims (plus ``name`` and
``updated_at``), ``email`` the address and ``email_verified``, ``address`` the postal address, ``phone``
the number and ``phone_number_verified``. A claim with no value is left out of tokens and userinfo.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

TEXT_MAX = 200
URL_MAX = 2000
ADDRESS_LINE_MAX = 500

PROFILE_TEXT = ("given_name", "family_name", "middle_name", "nickname", "preferred_username", "gender")
PROFILE_URLS = ("profile", "picture", "website")
PROFILE = (*PROFILE_TEXT, *PROFILE_URLS, "birthdate", "zoneinfo", "locale")
ADDRESS_PARTS = ("formatted", "street_address", "locality", "region", "postal_code", "country")
PHONE = ("phone_number", "phone_number_verified")
EDITABLE = (*PROFILE, *PHONE, "address")

_ONE_LINE = re.compile(r"^[^\x00-\x1f\x7f]*$")
_MULTI_LINE = re.compile(r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*$")  # line breaks allowed (a formatted address)
_BIRTHDATE = re.compile(r"^(\d{4})(-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))?$")  # YYYY, YYYY-MM-DD, 0000-MM-DD
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")  # BCP 47 (OIDC Core §5.1 allows - or _)
_E164 = re.compile(r"^\+[1-9]\d{6,14}(;ext=\d{1,10})?$")  # RFC 3966 extension, as §5.1 suggests


class ProfileError(ValueError):
    """A claim value refused: ``field`` names the claim (``address.locality`` for a part)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _text(limit: int, pattern: re.Pattern[str] = _ONE_LINE) -> Callable[[str, Any], str]:
    def check(field: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ProfileError(field, f"{field} must be text.")
        text: str = value.strip()
        if len(text) > limit:
            raise ProfileError(field, f"{field} must be at most {limit} characters.")
        if not pattern.match(text):
            raise ProfileError(field, f"{field} cannot contain control characters.")
        return text

    return check


def _url(field: str, value: Any) -> str:
    url = _text(URL_MAX)(field, value)
    if url and (urlsplit(url).scheme != "https" or not urlsplit(url).hostname):
        raise ProfileError(field, f"{field} must be an https URL.")
    return url


def _birthdate(field: str, value: Any) -> str:
    date = _text(10)(field, value)
    match = _BIRTHDATE.match(date)
    if date and (match is None or (match.group(1) == "0000" and match.group(2) is None)):
        raise ProfileError(field, "birthdate is YYYY-MM-DD, YYYY, or 0000-MM-DD when the year is not given.")
    return date


def _zoneinfo(field: str, value: Any) -> str:
    zone = _text(64)(field, value)
    if zone and zone not in _zones():
        raise ProfileError(field, "zoneinfo must be a time zone of the IANA database, such as Europe/Paris.")
    return zone


def _locale(field: str, value: Any) -> str:
    tag = _text(35)(field, value)
    if tag and not _LOCALE.match(tag):
        raise ProfileError(field, "locale must be a BCP 47 language tag, such as fr-CA.")
    return tag


def _phone_number(field: str, value: Any) -> str:
    number = _text(32)(field, value).replace(" ", "")
    if number and not _E164.match(number):
        raise ProfileError(field, "phone_number must be in E.164 form, such as +14155552671.")
    return number


def _flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(field, f"{field} must be true or false.")
    return value


def _address(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ProfileError(field, "address must be an object.")
    unknown = sorted(set(value) - set(ADDRESS_PARTS))
    if unknown:
        raise ProfileError(field, f"address has no part {unknown[0]!r}; its parts are {', '.join(ADDRESS_PARTS)}.")
    parts: dict[str, str] = {}
    for part, raw in value.items():
        pattern = _MULTI_LINE if part in ("formatted", "street_address") else _ONE_LINE
        checked = _text(ADDRESS_LINE_MAX, pattern)(f"address.{part}", raw)
        if checked:
            parts[part] = checked.replace("\r\n", "\n")
    return parts


CHECKS: dict[str, Callable[[str, Any], Any]] = {
    **{name: _text(TEXT_MAX) for name in PROFILE_TEXT},
    **{name: _url for name in PROFILE_URLS},
    "birthdate": _birthdate,
    "zoneinfo": _zoneinfo,
    "locale": _locale,
    "phone_number": _phone_number,
    "phone_number_verified": _flag,
    "address": _address,
}


def checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes, each value checked and normalized (an empty value removes the claim); raises
    ProfileError for the first refused one, or an unknown claim."""
    result: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in CHECKS:
            raise ProfileError(name, f"{name} is not a standard claim a user record holds.")
        result[name] = CHECKS[name](name, value)
    return result


def applied(claims: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``claims`` with ``changes`` (already checked) applied: empty values remove a claim, and a changed
    number is no longer verified unless the change says it is."""
    updated = dict(claims)
    for name, value in changes.items():
        if value in ("", {}, None) or (name == "phone_number_verified" and value is False):
            updated.pop(name, None)
        else:
            updated[name] = value
    if "phone_number" in changes and changes["phone_number"] != claims.get("phone_number"):
        if changes.get("phone_number_verified") is not True:
            updated.pop("phone_number_verified", None)
    if "phone_number" not in updated:
        updated.pop("phone_number_verified", None)
    return updated


def released(claims: dict[str, Any], scopes: list[str]) -> dict[str, Any]:
    """The stored claims the granted scopes release (``name``, ``email`` and ``updated_at`` are columns
    and added by the caller)."""
    out: dict[str, Any] = {}
    if "profile" in scopes:
        out.update((name, claims[name]) for name in PROFILE if name in claims)
    if "address" in scopes and claims.get("address"):
        out["address"] = dict(claims["address"])
    if "phone" in scopes and claims.get("phone_number"):
        out["phone_number"] = claims["phone_number"]
        out["phone_number_verified"] = bool(claims.get("phone_number_verified", False))
    return out
