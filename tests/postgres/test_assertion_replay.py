"""Real concurrency on PostgreSQL: one client assertion presented by N requests at the same moment
authenticates exactly one of them (its jti is claimed by one insert; the others are refused)."""

from __future__ import annotations

import threading

import pytest

from identity import assertion_replay
from identity.clock import now
from tests.assertions import assertion, form, new_key, public_jwks
from tests.factories import make_client, make_scope, make_tenant
from tests.postgres.test_concurrency import N, race

pytestmark = pytest.mark.postgres


def test_one_assertion_sent_concurrently_authenticates_once(live_server):
    tenant = make_tenant(live_server.ctx)
    make_scope(live_server.ctx, tenant, "read:reports", "Read reports")
    key = new_key("ES256")
    app = make_client(
        live_server.ctx,
        tenant,
        grant_types=["client_credentials"],
        scopes=["read:reports"],
        redirect_uris=[],
        token_endpoint_auth_method="private_key_jwt",
        jwks=public_jwks(key),
    )
    signed = assertion(key, app.client_id, f"{live_server.url}/t/acme/token", alg="ES256")
    data = form(signed, grant_type="client_credentials")
    answers = race(live_server.url, lambda client: client.post("/t/acme/token", data=data))
    assert sorted(a.status_code for a in answers) == [200] + [401] * (N - 1)
    refusals = {a.json()["error_description"] for a in answers if a.status_code == 401}
    assert refusals == {"The assertion was already used (its jti is spent)."}


def test_concurrent_claims_of_one_jti_one_wins(ctx):
    tenant = make_tenant(ctx)
    app = make_client(ctx, tenant, grant_types=["client_credentials"], redirect_uris=[])
    barrier = threading.Barrier(N)
    results: list[bool] = []

    def claim() -> None:
        barrier.wait()
        results.append(assertion_replay.claim(ctx.sessions, tenant.id, app.client_id, "the-jti", now() + 60))

    threads = [threading.Thread(target=claim) for _ in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * (N - 1) + [True]
