"""DPoP proofs (RFC 9449 §4): the ``DPoP`` header checked, and the server's nonces (§8, §9).

A proof is a JWT the client signs with a key of its own, whose public half is in the proof's header; the
access (and a public client's refresh) token is then bound to that key's RFC 7638 thumbprint (``jkt``).
Everything here is stateless: the ``jti`` replay check needs the database (``identity.dpop_replay``) and
the per-client rules need the client (``identity.oauth.grants``, ``identity.endpoints.userinfo``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key, import_key
from joserfc.jws import JWSRegistry

from identity.clock import now
from identity.crypto import derive_key

# Asymmetric only (§4.3 check 5: never "none" nor a MAC), each one joserfc verifies with a key type it checks.
ALGS = ("ES256", "RS256", "PS256", "EdDSA")
PROOF_TYPE = "dpop+jwt"
IAT_WINDOW = 60  # seconds either side of now() a proof's iat may be (its jti is kept that long, §11.1)
NONCE_WINDOW = 300  # a nonce is good in the window it was made in and the next one: 5 to 10 minutes
MAX_PROOF = 8 * 1024  # an RSA-4096 proof is ~1.5 KB
MAX_JTI = 256
MIN_RSA_BITS = 2048

INVALID_DPOP_PROOF = "invalid_dpop_proof"
USE_DPOP_NONCE = "use_dpop_nonce"


class _ProofRegistry(JWSRegistry):
    max_header_length = 2048  # the header carries the public key: an RSA-4096 one is ~1 KB encoded
    max_payload_length = 4096


_REGISTRY = _ProofRegistry(algorithms=list(ALGS))
# The private members of every JWK key type (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof's header
# carries the public key only.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ASYMMETRIC = frozenset({"EC", "RSA", "OKP"})
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DPoPError(Exception):
    """A refused proof: ``error`` is ``invalid_dpop_proof`` or ``use_dpop_nonce``; the description is ours
    (never an echo of the input), safe in a JSON body and a ``WWW-Authenticate`` header."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def invalid(description: str) -> DPoPError:
    return DPoPError(INVALID_DPOP_PROOF, description)


@dataclass(frozen=True)
class Proof:
    """A proof whose signature, type, key and claims checked out (its ``jti`` not yet claimed)."""

    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's public key
    jti: str
    iat: int
    nonce: str | None


def access_token_hash(token: str) -> str:
    """``ath`` (§4.2): base64url of the SHA-256 of the access token, no padding."""
    return _b64(hashlib.sha256(token.encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify_proof(values: Sequence[str], *, method: str, url: str, access_token: str | None = None) -> Proof:
    """§4.3: exactly one well-formed proof, of our type and algorithms, signed by the public key in its
    header, for this method and URL (``url``: the request's own, as the outside world sees it), recent, and
    for ``access_token`` when one is presented. A ``nonce`` in it is returned for the caller to check."""
    if len(values) != 1:
        raise invalid("Send exactly one DPoP header.")
    value = values[0].strip()
    if not value or len(value) > MAX_PROOF or not value.isascii():
        raise invalid("The DPoP proof is not a JWT.")
    try:
        token = jws.extract_compact(value.encode(), registry=_REGISTRY)
        header = token.headers()
    except (JoseError, ValueError, TypeError, json.JSONDecodeError) as error:
        raise invalid("The DPoP proof is not a JWT.") from error
    if not isinstance(header.get("typ"), str) or header["typ"].lower() != PROOF_TYPE:
        raise invalid("The DPoP proof's typ must be dpop+jwt.")
    if header.get("alg") not in ALGS:
        raise invalid("The DPoP proof's alg is not supported (" + " ".join(ALGS) + ").")
    key = _public_key(header.get("jwk"))
    try:
        if not jws.validate_compact(token, key, registry=_REGISTRY):
            raise invalid("The DPoP proof's signature is invalid.")
    except (JoseError, ValueError, TypeError, KeyError) as error:  # e.g. an ES256 proof with an RSA key
        raise invalid("The DPoP proof's signature is invalid.") from error
    claims = _claims(token.payload)
    _check_claims(claims, method, url, access_token)
    nonce = claims.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not nonce):
        raise invalid("The DPoP proof's nonce is malformed.")
    return Proof(jkt=key.thumbprint(), jti=claims["jti"], iat=claims["iat"], nonce=nonce)


def _public_key(jwk: Any) -> Key:
    """The proof's ``jwk`` header as a key: an asymmetric public key, nothing private in it (§4.2)."""
    if not isinstance(jwk, dict):
        raise invalid("The DPoP proof's header must carry the public key (jwk).")
    if jwk.get("kty") not in _ASYMMETRIC:
        raise invalid("The DPoP proof's key must be an asymmetric public key.")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise invalid("The DPoP proof's jwk must not contain a private key.")
    # Before joserfc sees it: it would only warn about a short RSA key.
    if jwk["kty"] == "RSA" and len(_unb64(str(jwk.get("n", ""))).lstrip(b"\0")) * 8 < MIN_RSA_BITS:
        raise invalid(f"The DPoP proof's RSA key must have at least {MIN_RSA_BITS} bits.")
    try:
        return import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as error:  # KeyError: an unknown curve
        raise invalid("The DPoP proof's jwk is not a valid key.") from error


def _unb64(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return b""


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid("The DPoP proof's claims are not JSON.") from error
    if not isinstance(claims, dict):
        raise invalid("The DPoP proof's claims are not a JSON object.")
    return claims


def _check_claims(claims: dict[str, Any], method: str, url: str, access_token: str | None) -> None:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise invalid("The DPoP proof needs a jti (a unique identifier).")
    if claims.get("htm") != method:
        raise invalid("The DPoP proof's htm does not match the request's method.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalized_uri(htu) is None or normalized_uri(htu) != normalized_uri(url):
        raise invalid("The DPoP proof's htu does not match the request's URL.")
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise invalid("The DPoP proof needs an iat (a time in seconds).")
    if abs(iat - now()) > IAT_WINDOW:
        raise invalid("The DPoP proof's iat is too far from now; make a new proof.")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
            raise invalid("The DPoP proof's ath does not match the access token.")


def normalized_uri(uri: str) -> str | None:
    """The URI without query and fragment, normalised as RFC 9449 §4.3 check 9 says (RFC 3986 §6.2.2
    syntax-based: case, percent-encoding, dot segments; §6.2.3 scheme-based: default port, empty path);
    None if it is not an absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # lowercased by urlsplit
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if ":" in host:  # an IPv6 literal loses its brackets in .hostname
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{_remove_dot_segments(_PERCENT.sub(_percent, parts.path)) or '/'}"


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, on whole segments."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/".join(output)


class DPoPNonces:
    """Server-provided nonces (§8, §9), stateless so every replica accepts every replica's: the HMAC, under
    a key derived from the server secret, of the tenant and the current time window. A nonce is good in its
    window and the next (5 to 10 minutes), then ``use_dpop_nonce`` hands out the current one."""

    def __init__(self, secret_key: str, window: int = NONCE_WINDOW) -> None:
        self._key = derive_key(secret_key, "dpop-nonce")
        self._window = window

    def _nonce(self, tenant_id: str, step: int) -> str:
        return _b64(hmac.digest(self._key, f"{tenant_id}:{step}".encode(), "sha256")[:24])

    def current(self, tenant_id: str) -> str:
        return self._nonce(tenant_id, now() // self._window)

    def valid(self, tenant_id: str, nonce: str) -> bool:
        step = now() // self._window
        return any(hmac.compare_digest(nonce.encode(), self._nonce(tenant_id, s).encode()) for s in (step, step - 1))

    def check(self, tenant_id: str, proof: Proof, *, required: bool) -> None:
        """A nonce the proof carries must be one of ours and fresh; a missing one is refused when required."""
        if proof.nonce is None:
            if required:
                raise DPoPError(USE_DPOP_NONCE, "The authorization server requires a nonce in the DPoP proof.")
            return
        if not self.valid(tenant_id, proof.nonce):
            raise DPoPError(USE_DPOP_NONCE, "The DPoP proof's nonce is stale or unknown; use the DPoP-Nonce given.")
