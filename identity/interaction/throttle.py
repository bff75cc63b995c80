"""Failed sign-in throttling per account and per client IP, stored in the database (all replicas agree).

A fixed window: after ``max`` failures within ``window`` seconds, further attempts are refused until the
window ends. The account key is derived from the submitted email whether or not such a user exists, so
the throttle itself reveals nothing about which emails are registered.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from identity.clock import now
from identity.crypto import sha256_hex
from identity.db import tenant_delete, tenant_query, tenant_update
from identity.models.interaction import LoginThrottle
from identity.settings import Settings


def keys_for(email_normalized: str, client_ip: str) -> dict[str, str]:
    return {"account": "acct:" + sha256_hex(email_normalized)[:48], "ip": "ip:" + client_ip[:90]}


def device_keys_for(client_ip: str) -> dict[str, str]:
    """Wrong user codes on the device page: counted per client IP and for the whole tenant (a guesser
    spread over many addresses still meets the tenant's limit)."""
    return {"device_ip": "device-ip:" + client_ip[:80], "device_tenant": "device-tenant"}


def _limits(settings: Settings) -> dict[str, int]:
    return {
        "account": settings.login_max_failures_per_account,
        "ip": settings.login_max_failures_per_ip,
        "device_ip": settings.device_max_failures_per_ip,
        "device_tenant": settings.device_max_failures_per_tenant,
    }


def _row(session: Session, tenant_id: str, key: str) -> LoginThrottle | None:
    return session.exec(tenant_query(LoginThrottle, tenant_id).where(LoginThrottle.key == key)).first()


@dataclass(frozen=True)
class Standing:
    blocked: bool  # too many failures in the window: refuse before hashing
    account_failures: bool  # the account key has a row: a successful sign-in clears it


def standing(session: Session, settings: Settings, tenant_id: str, keys: dict[str, str]) -> Standing:
    """Both keys in one statement (it runs before every password check)."""
    window_open_since, limits = now() - settings.login_throttle_window_seconds, _limits(settings)
    query = tenant_query(LoginThrottle, tenant_id).where(col(LoginThrottle.key).in_(list(keys.values())))
    rows = {row.key: row for row in session.exec(query)}
    blocked = any(
        (row := rows.get(key)) is not None and row.window_start > window_open_since and row.failures >= limits[kind]
        for kind, key in keys.items()
    )
    return Standing(blocked, keys.get("account") in rows)


def is_blocked(session: Session, settings: Settings, tenant_id: str, keys: dict[str, str]) -> bool:
    return standing(session, settings, tenant_id, keys).blocked


def record_failure(session: Session, settings: Settings, tenant_id: str, keys: dict[str, str]) -> None:
    t = now()
    for key in keys.values():
        row = _row(session, tenant_id, key)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(LoginThrottle(tenant_id=tenant_id, key=key, window_start=t, failures=1))
                continue
            except IntegrityError:  # another replica created it first
                row = _row(session, tenant_id, key)
                if row is None:
                    continue
        change = tenant_update(LoginThrottle, tenant_id).where(col(LoginThrottle.key) == key)
        if row.window_start + settings.login_throttle_window_seconds <= t:
            session.exec(change.values(window_start=t, failures=1))
        else:  # incremented in SQL, so concurrent failures are all counted
            session.exec(change.values(failures=LoginThrottle.failures + 1))


def record_success(session: Session, tenant_id: str, keys: dict[str, str]) -> None:
    session.exec(tenant_delete(LoginThrottle, tenant_id).where(col(LoginThrottle.key) == keys["account"]))
