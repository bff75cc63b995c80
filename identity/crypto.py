"""Small cryptographic helpers, each with one job, all keyed from ``IDENTITY_SECRET_KEY``.

Why HMAC for client secrets: they are 256-bit random values, so a slow password hash adds no
security and costs the token endpoint most of its throughput. HMAC under the server key also means
a stolen database alone cannot be used to test guesses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random string (default 256 bits): codes, refresh tokens, client secrets, session ids."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """How opaque codes and tokens are stored: enough to look them up, useless if leaked."""
    return hashlib.sha256(value.encode()).hexdigest()


def etag_of(body: bytes) -> str:
    """A strong HTTP entity tag for a document: the start of its SHA-256."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def derive_key(secret_key: str, purpose: str, length: int = 32) -> bytes:
    """A separate key per purpose, so one use of the server secret never weakens another."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(secret_key.encode())


class SecretHasher:
    """HMAC-SHA256 of client secrets under a key derived from the server secret."""

    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "client-secret-hmac")

    def hash(self, secret: str) -> str:
        return hmac.digest(self._key, secret.encode(), "sha256").hex()  # one-shot: OpenSSL's HMAC in one call

    def verify(self, secret: str, stored: str | None) -> bool:
        if not stored:
            return False
        return hmac.compare_digest(self.hash(secret), stored)


class KeyEncryptor:
    """Encrypts secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256), under a key derived for one purpose:
    private signing keys by default, or another (a sealed token response) so no key serves two."""

    def __init__(self, secret_key: str, purpose: str = "signing-key-encryption") -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret_key, purpose)))

    def encrypt(self, plaintext: bytes) -> str:
        return self._fernet.encrypt(plaintext).decode()

    def decrypt(self, token: str) -> bytes:
        return self._fernet.decrypt(token.encode())
