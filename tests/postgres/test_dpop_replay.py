"""DPoP proof replay under real concurrency on PostgreSQL: N requests carrying one proof at the same moment
(on a live server, several threads, so several database connections as several replicas would have):
exactly one is accepted. The jti store is the database, not a process's memory."""

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlmodel import select

from identity.models.grant import DPoPProofJti
from tests.factories import inspect_db, make_client, make_tenant
from tests.identity.test_dpop import proof
from tests.postgres.test_concurrency import N, race

pytestmark = pytest.mark.postgres


def test_one_proof_sent_n_times_at_once_is_accepted_once(live_server):
    tenant = make_tenant(live_server.ctx)
    app = make_client(
        live_server.ctx, tenant, name="W", redirect_uris=[], grant_types=["client_credentials"], scopes=[]
    )
    key = ECKey.generate_key("P-256")
    used = proof(key, f"{live_server.url}/t/acme/token")

    def send(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/t/acme/token",
            data={"grant_type": "client_credentials"},
            auth=(app.client_id, app.client_secret),
            headers={"DPoP": used},
        )

    answers = race(live_server.url, send)
    assert sorted(a.status_code for a in answers) == [200] + [400] * (N - 1)
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_dpop_proof"}
    with inspect_db(live_server.ctx) as session:
        assert len(session.exec(select(DPoPProofJti).where(DPoPProofJti.tenant_id == tenant.id)).all()) == 1
