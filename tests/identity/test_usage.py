"""Tokens issued per tenant: counted in memory, added to token_usage by a flush, never a write per token."""

from sqlmodel import select

from identity.db import session_scope
from identity.models.tenant import TokenUsage
from identity.usage import hour_of
from tests.factories import make_client, make_tenant


def issued(ctx, tenant_id):
    with session_scope(ctx.sessions) as session:
        return sum(row.issued for row in session.exec(select(TokenUsage).where(TokenUsage.tenant_id == tenant_id)))


def client_credentials(http, slug, app):
    response = http.post(
        f"/t/{slug}/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, app.client_secret)
    )
    assert response.status_code == 200


def test_tokens_are_counted_per_tenant_and_added_by_each_flush(http, ctx):
    acme, globex = make_tenant(ctx, "acme"), make_tenant(ctx, "globex")
    app = make_client(ctx, acme, redirect_uris=[], grant_types=["client_credentials"], scopes=[])
    for _ in range(3):
        client_credentials(http, "acme", app)
    assert issued(ctx, acme.id) == 0  # nothing written per token
    ctx.usage.flush(ctx.sessions)
    assert issued(ctx, acme.id) == 3 and issued(ctx, globex.id) == 0
    client_credentials(http, "acme", app)
    ctx.usage.flush(ctx.sessions)
    ctx.usage.flush(ctx.sessions)  # nothing pending: adds nothing
    with session_scope(ctx.sessions) as session:
        rows = list(session.exec(select(TokenUsage).where(TokenUsage.tenant_id == acme.id)))
    assert len(rows) == 1 and rows[0].issued == 4 and rows[0].hour % 3600 == 0


def test_refused_requests_are_not_counted(http, ctx):
    acme = make_tenant(ctx, "acme")
    app = make_client(ctx, acme, redirect_uris=[], grant_types=["client_credentials"], scopes=[])
    response = http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, "wrong"))
    assert response.status_code == 401
    ctx.usage.flush(ctx.sessions)
    assert issued(ctx, acme.id) == 0


def test_counts_of_a_deleted_tenant_are_dropped(ctx):
    ctx.usage.count("no-such-tenant")
    ctx.usage.flush(ctx.sessions)  # the foreign key refuses the row: dropped, not retried forever
    ctx.usage.flush(ctx.sessions)
    assert hour_of(7205) == 7200
