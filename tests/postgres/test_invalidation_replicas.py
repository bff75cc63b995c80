"""Two server processes on one PostgreSQL, each with a long cache life: a change committed through one
(or by any other process, as the CLI would) is honoured by the other on its very next request, through
PostgreSQL LISTEN/NOTIFY (identity.invalidation)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from identity.db import session_scope, tenant_query
from identity.models.client import Client
from identity.models.tenant import Tenant
from identity.settings import Settings
from tenants.audit import CLI
from tenants.manage import apps
from tenants.manage.tenants import suspend_tenant
from tests.conftest import PUBLIC_URL, free_port
from tests.factories import make_client, make_tenant, make_user
from tests.flow import exchange, sign_in
from tests.postgres.servers import ToPort

pytestmark = pytest.mark.postgres


def _serve(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": settings.database_url,
        "IDENTITY_SECRET_KEY": settings.secret_key,  # the test's keys sign and decrypt on both
        "IDENTITY_PUBLIC_URL": PUBLIC_URL,  # one issuer for both, as behind one load balancer
        "IDENTITY_CACHE_SECONDS": "300",
        "IDENTITY_USAGE_FLUSH_SECONDS": "3600",
    }
    command = [sys.executable, "-m", "identity.cli", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env), f"http://127.0.0.1:{port}"


def _up(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited"
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


@pytest.fixture
def replicas(settings: Settings) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    servers: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for _ in range(2):  # one after the other: a dev server provisions the demo tenant as it starts
            servers.append(_serve(settings))
            _up(*servers[-1])
        with _client(servers[0][1]) as a, _client(servers[1][1]) as b:
            yield a, b
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            process.wait(timeout=15)


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=PUBLIC_URL, transport=ToPort(int(base.rsplit(":", 1)[1])))


def _introspect(http: httpx.Client, resource, token: str) -> bool:  # type: ignore[no-untyped-def]
    response = http.post("/t/acme/introspect", data={"token": token}, auth=(resource.client_id, resource.client_secret))
    assert response.status_code == 200
    return bool(response.json()["active"])


def test_revoked_on_a_refused_by_b_on_the_very_next_request(ctx, replicas):
    a, b = replicas
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    resource = make_client(ctx, tenant, name="Reports API", grant_types=["client_credentials"], scopes=[])
    result = sign_in(a, "acme", rp.client_id, scope="openid email")
    tokens = exchange(a, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    for _ in range(3):  # B has the grant, the client and the tenant in memory
        assert b.get("/t/acme/userinfo", headers=headers).status_code == 200
        assert _introspect(b, resource, tokens["access_token"])
        m2m = b.post(
            "/t/acme/token",
            data={"grant_type": "client_credentials"},
            auth=(resource.client_id, resource.client_secret),
        )
        assert m2m.status_code == 200
        assert b.get("/t/acme/.well-known/openid-configuration").status_code == 200

    # The code replayed at A: its grant is revoked, and B knows on its next request.
    assert exchange(a, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])["status"] == 400
    assert b.get("/t/acme/userinfo", headers=headers).status_code == 401
    assert not _introspect(b, resource, tokens["access_token"])

    # Revocation (RFC 7009) at A of a second sign-in's access token, then of its refresh token: B refuses each
    # at once, having answered from memory a moment before.
    second = sign_in(a, "acme", rp.client_id, scope="openid email offline_access")
    fresh = exchange(a, "acme", rp.client_id, rp.client_secret, second["code"], second["_verifier"])
    renewed = a.post(
        "/t/acme/token",
        data={"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]},
        auth=(rp.client_id, rp.client_secret),
    ).json()
    for access_token in (fresh["access_token"], renewed["access_token"]):
        for _ in range(2):
            assert b.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code == 200
    revoked = a.post("/t/acme/revoke", data={"token": fresh["access_token"]}, auth=(rp.client_id, rp.client_secret))
    assert revoked.status_code == 200
    assert b.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 401
    assert b.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {renewed['access_token']}"}).status_code == 200
    ended = a.post("/t/acme/revoke", data={"token": renewed["refresh_token"]}, auth=(rp.client_id, rp.client_secret))
    assert ended.status_code == 200
    assert b.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {renewed['access_token']}"}).status_code == 401

    # The resource app deleted by another process (as the CLI would): B refuses its credentials at once.
    with session_scope(ctx.sessions) as session:
        client = session.exec(tenant_query(Client, tenant.id).where(Client.id == resource.client_id)).one()
        apps.delete_app(session, tenant, CLI, client)
    refused = b.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(resource.client_id, resource.client_secret)
    )
    assert refused.status_code == 401

    # The tenant suspended: B's discovery, from memory a moment ago, is a 403 now.
    with session_scope(ctx.sessions) as session:
        suspend_tenant(session, ctx.encryptor, CLI, session.get(Tenant, tenant.id), "incident")
    assert b.get("/t/acme/.well-known/openid-configuration").status_code == 403
    assert a.get("/t/acme/.well-known/openid-configuration").status_code == 403
