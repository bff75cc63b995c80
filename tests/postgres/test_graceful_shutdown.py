"""SIGTERM to ``identity serve`` (a rolling update, a node drain): it stops accepting connections, lets the
requests in flight finish within ``IDENTITY_SHUTDOWN_GRACE_SECONDS``, and exits 0 within that bound, even
when a request never finishes. A request is held in flight for real: the test holds the row lock of the
authorization code the request must mark used."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from identity.crypto import sha256_hex
from tests.factories import make_client, make_tenant, make_user
from tests.flow import exchange, sign_in
from tests.postgres.servers import Server, has_session, poll, start, stop

pytestmark = pytest.mark.postgres
GRACE = 8
CLEANUP = 3  # identity.app.SHUTDOWN_CLEANUP_SECONDS: the lifespan's bounded cleanup after the grace


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        stop(server)


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def waiting_on_a_lock(ctx, name: str) -> bool:  # type: ignore[no-untyped-def]
    return has_session(ctx, name, "wait_event_type = 'Lock'")


def held_exchange(ctx, settings, server: Server, grace: int):  # type: ignore[no-untyped-def]
    """A code redemption in flight at ``server``, blocked on the code's row lock the test holds: the lock's
    connection, the redemption's outcome (filled in when it returns) and its thread."""
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    with server.client() as http:
        result = sign_in(http, "acme", rp.client_id)
    lock = psycopg.connect(make_url(settings.database_url).set(drivername="postgresql").render_as_string(False))
    lock.execute("SELECT 1 FROM authorization_codes WHERE code_hash = %s FOR UPDATE", [sha256_hex(result["code"])])
    outcome: dict[str, Any] = {}

    def redeem() -> None:
        try:
            with server.client(timeout=grace + 10) as http:
                outcome.update(
                    exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
                )
        except Exception as error:  # noqa: BLE001 - the connection closed under it: what the test looks at
            outcome["error"] = error

    thread = threading.Thread(target=redeem)
    thread.start()
    poll(lambda: waiting_on_a_lock(ctx, server.name), within=10)
    return lock, outcome, thread, (rp, result)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_the_request_in_flight_finish(ctx, settings, servers, workers):
    server = start(settings, f"shutdown-{workers}", shutdown_grace_seconds=str(GRACE), workers=str(workers))
    servers.append(server)
    lock, outcome, thread, _ = held_exchange(ctx, settings, server, GRACE)
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    if workers == 1:  # (several workers: the supervisor keeps the shared socket open until it exits)
        poll(lambda: refused(server.port), within=5)  # no new connections while the last request finishes
    time.sleep(0.5)  # the request is still held meanwhile
    assert thread.is_alive()
    lock.rollback()  # the lock goes: the redemption proceeds
    lock.close()
    thread.join(timeout=GRACE)
    assert outcome.get("status") == 200 and outcome.get("access_token"), outcome
    assert server.process.wait(timeout=GRACE + CLEANUP + 5) == 0
    assert time.monotonic() - sent < GRACE
    assert refused(server.port)


def test_a_request_that_never_finishes_does_not_hold_the_exit(ctx, settings, servers):
    grace = 2
    server = start(settings, "shutdown-stuck", shutdown_grace_seconds=str(grace))
    servers.append(server)
    lock, outcome, thread, result = held_exchange(ctx, settings, server, grace)
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=grace + CLEANUP + 10) == 0
    assert time.monotonic() - sent < grace + CLEANUP + 4  # (slack for a loaded machine)
    thread.join(timeout=5)
    assert outcome.get("status") != 200  # its connection closed unanswered (or an error), never a success
    lock.rollback()
    lock.close()
    # The abandoned redemption committed nothing: the code is redeemed, once, by the next server.
    rp, code = result
    successor = start(settings, "shutdown-next")
    servers.append(successor)
    with successor.client() as http:
        redeemed = exchange(http, "acme", rp.client_id, rp.client_secret, code["code"], code["_verifier"])
    assert redeemed["status"] == 200
