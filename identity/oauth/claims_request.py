"""The ``claims`` authorization request parameter (OIDC Core §5.5) and the authentication context a client
may ask for (``acr_values``, §3.1.2.1; ``acr`` and ``amr`` in the ID token, §2 and RFC 8176).

What a ``claims`` request does here:
- Each user claim it names (in ``userinfo`` or ``id_token``) widens the request by the scope that releases
  that claim (§5.4), when the client may ask for that scope. Consent is given for scopes, so the user
  sees and decides on what the claim request adds; granted, the claim is released at userinfo and in the
  ID token like the rest of its scope. A claim we do not hold, or one the user did not allow, is left
  out without an error (§5.5: "MUST NOT generate an error").
- ``id_token.sub`` with a ``value``: only that user may get the response (§3.1.2.2); a browser signed in
  as someone else is asked to sign in, and a sign-in as another user ends in ``access_denied``.
- ``id_token.acr`` marked ``essential`` with ``value``/``values``: when none is one we can satisfy, the
  request ends in ``unmet_authentication_requirements`` (OIDC Core errata set 2, §3.1.2.6). A voluntary
  ``acr`` or ``acr_values`` is answered with the ``acr`` we achieved; the client decides.

Authentication context classes: ``1`` is one factor (a password). Multi-factor sign-in, when it comes,
adds ``2``; the values are levels, so step-up reads naturally (``acr_values=2``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error

from identity.scopes import OPENID, STANDARD_SCOPES

ONE_FACTOR = "1"
ACR_VALUES_SUPPORTED = [ONE_FACTOR]
PASSWORD_AMR = ["pwd"]  # RFC 8176 §2
MAX_CLAIMS = 16 * 1024  # the parameter's length; syntax.MAX_VALUE bounds it too
MEMBERS = ("userinfo", "id_token")

# claim -> the scope that releases it (OIDC Core §5.4); sub, acr and the like need none.
SCOPE_OF_CLAIM = {claim: scope for scope, (_, claims) in STANDARD_SCOPES.items() for claim in claims if claim != "sub"}


class UnmetAuthenticationRequirementsError(OAuth2Error):
    error = "unmet_authentication_requirements"
    description = "The requested authentication context (essential acr) cannot be met."


@dataclass(frozen=True)
class ClaimsRequest:
    """What a valid ``claims`` parameter asks for."""

    names: frozenset[str] = frozenset()
    required_sub: str | None = None
    essential_acr: tuple[str, ...] | None = None  # acr values acceptable, when acr is essential

    def implied_scopes(self) -> list[str]:
        return sorted({SCOPE_OF_CLAIM[name] for name in self.names if name in SCOPE_OF_CLAIM})

    def acr_unmet(self) -> bool:
        return self.essential_acr is not None and not set(self.essential_acr) & set(ACR_VALUES_SUPPORTED)


def parse(value: str | None, redirect_uri: str | None = None) -> ClaimsRequest:
    """The parameter's JSON (§5.5): an object whose ``userinfo`` and ``id_token`` members are objects of
    claim name -> null or an object (``essential``, ``value``, ``values``). Anything else is
    ``invalid_request``, redirected to the client when ``redirect_uri`` is its validated one."""
    if value is None or value == "":
        return ClaimsRequest()

    def refuse(why: str) -> InvalidRequestError:
        return InvalidRequestError(f"The claims parameter {why}.", redirect_uri=redirect_uri)

    if len(value) > MAX_CLAIMS:
        raise refuse("is too long")
    try:
        document = json.loads(value)
    except ValueError as error:
        raise refuse("is not valid JSON") from error
    if not isinstance(document, dict):
        raise refuse("must be a JSON object")
    names: set[str] = set()
    for member, requested in document.items():
        if member not in MEMBERS:
            continue  # §5.5: other members are for extensions; ignored
        if not isinstance(requested, dict):
            raise refuse(f"member {member} must be an object")
        for name, spec in requested.items():
            if spec is not None and not isinstance(spec, dict):
                raise refuse("must give each claim null or an object")
            if isinstance(spec, dict) and "values" in spec and not isinstance(spec["values"], list):
                raise refuse("must give values as an array")
            if isinstance(spec, dict) and "essential" in spec and not isinstance(spec["essential"], bool):
                raise refuse("must give essential as true or false")
            names.add(name)
    id_token = document.get("id_token") or {}
    return ClaimsRequest(
        names=frozenset(names),
        required_sub=_required_sub(id_token.get("sub"), refuse),
        essential_acr=_essential_acr(id_token.get("acr")),
    )


def _required_sub(spec: Any, refuse: Any) -> str | None:
    if not isinstance(spec, dict) or "value" not in spec:
        return None
    if not isinstance(spec["value"], str):
        raise refuse("must give sub's value as a string")
    return str(spec["value"])


def _essential_acr(spec: Any) -> tuple[str, ...] | None:
    if not isinstance(spec, dict) or spec.get("essential") is not True:
        return None
    values = spec.get("values") if "values" in spec else [spec.get("value")]
    return tuple(str(v) for v in values or [] if isinstance(v, str))


def widened_scope(requested: list[str], claims: ClaimsRequest, allowed: list[str]) -> list[str]:
    """The request's scopes plus those its ``claims`` imply and the client may ask for (only for an OpenID
    request: the parameter means nothing to plain OAuth)."""
    if OPENID not in requested:
        return requested
    extra = [s for s in claims.implied_scopes() if s in allowed and s not in requested]
    return [*requested, *extra]
