"""``private_key_jwt`` client authentication (OIDC Core §9, RFC 7523 §2.2 and §3) on Authlib's
``JWTBearerClientAssertion``, with joserfc for the JOSE.

What an assertion must be to authenticate its client:

- ``client_assertion_type`` is ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``;
- ``iss`` and ``sub`` are the client_id (and a ``client_id`` sent beside it is the same);
- ``aud`` contains the issuer, the token endpoint URL or the URL of the endpoint called (OIDC Core §9 names
  the token endpoint, RFC 7523 §3 and RFC 9126 §2 the issuer; we accept all three, as a list or alone);
- ``exp`` is present, not past, and at most ``MAX_LIFETIME`` ahead (bounds the window of a stolen assertion
  and how long its ``jti`` is kept); ``iat`` and ``nbf``, when present, are not in the future; all with
  ``LEEWAY`` seconds for clock skew;
- signed with RS256, PS256, ES256 or EdDSA by one of the client's registered keys (``identity.client_jwks``;
  at a ``jwks_uri`` fetched by ``identity.remote_jwks``, again once if the ``kid`` is unknown);
- its ``jti`` was never presented before by this client (``identity.assertion_replay``).

Every refusal is ``invalid_client`` (401) with a description of the rule broken, never of a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import Key, KeySet

from identity import assertion_replay
from identity.client_jwks import KEY_TYPES, SIGNING_ALGS, JwksError, checked_key_set
from identity.clock import now
from identity.remote_jwks import FetchError

if TYPE_CHECKING:
    from identity.oauth.client import OAuthClient
    from identity.oauth.server import AuthorizationServer

PRIVATE_KEY_JWT = "private_key_jwt"
ASSERTION_TYPE = JWTBearerClientAssertion.CLIENT_ASSERTION_TYPE
LEEWAY = 30
# Authlib's client signs assertions for an hour (pyoidc's for ten minutes): a shorter bound would refuse the
# most common client libraries as they come.
MAX_LIFETIME = 3600
ASSERTION_MAX = 8192  # characters: a few keys' worth of signature and claims, never more


class AssertionRefused(InvalidClientError):
    """An assertion broke a rule: 401 ``invalid_client``, the rule in the description."""

    def __init__(self, description: str) -> None:
        super().__init__(description=description, status_code=401)


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, server: AuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY)
        self.server = server

    def __call__(self, query_client: Any, request: Any) -> OAuthClient | None:
        form = request.form
        assertion_type, assertion = form.get("client_assertion_type"), form.get("client_assertion")
        if assertion_type is None and assertion is None:
            return None  # another method's request
        if assertion_type != ASSERTION_TYPE or not assertion:
            raise AssertionRefused(
                f"private_key_jwt takes client_assertion_type={ASSERTION_TYPE} and a client_assertion."
            )
        if len(assertion) > ASSERTION_MAX:
            raise AssertionRefused("The client_assertion is too large.")
        headers, claims = self._parts(assertion)
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or not client_id or claims.get("iss") != client_id:
            raise AssertionRefused("The assertion's iss and sub must both be the client_id.")
        if form.get("client_id", client_id) != client_id:
            raise AssertionRefused("The client_id is not the assertion's subject.")
        client: OAuthClient | None = query_client(client_id)
        if client is None:
            raise AssertionRefused("Client authentication failed.")  # unknown ids say no more than that
        if not client.check_endpoint_auth_method(PRIVATE_KEY_JWT, "token"):
            raise AssertionRefused("This client is not registered for private_key_jwt.")
        alg = headers.get("alg")
        if alg not in SIGNING_ALGS:
            raise AssertionRefused(f"The assertion must be signed with one of {', '.join(SIGNING_ALGS)}.")
        key = self._key(client, headers)
        try:
            token = jwt.decode(assertion, key, algorithms=[alg])
        except JoseError:
            raise AssertionRefused("The assertion's signature does not verify with the client's keys.") from None
        self.verify_claims(token.claims, request)
        if not assertion_replay.claim(
            self.server.ctx.sessions,
            self.server.tenant.id,
            client.id,
            token.claims["jti"],
            int(token.claims["exp"]) + LEEWAY,
        ):
            raise AssertionRefused("The assertion was already used (its jti is spent).")
        request.client = client
        return client

    def _parts(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            headers, claims = self.extract_assertion(assertion)
        except InvalidClientError:
            raise AssertionRefused("The client_assertion is not a signed JWT.") from None
        return dict(headers), claims

    # -- keys --------------------------------------------------------------------------------------------
    def _key(self, client: OAuthClient, headers: dict[str, Any]) -> Key:
        key = _matching(self._keys(client, refresh=False), headers)
        if key is None and client.row.jwks_uri:
            key = _matching(self._keys(client, refresh=True), headers)  # keys rotated since we fetched them
        if key is None:
            raise AssertionRefused("No key of the client matches the assertion's kid and alg.")
        return key

    def _keys(self, client: OAuthClient, *, refresh: bool) -> KeySet:
        try:
            if client.row.jwks_uri:
                return self.server.ctx.remote_jwks.keys(client.row.jwks_uri, refresh=refresh)
            return checked_key_set(client.row.jwks)
        except FetchError as error:
            raise AssertionRefused(str(error)) from None
        except JwksError:
            raise AssertionRefused("The client has no usable registered keys.") from None

    # -- claims ------------------------------------------------------------------------------------------
    def get_audiences(self) -> list[str]:
        issuer = self.server.issuer
        return [issuer, f"{issuer}/token"]

    def verify_claims(self, claims: dict[str, Any], request: Any = None) -> None:
        audiences = self.get_audiences()
        if request is not None:
            audiences.append(request.uri.split("?")[0])
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=LEEWAY,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": audiences},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except MissingClaimError as error:
            raise AssertionRefused(f"The assertion lacks the {error.claim} claim.") from None
        except ExpiredTokenError:
            raise AssertionRefused("The assertion has expired.") from None
        except ClaimError as error:
            if error.claim == "aud":
                raise AssertionRefused("The assertion's aud is not this issuer or its token endpoint.") from None
            raise AssertionRefused(f"The assertion's {error.claim} claim is invalid.") from None
        if claims["exp"] > now() + MAX_LIFETIME + LEEWAY:
            raise AssertionRefused(f"The assertion's exp is too far ahead (at most {MAX_LIFETIME} seconds).")
        if not isinstance(claims["jti"], str) or len(claims["jti"]) > 255:
            raise AssertionRefused("The assertion's jti must be a string of at most 255 characters.")


def _matching(keys: KeySet, headers: dict[str, Any]) -> Key | None:
    """The one key the header designates: by ``kid`` when it names one, else the only key fit for ``alg``."""
    alg, kid = headers.get("alg"), headers.get("kid")
    fit = [
        key
        for key in keys.keys
        if alg in KEY_TYPES.get(key.key_type, ()) and key.alg in (None, alg) and (kid is None or key.kid == kid)
    ]
    return fit[0] if len(fit) == 1 else None
