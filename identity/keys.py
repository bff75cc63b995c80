"""Per-tenant signing keys: generation, encryption at rest, rotation, JWKS, and a parsed-key cache.

Each algorithm a tenant signs with has, at any time, one ``current`` key (signs), one ``next`` key
(already in JWKS, so relying parties have it cached before it ever signs) and any number of ``retired``
keys (still in JWKS until every token they signed has expired). Rotation: next -> current,
current -> retired, a fresh next.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from cryptography.fernet import InvalidToken
from joserfc.jwk import DictKey, ECKey, KeyParameters, KeySet, KeySetSerialization, OKPKey, RSAKey
from sqlmodel import Session, col, func, select

from identity import metrics
from identity.clock import now
from identity.crypto import KeyEncryptor
from identity.db import tenant_delete, tenant_query
from identity.documents import public_json
from identity.models.client import Client
from identity.models.key import CURRENT, NEXT, RETIRED, SigningKey
from identity.models.tenant import Tenant
from tenants import audit

SUPPORTED_ALGS = ("RS256", "ES256", "EdDSA")
# Every tenant keeps keys for these, so a tenant can switch algorithm without a gap in JWKS.
DEFAULT_ALGS = ("RS256", "ES256")

Key = RSAKey | ECKey | OKPKey


def generate_key(alg: str) -> Key:
    params: KeyParameters = {"alg": alg, "use": "sig"}
    key: Key
    if alg == "RS256":
        key = RSAKey.generate_key(2048, parameters=params, private=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=params, private=True)
    elif alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", parameters=params, private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    key.ensure_kid()  # kid: the RFC 7638 thumbprint
    return key


def _new_row(tenant_id: str, alg: str, status: str, encryptor: KeyEncryptor) -> SigningKey:
    key = generate_key(alg)
    return SigningKey(
        tenant_id=tenant_id,
        kid=key.thumbprint() if key.kid is None else key.kid,
        alg=alg,
        status=status,
        public_jwk=key.as_dict(private=False),
        private_jwk_encrypted=encryptor.encrypt(json.dumps(key.as_dict(private=True)).encode()),
    )


def create_initial_keys(session: Session, tenant: Tenant, encryptor: KeyEncryptor) -> None:
    for alg in DEFAULT_ALGS:
        session.add(_new_row(tenant.id, alg, CURRENT, encryptor))
        session.add(_new_row(tenant.id, alg, NEXT, encryptor))
    session.flush()


def signing_algs(session: Session, tenant: Tenant) -> set[str]:
    """The algorithms this tenant has a current key for."""
    rows = session.exec(tenant_query(SigningKey, tenant.id).where(SigningKey.status == CURRENT)).all()
    return {row.alg for row in rows}


def rotate(
    session: Session, tenant: Tenant, encryptor: KeyEncryptor, *, actor: audit.Actor = audit.CLI
) -> list[SigningKey]:
    """Promote each algorithm's next key, retire the current one, publish a fresh next key.

    A retired key stays in JWKS for the longest lifetime of a token it may have signed (see
    ``longest_token_lifetime``). Returns the keys that now sign. Audited here, so that every caller
    (CLI, admin) records it.
    """
    t = now()
    keep_for = longest_token_lifetime(session, tenant) + 60  # 60 s of clock skew
    rows = session.exec(tenant_query(SigningKey, tenant.id)).all()
    promoted = []
    for alg in {row.alg for row in rows}:
        for row in rows:
            if row.alg != alg:
                continue
            if row.status == CURRENT:
                row.status, row.retired_at, row.remove_after = RETIRED, t, t + keep_for
            elif row.status == NEXT:
                row.status = CURRENT
                promoted.append(row)
        session.add(_new_row(tenant.id, alg, NEXT, encryptor))
    session.exec(
        tenant_delete(SigningKey, tenant.id).where(col(SigningKey.status) == RETIRED, col(SigningKey.remove_after) < t)
    )
    tenant.keys_version += 1
    session.add(tenant)
    audit.record(session, tenant.id, actor, "keys.rotated", f"tenant:{tenant.slug}", **{k.alg: k.kid for k in promoted})
    session.flush()
    return promoted


def longest_token_lifetime(session: Session, tenant: Tenant) -> int:
    """The longest a token signed for this tenant may live: the tenant's access and ID token lifetimes
    and every app's own access token lifetime (an app may issue 24 h tokens on a tenant whose default is
    1 h). A lifetime lowered later only shortens what later rotations keep."""
    longest_app = session.exec(
        select(func.max(Client.access_token_ttl)).where(col(Client.tenant_id) == tenant.id)
    ).one()
    return max(tenant.access_token_ttl, tenant.id_token_ttl, longest_app or 0)


class KeyRing:
    """One tenant's keys at one ``keys_version``. Public keys and the JWKS bytes are ready at once; a private
    key is decrypted and parsed on its first signature (an RSA private key costs ~30 ms to parse, which a
    replica serving only JWKS or userinfo for this tenant never pays)."""

    def __init__(
        self, sealed: dict[str, str], verification: KeySet, jwks_bytes: bytes, encryptor: KeyEncryptor
    ) -> None:
        self._sealed = sealed  # alg -> encrypted private JWK of the current key
        self._signing: dict[str, Key] = {}
        self._encryptor = encryptor
        self.verification = verification  # every published public key
        self.jwks = public_json(jwks_bytes)  # the JWKS document and its response headers, rendered once

    @property
    def jwks_bytes(self) -> bytes:
        return self.jwks.ok.body

    def signer(self, alg: str) -> Key:
        key = self._signing.get(alg)
        if key is None:
            sealed = self._sealed.get(alg)
            if sealed is None:
                raise LookupError(f"tenant has no current {alg} key")
            try:
                plaintext = self._encryptor.decrypt(sealed)
            except InvalidToken:
                raise RuntimeError(
                    f"cannot decrypt this tenant's {alg} signing key: IDENTITY_SECRET_KEY is not the key it was"
                    " encrypted with (was the secret changed?)"
                ) from None
            key = self._signing[alg] = _import(json.loads(plaintext))
        return key


class KeyCache:
    """Key rings per (tenant, keys_version), least recently used dropped first. A rotation bumps the
    version, so every replica reloads on its next request without any messaging; an entry is never stale,
    only superseded. A ring is ~25 KB: 2,000 of them keep a worker under 200 MB with 10,000 tenants served
    (5,000 took it to ~220 MB); a tenant outside the 2,000 most recently used pays one ring load."""

    def __init__(self, encryptor: KeyEncryptor, max_entries: int = 2_000) -> None:
        self._encryptor = encryptor
        self._rings: OrderedDict[tuple[str, int], KeyRing] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self.loads = 0  # how many times key material was read from the database (the CI guard counts these)

    def cached(self, tenant: Tenant) -> KeyRing | None:
        """The ring if already loaded (no database access)."""
        cache_key = (tenant.id, tenant.keys_version)
        ring = self._rings.get(cache_key)
        metrics.count_cache("keys", hit=ring is not None)
        if ring is not None:
            with self._lock:
                if cache_key in self._rings:
                    self._rings.move_to_end(cache_key)
        return ring

    def get(self, session: Session, tenant: Tenant) -> KeyRing:
        ring = self.cached(tenant)
        if ring is None:
            ring = self._load(session, tenant)
            with self._lock:
                self._rings[(tenant.id, tenant.keys_version)] = ring
                while len(self._rings) > self._max_entries:
                    self._rings.popitem(last=False)
        return ring

    def _load(self, session: Session, tenant: Tenant) -> KeyRing:
        self.loads += 1
        t = now()
        rows = session.exec(tenant_query(SigningKey, tenant.id)).all()
        published = [r for r in rows if r.status != RETIRED or (r.remove_after or 0) > t]
        sealed = {row.alg: row.private_jwk_encrypted for row in rows if row.status == CURRENT}
        published.sort(key=lambda r: (r.alg, r.created_at))
        public: list[DictKey] = [dict(r.public_jwk, kid=r.kid) for r in published]
        jwks: KeySetSerialization = {"keys": public}
        return KeyRing(
            sealed, KeySet.import_key_set(jwks), json.dumps(jwks, separators=(",", ":")).encode(), self._encryptor
        )


def _import(jwk: DictKey) -> Key:
    kty = jwk["kty"]
    if kty == "RSA":
        return RSAKey.import_key(jwk)
    if kty == "EC":
        return ECKey.import_key(jwk)
    return OKPKey.import_key(jwk)
