"""Two ``identity serve`` replicas on one PostgreSQL database, under load (refresh-token rotations and users
created through the management API on both); one is SIGKILLed in the middle. The other carries on, every
2xx either answered is in the database afterwards, nothing is doubled, and each refresh-token family still
has exactly one live token and is not revoked: even a family whose rotation was in flight at the kill (the
client never saw its answer) continues, because the client's grace returns the lost rotation on a retry."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlmodel import col, select

from identity.crypto import sha256_hex
from identity.models.grant import Grant, RefreshToken
from identity.models.user import User
from tests.api.helpers import bearer, management_token
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange, sign_in
from tests.postgres.servers import Server, start, stop

pytestmark = pytest.mark.postgres
FAMILIES_PER_REPLICA = 2


@dataclass
class Family:
    grant_id: str
    token: str  # the last refresh token a 200 answered with
    issued: list[str] = field(default_factory=list)  # every refresh token answered 200, in order
    in_doubt: bool = False  # a rotation was sent and never answered (its replica died)


@dataclass
class Driver:
    """One load thread's record."""

    answered: list[tuple[float, int]] = field(default_factory=list)  # (when, status)
    created: list[str] = field(default_factory=list)  # emails answered 201
    in_doubt: list[str] = field(default_factory=list)  # emails sent and never answered
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def replicas(settings) -> Iterator[tuple[Server, Server]]:  # type: ignore[no-untyped-def]
    started: list[Server] = []
    try:
        for name in ("replica-a", "replica-b"):  # one after the other: each provisions the demo tenant
            started.append(start(settings, name))
        yield started[0], started[1]
    finally:
        for server in started:
            stop(server)


def rotate_until(stop: threading.Event, server: Server, rp, family: Family, record: Driver) -> None:  # type: ignore[no-untyped-def]
    with server.client(timeout=10) as http:
        while not stop.is_set():
            data = {"grant_type": "refresh_token", "refresh_token": family.token}
            try:
                response = http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret))
            except httpx.TransportError:
                family.in_doubt = True
                return
            record.answered.append((time.monotonic(), response.status_code))
            if response.status_code != 200:
                record.failures.append(f"refresh {response.status_code} {response.text[:200]}")
                return
            family.token = response.json()["refresh_token"]
            family.issued.append(family.token)


def create_until(stop: threading.Event, server: Server, token: str, prefix: str, record: Driver) -> None:
    with server.client(timeout=10) as http:
        n = 0
        while not stop.is_set():
            n += 1
            email = f"{prefix}-{n}@example.com"
            body = {"email": email, "password": "a long password 1"}
            try:
                response = http.post("/t/acme/api/users", json=body, headers=bearer(token))
            except httpx.TransportError:
                record.in_doubt.append(email)
                return
            record.answered.append((time.monotonic(), response.status_code))
            if response.status_code != 201:
                record.failures.append(f"create {response.status_code} {response.text[:200]}")
                return
            record.created.append(email)


def test_one_replica_killed_under_load(ctx, settings, replicas):
    a, b = replicas
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant, refresh_token_grace=60)
    families: dict[str, list[Family]] = {"a": [], "b": []}
    with a.client() as browser:  # one browser session: signed in once, then each authorization is a redirect
        for side in ("a", "b"):
            for _ in range(FAMILIES_PER_REPLICA):
                result = sign_in(browser, "acme", rp.client_id)
                tokens = exchange(browser, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
                assert tokens["status"] == 200
                with inspect_db(ctx) as session:
                    row = session.get(RefreshToken, (tenant.id, sha256_hex(tokens["refresh_token"])))
                    assert row is not None
                families[side].append(Family(row.grant_id, tokens["refresh_token"]))
        api_token = management_token(browser, ctx, tenant, ["manage:users"])

    stop_a, stop_b = threading.Event(), threading.Event()
    records = {"a": Driver(), "b": Driver()}
    threads = []
    for side, server, stop_event in (("a", a, stop_a), ("b", b, stop_b)):
        for family in families[side]:
            threads.append(
                (side, threading.Thread(target=rotate_until, args=(stop_event, server, rp, family, records[side])))
            )
        threads.append(
            (side, threading.Thread(target=create_until, args=(stop_event, server, api_token, side, records[side])))
        )
    for _, thread in threads:
        thread.start()

    _wait_for(lambda: len(records["a"].answered) >= 10 and len(records["b"].answered) >= 10, within=20)
    a.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    a.process.wait(timeout=10)
    _wait_for(lambda: sum(1 for when, _ in records["b"].answered if when > killed_at + 0.5) >= 10, within=20)
    stop_b.set()
    stop_a.set()
    for _, thread in threads:
        thread.join(timeout=20)

    # B carried on: nothing but successes, before and after the kill.
    assert records["b"].failures == [] and records["b"].in_doubt == []
    assert all(family.in_doubt is False for family in families["b"])
    assert records["a"].failures == []

    with inspect_db(ctx) as session:
        emails = [u.email for u in session.exec(select(User).where(User.tenant_id == tenant.id)).all()]
    for side in ("a", "b"):
        for email in records[side].created:  # every 201 is stored, once
            assert emails.count(email) == 1, email
    for email in records["a"].in_doubt:  # unanswered: stored once, or not at all
        assert emails.count(email) <= 1
    assert len(emails) == len(set(emails))

    with b.client() as http:
        for family in families["a"]:  # presented again at B: rotated now, or the lost rotation returned
            if family.in_doubt:
                data = {"grant_type": "refresh_token", "refresh_token": family.token}
                retried = http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret))
                assert retried.status_code == 200, retried.text
                family.token = retried.json()["refresh_token"]
                family.issued.append(family.token)

    with inspect_db(ctx) as session:
        for family in families["a"] + families["b"]:
            rows = session.exec(select(RefreshToken).where(RefreshToken.grant_id == family.grant_id)).all()
            stored = {row.token_hash for row in rows}
            assert {sha256_hex(token) for token in family.issued} <= stored  # every 200 is stored
            live = [row.token_hash for row in rows if row.rotated_at is None]
            assert live == [sha256_hex(family.token)]  # one live token: the client's
            assert session.exec(select(Grant).where(col(Grant.id) == family.grant_id)).one().revoked_at is None
            # The first token and one per rotation answered 200 (a retry returned the one lost at the kill).
            assert len(rows) == 1 + len(family.issued)


def _wait_for(check, within: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "load did not get going"
        time.sleep(0.05)
