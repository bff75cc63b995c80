"""Storage for the device authorization grant (RFC 8628): issuing the codes, the user's answer, and polling.

Every change of state is one conditional ``UPDATE``: a pending authorization is answered once (two browsers
with the same user code: one wins), and an approved one is redeemed once (of N concurrent polls exactly one
gets tokens, the others ``invalid_grant``), as authorization codes and pushed requests are.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

from authlib.oauth2.rfc8628.endpoint import create_string_user_code
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import derive_key, random_token, sha256_hex
from identity.db import tenant_delete, tenant_query, tenant_update
from identity.models.device import APPROVED, DENIED, PENDING, DeviceAuthorization
from identity.models.grant import Grant
from identity.models.tenant import Tenant
from identity.models.user import User
from tenants import audit

EXPIRES_IN = 600  # RFC 8628 §3.2: long enough to walk to a computer and sign in
INTERVAL = 5  # §3.2: the default; §3.5: slow_down adds 5 seconds
SLOW_DOWN_STEP = 5
# §6.1: letters without vowels (no words spelt by chance) and without easily confused ones; 8 of 20 letters
# are ~34.5 bits, enough with the page's throttle (identity.interaction.device).
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
_USER_CODE = re.compile(f"[{USER_CODE_ALPHABET}]{{{USER_CODE_LENGTH}}}")
# Set on the session when a poll changed what is stored (its time, a grown interval, an audited replay), so the
# token endpoint commits it although its answer is an error.
POLL_RECORDED = "device_poll_recorded"


@dataclass(frozen=True)
class Issued:
    device_code: str
    user_code: str  # as shown: XXXX-XXXX


def normalize_user_code(typed: str) -> str | None:
    """What the user typed, as stored codes are derived: upper case, without dashes and spaces (§6.1). None
    when it cannot be a user code at all."""
    code = re.sub(r"[\s\-]", "", typed[:40]).upper()
    return code if _USER_CODE.fullmatch(code) else None


def display_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


@lru_cache(maxsize=8)
def _user_code_key(secret_key: str) -> bytes:
    return derive_key(secret_key, "device-user-code")


def user_code_digest(secret_key: str, normalized: str) -> str:
    """The user code as stored: an HMAC, so a stolen database alone cannot be searched for live codes."""
    return hmac.digest(_user_code_key(secret_key), normalized.encode(), "sha256").hex()


def issue(session: Session, tenant: Tenant, secret_key: str, client_id: str, scope: str) -> Issued:
    """A new pending authorization for the client: its device code and user code (each returned once)."""
    t = now()
    # Expired authorizations of this tenant go when new ones come: the table (and its user codes) stay small.
    session.exec(tenant_delete(DeviceAuthorization, tenant.id).where(col(DeviceAuthorization.expires_at) < t))
    device_code = random_token(32)
    for _ in range(5):  # a user code already live in this tenant (1 in billions): draw another
        user_code = create_string_user_code().replace("-", "")
        try:
            with session.begin_nested():
                session.add(
                    DeviceAuthorization(
                        tenant_id=tenant.id,
                        device_code_hash=sha256_hex(device_code),
                        user_code_hash=user_code_digest(secret_key, user_code),
                        client_id=client_id,
                        scope=scope,
                        interval=INTERVAL,
                        expires_at=t + EXPIRES_IN,
                    )
                )
        except IntegrityError:
            continue
        return Issued(device_code, display_user_code(user_code))
    raise RuntimeError("no free user code")  # pragma: no cover - would take a tenant with billions live


def pending_by_user_code(
    session: Session, tenant: Tenant, secret_key: str, normalized: str
) -> DeviceAuthorization | None:
    """The pending, unexpired authorization of this user code, or None (unknown, answered or expired)."""
    row = session.exec(
        tenant_query(DeviceAuthorization, tenant.id).where(
            DeviceAuthorization.user_code_hash == user_code_digest(secret_key, normalized)
        )
    ).first()
    if row is None or row.status != PENDING or row.expires_at < now():
        return None
    return row


def approve(
    session: Session, tenant: Tenant, device_id: str, user: User, scope: str, auth_time: int, sid: str | None
) -> bool:
    """The user approved ``scope``: the grant (token family) starts now, as it does when a code is issued.
    False if the authorization is no longer pending (answered in another browser, expired, gone)."""
    row = session.exec(tenant_query(DeviceAuthorization, tenant.id).where(DeviceAuthorization.id == device_id)).first()
    if row is None:
        return False
    grant = Grant(
        tenant_id=tenant.id, client_id=row.client_id, user_id=user.id, scope=scope, auth_time=auth_time, sid=sid
    )
    session.add(grant)
    session.flush()
    answered = _answer(
        session,
        tenant,
        device_id,
        status=APPROVED,
        user_id=user.id,
        granted_scope=scope,
        auth_time=auth_time,
        sid=sid,
        grant_id=grant.id,
    )
    if not answered:
        session.delete(grant)
        session.flush()
    return answered


def deny(session: Session, tenant: Tenant, device_id: str, user: User | None) -> bool:
    return _answer(session, tenant, device_id, status=DENIED, user_id=user.id if user is not None else None)


def _answer(session: Session, tenant: Tenant, device_id: str, **values: object) -> bool:
    result = session.exec(
        tenant_update(DeviceAuthorization, tenant.id)
        .where(
            col(DeviceAuthorization.id) == device_id,
            col(DeviceAuthorization.status) == PENDING,
            col(DeviceAuthorization.expires_at) >= now(),
        )
        .values(**values)
    )
    return bool(result.rowcount)


# -- polling (the token endpoint) ---------------------------------------------------------------------------

INVALID_GRANT, EXPIRED_TOKEN, ACCESS_DENIED = "invalid_grant", "expired_token", "access_denied"
SLOW_DOWN, AUTHORIZATION_PENDING = "slow_down", "authorization_pending"


def redeem(session: Session, tenant: Tenant, device_code: str, client_id: str) -> DeviceAuthorization | str:
    """The approved authorization, claimed for this client once (one conditional UPDATE); otherwise the
    RFC 8628 §3.5 error code the client gets: pending (or polling too fast), denied, expired, or
    ``invalid_grant`` for a code that is unknown, another client's or already redeemed."""
    t = now()
    digest = sha256_hex(device_code)
    where = (col(DeviceAuthorization.device_code_hash) == digest, col(DeviceAuthorization.client_id) == client_id)
    claimed = session.exec(
        tenant_update(DeviceAuthorization, tenant.id)
        .where(
            *where,
            col(DeviceAuthorization.status) == APPROVED,
            col(DeviceAuthorization.consumed_at).is_(None),
            col(DeviceAuthorization.expires_at) >= t,
        )
        .values(consumed_at=t)
        .returning(DeviceAuthorization)
    ).first()
    if claimed is not None:
        return claimed[0]  # type: ignore[no-any-return]
    row = session.exec(tenant_query(DeviceAuthorization, tenant.id).where(*where)).first()
    if row is None:
        return INVALID_GRANT
    if row.consumed_at is not None:
        _audit_replay(session, tenant, row)
        return INVALID_GRANT
    if row.expires_at < t:
        return EXPIRED_TOKEN
    if row.status == DENIED:
        return ACCESS_DENIED
    return _polled(session, tenant, row, t)


def _polled(session: Session, tenant: Tenant, row: DeviceAuthorization, t: int) -> str:
    """Still pending: note the poll; one sooner than the interval after the last is ``slow_down``, and the
    interval grows by 5 seconds for this and every later poll (§3.5)."""
    too_soon = row.last_polled_at is not None and t - row.last_polled_at < row.interval
    change = tenant_update(DeviceAuthorization, tenant.id).where(col(DeviceAuthorization.id) == row.id)
    if too_soon:
        session.exec(change.values(last_polled_at=t, interval=DeviceAuthorization.interval + SLOW_DOWN_STEP))
    else:
        session.exec(change.values(last_polled_at=t))
    session.info[POLL_RECORDED] = True
    return SLOW_DOWN if too_soon else AUTHORIZATION_PENDING


def _audit_replay(session: Session, tenant: Tenant, row: DeviceAuthorization) -> None:
    """A device code presented again after its tokens were issued. Audited, not revoked: a device polling
    twice at once is ordinary (§3.5 expects polling), and revoking would end the sign-in it just received."""
    actor = audit.Actor(f"client:{row.client_id}")
    audit.record(
        session,
        tenant.id,
        actor,
        "device_code.replay_detected",
        f"grant:{row.grant_id}",
        client_id=row.client_id,
        user=row.user_id,
    )
    session.info[POLL_RECORDED] = True
