"""The database taken away from a running ``identity serve``: its sessions killed (``pg_terminate_backend``),
or the network to it cut for a while (a TCP proxy the test controls). Never a 500: every failure is a 503 in
its endpoint's shape, ``/readyz`` says not ready, ``/healthz`` stays alive, and once the database is back
everything works again without a restart. Nothing is lost or doubled: a request answered 503 changed
nothing (its code, its refresh token still work once), and what was answered 2xx before is stored."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from identity.crypto import sha256_hex
from identity.db import session_scope
from identity.models.grant import AuthorizationCode, RefreshToken
from identity.models.tenant import Tenant
from identity.models.user import User
from tests.api.helpers import bearer, management_token
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, pkce_pair, sign_in
from tests.postgres.servers import Server, has_session, poll, start, stop
from tests.served import metric_value, scrape_metrics
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


def terminate(ctx, name: str) -> int:  # type: ignore[no-untyped-def]
    """Kill every session of one server (its pool's and its listener's); how many there were."""
    with ctx.engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        ).all()
        conn.commit()
    return len(killed)


def listening(ctx, name: str) -> bool:  # type: ignore[no-untyped-def]
    """Has this server's cache invalidation listener (re)connected?"""
    return has_session(ctx, name, "query LIKE 'LISTEN%'")


def unavailable(response: httpx.Response) -> bool:
    """A 503 in the endpoint's shape (JSON error or problem+json), with Retry-After: what a client retries."""
    if response.status_code != 503 or "retry-after" not in response.headers:
        return False
    body = response.json()
    return body.get("error") == "temporarily_unavailable" or str(body.get("type", "")).endswith(
        "/temporarily_unavailable"
    )


def acceptable(response: httpx.Response) -> bool:
    """What a client may see while the database is away: success, or a clean 503 (readiness: not ready)."""
    if response.request.url.path == "/readyz" and response.status_code == 503:
        return bool(response.json()["status"] == "not_ready")
    return response.status_code == 200 or unavailable(response)


def refresh(http: httpx.Client, rp, token: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret))


@pytest.fixture
def acme(ctx):  # type: ignore[no-untyped-def]
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return tenant, make_client(ctx, tenant)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        stop(server)


def test_killed_sessions_are_503_at_worst_and_recovered_from_at_once(ctx, settings, acme, servers):
    tenant, rp = acme
    server = start(settings, "faults-killed", cache_seconds="300")  # cached until told otherwise
    servers.append(server)
    with server.client() as http:
        first = sign_in(http, "acme", rp.client_id)
        current = exchange(http, "acme", rp.client_id, rp.client_secret, first["code"], first["_verifier"])
        token = management_token(http, ctx, tenant, ["manage:users"])
        poll(lambda: listening(ctx, server.name), within=10)

        answers: list[httpx.Response] = []

        def one_round() -> bool:
            nonlocal current
            ready = http.get("/readyz")
            rotated = refresh(http, rp, current["refresh_token"])
            if rotated.status_code == 200:
                current = rotated.json()  # a 503 rotation changed nothing: the same token is used again
            users = http.get("/t/acme/api/users", headers=bearer(token))
            discovery = http.get("/t/acme/.well-known/openid-configuration")
            answers.extend((ready, rotated, users, discovery))
            return all(a.status_code == 200 for a in (ready, rotated, users, discovery))

        for _ in range(2):  # killed twice: the second time, the pool and the listener are fresh ones
            assert terminate(ctx, server.name) >= 2  # at least a pooled session and the listener
            poll(one_round, within=10, interval=0.05)
            assert all(acceptable(a) for a in answers), [
                (a.request.url.path, a.status_code, a.text[:200]) for a in answers if a.status_code != 200
            ]
            poll(lambda: listening(ctx, server.name), within=10)  # invalidations are heard again

        # The listener is back for real, and the cache trusted again. A change made behind the service's
        # back (raw SQL: no notification) is not seen: the tenant is served from memory...
        assert http.get("/t/acme/.well-known/openid-configuration").status_code == 200
        with ctx.engine.begin() as conn:
            conn.execute(text("UPDATE tenants SET status = 'suspended' WHERE id = :id"), {"id": tenant.id})
        assert http.get("/t/acme/.well-known/openid-configuration").status_code == 200
        # ...and a change made the service's way (its notification) reaches that memory at once.
        with session_scope(ctx.sessions) as session:
            row = session.get(Tenant, tenant.id)
            row.status_reason = "incident"
            session.add(row)
        assert http.get("/t/acme/.well-known/openid-configuration").status_code == 403

    # Every rotation answered 200 was one step of one family: its last token is the only one not rotated.
    with inspect_db(ctx) as session:
        live = session.exec(select(RefreshToken).where(col(RefreshToken.rotated_at).is_(None))).all()
    assert [row.token_hash for row in live] == [sha256_hex(current["refresh_token"])]


def test_database_away_for_a_while(ctx, settings, acme, servers):
    tenant, rp = acme
    database = make_url(settings.database_url)
    proxy = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
    try:
        server = start(settings, "faults-outage", database_port=proxy.port)
        servers.append(server)
        _outage(ctx, server, proxy, tenant, rp)
    finally:
        proxy.close()


def _outage(ctx, server: Server, proxy: TcpProxy, tenant, rp) -> None:  # type: ignore[no-untyped-def]
    with server.client() as http:
        first = sign_in(http, "acme", rp.client_id)
        tokens = exchange(http, "acme", rp.client_id, rp.client_secret, first["code"], first["_verifier"])
        pending = sign_in(http, "acme", rp.client_id)  # a code the client redeems only after the outage
        just_before = refresh(http, rp, tokens["refresh_token"])  # rotated just before the cut
        assert just_before.status_code == 200
        token = management_token(http, ctx, tenant, ["manage:users"])
        machine = make_client(ctx, tenant, name="Reports", redirect_uris=[], grant_types=["client_credentials"])
        m2m = (machine.client_id, machine.client_secret or "")
        warm = http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=m2m)
        assert warm.status_code == 200  # the tenant, the app and the keys are in this server's memory now
        created = http.post(
            "/t/acme/api/users",
            json={"email": "bob@example.com", "password": "a long password 1"},
            headers=bearer(token),
        )
        assert created.status_code == 201
        _, challenge = pkce_pair()
        authorize = authorize_url("acme", rp.client_id, code_challenge=challenge, code_challenge_method="S256")

        proxy.cut()
        not_ready = poll(lambda: (r := http.get("/readyz")).status_code == 503 and r, within=10)
        assert not_ready.json()["status"] == "not_ready"
        assert not_ready.json()["checks"]["database"] in {"unavailable", "timeout"}
        assert http.get("/healthz").status_code == 200  # alive: the orchestrator must not restart it

        redeem = exchange(http, "acme", rp.client_id, rp.client_secret, pending["code"], pending["_verifier"])
        assert redeem["status"] == 503 and redeem["error"] == "temporarily_unavailable"
        rotation = refresh(http, rp, just_before.json()["refresh_token"])
        assert unavailable(rotation) and rotation.headers["cache-control"] == "no-store"
        api = http.get("/t/acme/api/users", headers=bearer(token))
        assert unavailable(api) and api.headers["content-type"] == "application/problem+json"
        page = http.get(authorize)
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        assert "Temporarily unavailable" in page.text and "Traceback" not in page.text
        login = http.get("/t/acme/login?flow=anything")
        assert login.status_code == 503 and "Temporarily unavailable" in login.text
        # Kept away a while (the listener backs off meanwhile). The fast lane's endpoints too: with the
        # invalidation channel gone nothing is served from memory, and their way through the app is a 503.
        away_until = time.monotonic() + 2
        seen: list[httpx.Response] = []
        while time.monotonic() < away_until:
            seen.append(http.get("/t/acme/.well-known/openid-configuration"))
            seen.append(http.get("/t/acme/userinfo", headers=bearer(tokens["access_token"])))
            seen.append(http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=m2m))
            seen.append(refresh(http, rp, just_before.json()["refresh_token"]))
            time.sleep(0.1)
        assert all(unavailable(a) for a in seen), [(a.request.url.path, a.status_code) for a in seen]

        # Every one of them counted for the operators' alert (readiness 503s are not requests refused); the
        # workers write their counts once a second.
        def answered_503() -> float:
            return metric_value(scrape_metrics(server.metrics_url), "identity_db_unavailable_total")

        poll(lambda: answered_503() >= len(seen) + 5, within=10, interval=0.5)

        proxy.restore()
        poll(lambda: http.get("/readyz").status_code == 200, within=20, interval=0.2)

        # The code refused during the outage is redeemed once now, and only once.
        redeemed = exchange(http, "acme", rp.client_id, rp.client_secret, pending["code"], pending["_verifier"])
        assert redeemed["status"] == 200
        again = exchange(http, "acme", rp.client_id, rp.client_secret, pending["code"], pending["_verifier"])
        assert again["status"] == 400 and again["error"] == "invalid_grant"
        # The token rotated just before the cut, refused during it, rotates now: the 503 left no trace.
        after = refresh(http, rp, just_before.json()["refresh_token"])
        assert after.status_code == 200
        listed = http.get("/t/acme/api/users", headers=bearer(token))
        assert listed.status_code == 200
        assert "bob@example.com" in listed.text
        assert http.get(authorize).status_code == 302
    poll(lambda: listening(ctx, server.name), within=15)  # invalidations are heard again

    with inspect_db(ctx) as session:
        code = session.exec(
            select(AuthorizationCode).where(AuthorizationCode.code_hash == sha256_hex(pending["code"]))
        ).one()
        family = session.exec(select(RefreshToken).where(RefreshToken.grant_id == code.grant_id)).all()
        assert len(family) == 1  # one token set for the one redemption
        bobs = session.exec(select(User).where(User.email == "bob@example.com")).all()
        assert len(bobs) == 1


def test_a_database_that_stops_answering_does_not_hang_the_probes(ctx, settings, servers):
    database = make_url(settings.database_url)
    proxy = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
    try:
        server = start(settings, "faults-stalled", database_port=proxy.port)
        servers.append(server)
        with server.client() as http:
            assert http.get("/readyz").status_code == 200
            time.sleep(1.1)  # past the second a success is reused for
            proxy.stall()
            asked = time.monotonic()
            stalled = http.get("/readyz")
            assert time.monotonic() - asked < 5  # readiness.TIMEOUT_SECONDS (2), and slack for a loaded machine
            assert stalled.status_code == 503 and stalled.json()["checks"]["database"] == "timeout"
            assert http.get("/healthz").status_code == 200
            proxy.resume()
            poll(lambda: http.get("/readyz").status_code == 200, within=15, interval=0.2)
    finally:
        proxy.resume()
        proxy.close()
