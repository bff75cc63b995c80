"""A client's public keys for ``private_key_jwt`` (OIDC Core §9, RFC 7523): the JWK Set it registers as
``jwks``, or serves at its ``jwks_uri``. The same rules for both: public signing keys only, of the types our
algorithms verify, within a size limit; anything else is refused, never silently dropped."""

from __future__ import annotations

import binascii
import json
from base64 import urlsafe_b64decode
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

# What an assertion may be signed with: never "none", never HS* (a client with keys has no shared secret).
SIGNING_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]
REGISTERED_MAX_BYTES = 16 * 1024  # a registered jwks (stored on the client row)
FETCHED_MAX_BYTES = 64 * 1024  # a document served at a jwks_uri
KEYS_MAX = 10
RSA_MIN_BITS = 2048
# Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
KEY_TYPES = {"RSA": {"RS256", "PS256"}, "EC": {"ES256"}, "OKP": {"EdDSA"}}
CURVES = {"EC": "P-256", "OKP": "Ed25519"}


class JwksError(ValueError):
    """A document that is not an acceptable JWK Set; the message names the rule, never key material."""


def checked_key_set(document: Any, *, max_bytes: int = REGISTERED_MAX_BYTES) -> KeySet:
    """The key set of ``document`` (a parsed JSON object), or JwksError saying why not."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError('must be a JWK Set: a JSON object with a "keys" array')
    if len(json.dumps(document, separators=(",", ":"))) > max_bytes:
        raise JwksError(f"is too large ({max_bytes} bytes at most)")
    keys = document["keys"]
    if not keys:
        raise JwksError("has no keys")
    if len(keys) > KEYS_MAX:
        raise JwksError(f"has too many keys ({KEYS_MAX} at most)")
    kids = [key.get("kid") for key in keys if isinstance(key, dict)]
    if len(keys) > 1 and (None in kids or len(set(kids)) != len(kids)):
        raise JwksError('needs a distinct "kid" on every key when it has more than one')
    return KeySet([_checked_key(index, key) for index, key in enumerate(keys, 1)])


def _checked_key(index: int, key: Any) -> RSAKey | ECKey | OKPKey:
    where = f"key {index}"
    if not isinstance(key, dict):
        raise JwksError(f"{where} is not a JSON object")
    kty = key.get("kty")
    if kty not in KEY_TYPES:
        raise JwksError(f"{where} has an unsupported kty (RSA, EC or OKP)")
    if PRIVATE_MEMBERS & key.keys():
        raise JwksError(f"{where} contains private key material: register the public key only")
    if key.get("use", "sig") != "sig":
        raise JwksError(f'{where} is not a signing key ("use" must be "sig")')
    if "alg" in key and key["alg"] not in KEY_TYPES[kty]:
        raise JwksError(f"{where} names an algorithm we do not accept ({', '.join(sorted(KEY_TYPES[kty]))})")
    if "kid" in key and (not isinstance(key["kid"], str) or not 0 < len(key["kid"]) <= 200):
        raise JwksError(f'{where} has an invalid "kid"')
    if kty in CURVES and key.get("crv") != CURVES[kty]:
        raise JwksError(f"{where} must use the {CURVES[kty]} curve")
    if kty == "RSA" and _modulus_bits(key.get("n")) < RSA_MIN_BITS:  # (before joserfc warns about it)
        raise JwksError(f"{where} is too short (RSA keys of {RSA_MIN_BITS} bits at least)")
    try:
        imported: RSAKey | ECKey | OKPKey
        if kty == "RSA":
            imported = RSAKey.import_key(key)
        elif kty == "EC":
            imported = ECKey.import_key(key)
        else:
            imported = OKPKey.import_key(key)
    except (JoseError, ValueError, TypeError):
        raise JwksError(f"{where} is not a valid {kty} public key") from None
    return imported


def _modulus_bits(n: Any) -> int:
    """The size of an RSA modulus given as base64url (RFC 7518 §6.3.1.1); 0 when it is not one."""
    if not isinstance(n, str) or len(n) > 2000:
        return 0
    try:
        return int.from_bytes(urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big").bit_length()
    except (ValueError, binascii.Error):
        return 0


def jwks_problem(document: Any) -> str | None:
    """Why ``document`` cannot be registered as a client's ``jwks``, or None."""
    try:
        checked_key_set(document)
    except JwksError as error:
        return str(error)
    return None
