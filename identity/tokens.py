"""JWTs this provider signs and verifies: RFC 9068 access tokens and OIDC ID tokens (joserfc).

Access tokens of a user carry ``gid``, the id of the grant (token family) they came from, so that
revoking the grant (code replay, refresh-token reuse, logout) stops them at userinfo.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, TypeVar

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry
from joserfc.util import json_b64encode, urlsafe_b64encode

from identity import metrics
from identity.clock import now
from identity.crypto import random_token
from identity.keys import SUPPORTED_ALGS, KeyRing

T = TypeVar("T")

ACCESS_TOKEN_TYPE = "at+jwt"
LOGOUT_TOKEN_TYPE = "logout+jwt"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120
CLOCK_SKEW = 30


@cache
def _registry(*algs: str) -> JWSRegistry:
    """joserfc's registry for these algorithms, built once (``jwt.encode`` would build one per call)."""
    return JWSRegistry(algorithms=list(algs))


@lru_cache(maxsize=16_384)
def _protected_header(alg: str, kid: str, typ: str) -> bytes:
    """The encoded JWS header of our tokens: the same for every token a key signs, so checked by joserfc's
    registry and encoded once per key and type, not per token."""
    header = {"typ": typ, "alg": alg, "kid": kid}
    _registry(alg).check_header(header)
    return json_b64encode(header)


def _compact_jws(protected: bytes, claims: dict[str, Any], alg: str, key: Key) -> str:
    """RFC 7515 §7.1 compact serialization, as ``joserfc.jwt.encode`` does it, signed by joserfc's algorithm.
    Per token only the claims are encoded: ``jwt.encode`` also rebuilt and rechecked the constant header
    and looked the key up again, a fifth of an ES256 token's signing time."""
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    signing_input = protected + b"." + urlsafe_b64encode(payload)
    signature = _registry(alg).get_alg(alg).sign(signing_input, key)
    return (signing_input + b"." + urlsafe_b64encode(signature)).decode()


@dataclass(frozen=True)
class Signer:
    """Everything needed to sign for one tenant: its issuer, key ring and algorithm choices."""

    issuer: str
    ring: KeyRing
    access_token_alg: str
    id_token_alg: str

    def _sign(self, typ: str, claims: dict[str, Any], alg: str) -> str:
        key = self.ring.signer(alg)
        return _compact_jws(_protected_header(alg, key.kid, typ), claims, alg, key)

    def access_token(
        self,
        *,
        client_id: str,
        scope: str,
        ttl: int,
        subject: str | None,
        grant_id: str | None,
        auth_time: int | None,
        audience: str | None = None,
        jkt: str | None = None,
    ) -> str:
        """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti (+ scope, auth_time); ``cnf.jkt`` when
        bound to a DPoP key (RFC 9449 §6.1)."""
        issued = now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            # The audience is this issuer (userinfo, and resource servers of the tenant that trust it),
            # unless the scopes are the management API's (identity.scopes.token_audience).
            "aud": audience or self.issuer,
            "sub": subject or client_id,
            "client_id": client_id,
            "scope": scope,
            "iat": issued,
            "exp": issued + ttl,
            "jti": random_token(16),
        }
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if grant_id is not None:
            claims["gid"] = grant_id
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        return self._sign(ACCESS_TOKEN_TYPE, claims, self.access_token_alg)

    def id_token(
        self,
        *,
        client_id: str,
        subject: str,
        ttl: int,
        auth_time: int,
        nonce: str | None,
        access_token: str | None,
        user_claims: dict[str, Any],
        sid: str | None = None,
        acr: str | None = None,
        amr: list[str] | None = None,
    ) -> str:
        """OIDC Core §2 and §3.1.3.6: iss, sub, aud, exp, iat, auth_time, nonce, at_hash, azp, acr, amr; and
        ``sid``, the OP session (OIDC Front-Channel Logout §3, Back-Channel Logout §2.1)."""
        issued = now()
        claims: dict[str, Any] = {
            **user_claims,
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "azp": client_id,
            "iat": issued,
            "exp": issued + ttl,
            "auth_time": auth_time,
        }
        if nonce:
            claims["nonce"] = nonce
        if sid:
            claims["sid"] = sid
        if acr:
            claims["acr"] = acr
        if amr:
            claims["amr"] = amr
        if access_token:
            claims["at_hash"] = create_half_hash(access_token, self.id_token_alg).decode()
        return self._sign("JWT", claims, self.id_token_alg)

    def logout_token(self, *, client_id: str, subject: str, sid: str | None, ttl: int = LOGOUT_TOKEN_TTL) -> str:
        """OIDC Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti, events, and sub and/or sid; never a
        nonce, so no RP can mistake it for an ID token (and its ``typ`` says what it is, §2.4)."""
        issued = now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "sub": subject,
            "iat": issued,
            "exp": issued + ttl,
            "jti": random_token(16),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        if sid:
            claims["sid"] = sid
        return self._sign(LOGOUT_TOKEN_TYPE, claims, self.id_token_alg)


def _decoded(token: str, ring: KeyRing, refusal: ValueError) -> jwt.Token:
    """The JWT, checked against our published keys with asymmetric algorithms only; ``refusal`` if not."""
    try:
        return jwt.decode(token, ring.verification, registry=_registry(*SUPPORTED_ALGS))
    except (JoseError, ValueError, TypeError, json.JSONDecodeError) as error:
        raise refusal from error


class InvalidIdTokenHint(ValueError):
    """An ``id_token_hint`` this tenant did not issue (or not an ID token). The message is safe to show."""


def verify_id_token_hint(token: str, issuer: str, ring: KeyRing) -> dict[str, Any]:
    """An ID token we issued, by signature (our published keys) and issuer. Its expiry is not checked: OIDC
    RP-Initiated Logout §2 has the OP accept an expired ID token as the hint of who is signing out."""
    decoded = _decoded(token, ring, InvalidIdTokenHint("The id_token_hint is malformed or its signature is invalid"))
    claims = decoded.claims
    if decoded.header.get("typ") != "JWT" or "aud" not in claims:  # ours are typed; access tokens say at+jwt
        raise InvalidIdTokenHint("The id_token_hint is not an ID token")
    if claims.get("iss") != issuer:
        raise InvalidIdTokenHint("The id_token_hint was issued by another issuer")
    if not isinstance(claims.get("sub"), str):
        raise InvalidIdTokenHint("The id_token_hint has no subject")
    return claims


class InvalidAccessToken(ValueError):
    """Not a token this tenant issued, or no longer valid. The message is safe to return."""


def verify_access_token(token: str, issuer: str, ring: KeyRing) -> dict[str, Any]:
    """Signature (only our published keys, only asymmetric algorithms: never ``none`` or HS*),
    ``typ``, issuer and expiry. Revocation is the caller's check (it needs the database)."""
    decoded = _decoded(token, ring, InvalidAccessToken("The access token is malformed or its signature is invalid"))
    if decoded.header.get("typ", "").lower() not in {ACCESS_TOKEN_TYPE, "application/at+jwt"}:
        raise InvalidAccessToken("Not an access token")
    claims = decoded.claims
    if claims.get("iss") != issuer:
        raise InvalidAccessToken("The access token was issued by another issuer")
    _check_expiry(claims)
    return claims


def _check_expiry(claims: dict[str, Any]) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp + CLOCK_SKEW < now():
        raise InvalidAccessToken("The access token expired")


class VerifiedTokens:
    """Access tokens already verified against a key ring, with their claims: a token presented again
    (userinfo, introspection, the management API) skips the signature check, which was most of a warm
    userinfo request (an ES256 verification costs ~70 µs; the rest of the request ~15 µs).

    A hit needs the very same ring object (a key rotation makes a new one, so tokens are checked against
    the new key set) and the same issuer; the expiry is checked on every use, and revocation stays the
    caller's check, so an answer never differs from a full verification. Only valid tokens are kept;
    the least recently used goes first once ``max_entries`` (about 1.5 KB each) are held."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self.verifications = 0  # full signature checks made (the CI guard counts them)

    def verify(self, token: str, issuer: str, ring: KeyRing) -> dict[str, Any]:
        """The token's claims (shared: never change them)."""
        return self._entry(token, issuer, ring).claims

    def verify_as(self, token: str, issuer: str, ring: KeyRing, make: Callable[[dict[str, Any]], T]) -> T:
        """``make(claims)``, made once per remembered token (a token presented again skips that work too:
        on a warm userinfo request, building the caller's view of the claims was a tenth of the cost)."""
        entry = self._entry(token, issuer, ring)
        made = entry.made
        if made is None or made[0] is not make:
            made = entry.made = (make, make(entry.claims))
        return made[1]

    def _entry(self, token: str, issuer: str, ring: KeyRing) -> _Verified:
        entry = self._entries.get(token)
        hit = entry is not None and entry.ring is ring and entry.issuer == issuer
        metrics.count_cache("access_tokens", hit=hit)
        if entry is not None and hit:
            _check_expiry(entry.claims)
            with self._lock:
                if token in self._entries:
                    self._entries.move_to_end(token)
            return entry
        entry = _Verified(ring, issuer, verify_access_token(token, issuer, ring))
        self.verifications += 1
        with self._lock:
            self._entries[token] = entry
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return entry


class _Verified:
    """A remembered valid token: the ring and issuer it was checked against, its claims, what was made of them."""

    __slots__ = ("claims", "issuer", "made", "ring")

    def __init__(self, ring: KeyRing, issuer: str, claims: dict[str, Any]) -> None:
        self.ring, self.issuer, self.claims = ring, issuer, claims
        self.made: tuple[Callable[[dict[str, Any]], Any], Any] | None = None
