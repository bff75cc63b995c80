"""Real concurrency on PostgreSQL: N simultaneous registrations with an initial access token that has uses
left for fewer of them register exactly that many clients (the use is spent by one conditional UPDATE)."""

import pytest
from sqlmodel import select

from identity.db import session_scope
from identity.models.client import Client
from identity.models.registration import InitialAccessToken
from identity.models.tenant import Tenant
from tenants.audit import CLI
from tenants.manage.initial_tokens import create_initial_token
from tests.factories import REDIRECT_URI, inspect_db, make_tenant
from tests.postgres.test_concurrency import N, race

pytestmark = pytest.mark.postgres
USES = 2


def test_an_initial_token_registers_no_more_clients_than_its_uses_under_concurrency(live_server):
    tenant = make_tenant(live_server.ctx, dynamic_registration="token")
    with session_scope(live_server.ctx.sessions) as session:
        new = create_initial_token(
            session, live_server.ctx, session.get(Tenant, tenant.id), CLI, label="race", lifetime_days=1, max_uses=USES
        )
    body = {"client_name": "Racer", "redirect_uris": [REDIRECT_URI]}
    headers = {"Authorization": f"Bearer {new.token}"}
    answers = race(live_server.url, lambda client: client.post("/t/acme/clients", json=body, headers=headers))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * USES + [401] * (N - USES), statuses
    with inspect_db(live_server.ctx) as session:
        assert session.get(InitialAccessToken, (tenant.id, new.row.id)).uses == USES
        assert len(session.exec(select(Client).where(Client.registered_dynamically == True)).all()) == USES  # noqa: E712
