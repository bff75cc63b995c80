"""The back-channel logout outbox on PostgreSQL, as several replicas use it: senders leasing due rows at
the same moment never take the same row, so no logout token is sent twice at once."""

import threading

import pytest
from sqlmodel import select

from identity.logout_delivery import lease_due
from identity.models.grant import LogoutDelivery
from tests.factories import inspect_db, make_client, make_tenant

pytestmark = pytest.mark.postgres
SENDERS = 6
ROWS = 30


def test_concurrent_senders_lease_disjoint_rows(ctx):
    tenant = make_tenant(ctx)
    rp = make_client(ctx, tenant, backchannel_logout_uri="https://app.example.com/bc")
    with inspect_db(ctx) as db:
        for n in range(ROWS):
            db.add(
                LogoutDelivery(
                    tenant_id=tenant.id, client_id=rp.client_id, uri="https://app.example.com/bc", user_id=f"u{n}"
                )
            )
        db.commit()
    barrier = threading.Barrier(SENDERS)
    leased: list[list[str]] = []
    lock = threading.Lock()

    def sender() -> None:
        with ctx.sessions() as session:
            barrier.wait()
            rows = [row.id for row in lease_due(session, limit=ROWS)]
        with lock:
            leased.append(rows)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    taken = [row for rows in leased for row in rows]
    assert len(taken) == len(set(taken)) == ROWS  # every row leased, none twice
    with inspect_db(ctx) as db:
        assert len(db.exec(select(LogoutDelivery)).all()) == ROWS
