"""The portal's audit log, over HTTP: columns, newest first, 50 a page, the action filter, retention, who
may see it, and that it shows only the tenant's own events."""

import re

from sqlmodel import select

from identity.clock import now
from identity.models.audit import AuditEvent
from tenants import audit
from tests.factories import inspect_db
from tests.tenants.portal_helpers import create_app, sign_up
from tests.tenants.test_portal_settings import audit_events, owner_actor, sign_in_member, tenant_row


def seed(ctx, slug: str, count: int, *, action: str = "client.updated", start_age: int = 0) -> None:
    """``count`` real events, one second apart, the newest ``start_age`` seconds old (target app-0)."""
    tenant = tenant_row(ctx, slug)
    stamp = now() - start_age
    with inspect_db(ctx) as session:
        for i in range(count):
            session.add(
                AuditEvent(
                    tenant_id=tenant.id,
                    actor="cli",
                    action=action,
                    target=f"app-{i}",
                    ip="203.0.113.7",
                    details={"n": i},
                    created_at=stamp - i,
                )
            )


def targets(html: str) -> list[str]:
    return re.findall(r"<td><code>([^<]*)</code></td>\s*<td>[^<]*</td>\s*<td>", html)


def rows(html: str) -> int:
    return html.count("<time datetime=")


def test_owner_sees_the_events_with_every_column(http, ctx):
    sign_up(http)
    with inspect_db(ctx) as session:  # timestamps are whole seconds: make the order unambiguous
        for event in session.exec(select(AuditEvent)).all():
            event.created_at -= 5
            session.add(event)
    client_id, _, _ = create_app(http, "globex")
    page = http.get("/t/globex/portal/audit")
    assert page.status_code == 200
    for column in ("Time", "Actor", "Action", "Target", "IP", "Details"):
        assert f'<th scope="col">{column}</th>' in page.text
    html = page.text
    assert "<code>client.created</code>" in html and "<code>tenant.created</code>" in html
    assert html.index("client.created") < html.index("tenant.created")  # newest first
    assert f"<code>{client_id}</code>" in html and "owner@globex.test" in html
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\">", html)
    assert '<span class="muted">name:</span> Shop' in html and "testclient" in html
    user_id = owner_actor(ctx).split()[0].removeprefix("user:")
    assert f"user {user_id}" in html


def test_fifty_a_page_newest_first(http, ctx):
    sign_up(http)
    seed(ctx, "globex", 120, start_age=-1000)  # newer than sign-up, so app-0 comes first
    first = http.get("/t/globex/portal/audit")
    assert rows(first.text) == 50 and "Events 1–50 of 121" in first.text
    assert targets(first.text)[:3] == ["app-0", "app-1", "app-2"]
    assert 'href="/t/globex/portal/audit?page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
    third = http.get("/t/globex/portal/audit?page=3")
    assert rows(third.text) == 21 and "Events 101–121 of 121" in third.text
    assert targets(third.text)[-1] == "globex" and 'rel="next"' not in third.text
    assert 'href="/t/globex/portal/audit?page=2" rel="prev"' in third.text
    # Bad or out-of-range page numbers never fail: the first or the last page.
    for query, shown in (
        ("page=abc", "Events 1–50"),
        ("page=0", "Events 1–50"),
        ("page=-3", "Events 1–50"),
        ("page=99", "Events 101–121"),
        ("page=" + "9" * 30, "Events 1–50"),
    ):
        response = http.get(f"/t/globex/portal/audit?{query}")
        assert response.status_code == 200 and shown in response.text, query


def test_filter_by_action_prefix_and_pages_keep_the_filter(http, ctx):
    sign_up(http)
    seed(ctx, "globex", 60, action="client.updated", start_age=-1000)
    seed(ctx, "globex", 5, action="scope.created", start_age=-2000)
    client = http.get("/t/globex/portal/audit?action=client.")
    assert "Events 1–50 of 60" in client.text and "scope.created" not in client.text.split("<table")[1]
    assert 'href="/t/globex/portal/audit?action=client.&amp;page=2" rel="next"' in client.text
    assert 'value="client."' in client.text
    scopes = http.get("/t/globex/portal/audit?action=scope.created")
    assert rows(scopes.text) == 5 and "client.updated" not in scopes.text.split("<table")[1]
    none = http.get("/t/globex/portal/audit?action=member.")
    assert none.status_code == 200 and "No events whose action starts with" in none.text


def test_a_bad_filter_is_explained_on_its_field(http, ctx):
    sign_up(http)
    for bad in ("%", "client%", "Client.", "<script>", "x" * 81):
        response = http.get("/t/globex/portal/audit", params={"action": bad})
        assert response.status_code == 400
        assert re.search(
            r'<ul class="field-errors" id="action-errors">\s*<li>Use the start of an action name', response.text
        )
        assert 'aria-describedby="action-help action-errors" aria-invalid="true"' in response.text
        assert "<script>" not in response.text


def test_opening_the_page_purges_events_past_retention(http, ctx):
    sign_up(http)
    seed(ctx, "globex", 3, action="client.updated", start_age=366 * 86400)  # older than the default 365 days
    seed(ctx, "globex", 2, action="scope.created", start_age=364 * 86400)
    assert len(audit_events(ctx)) == 6
    page = http.get("/t/globex/portal/audit")
    assert "client.updated" not in page.text and rows(page.text) == 3
    assert [e.action for e in audit_events(ctx)].count("client.updated") == 0
    assert len(audit_events(ctx)) == 3
    assert "kept for 365 days" in page.text


def test_only_the_tenants_own_events_are_shown(http, ctx):
    sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    tenant = tenant_row(ctx, "initech")
    with inspect_db(ctx) as session:
        audit.record(session, tenant.id, audit.CLI, "client.deleted", "initech-secret-app")
    http.cookies.clear()
    sign_up(http)
    page = http.get("/t/globex/portal/audit")
    assert "initech-secret-app" not in page.text and "owner@initech.test" not in page.text
    assert "Events 1–1 of 1" in page.text
    # Initech's log: Globex's owner has no session there.
    response = http.get("/t/initech/portal/audit")
    assert response.status_code == 303 and response.headers["location"].startswith("/t/initech/portal/login")


def test_developer_gets_403(http, ctx):
    sign_up(http)
    sign_in_member(http, ctx, "globex", "dev@globex.test", "developer")
    response = http.get("/t/globex/portal/audit")
    assert response.status_code == 403 and "needs the admin role; you are a developer" in response.text
    assert "tenant.created" not in response.text


def test_admin_may_read_it(http, ctx):
    sign_up(http)
    sign_in_member(http, ctx, "globex", "admin@globex.test", "admin")
    response = http.get("/t/globex/portal/audit")
    assert response.status_code == 200 and "<code>tenant.created</code>" in response.text


def test_reading_the_log_records_nothing(http, ctx):
    sign_up(http)
    http.get("/t/globex/portal/audit")
    http.get("/t/globex/portal/audit?page=2&action=client.")
    with inspect_db(ctx) as session:
        assert [e.action for e in session.exec(select(AuditEvent)).all()] == ["tenant.created"]


def test_details_are_shown_as_readable_lines(http, ctx):
    sign_up(http)
    tenant = tenant_row(ctx)
    with inspect_db(ctx) as session:
        audit.record(
            session,
            tenant.id,
            audit.CLI,
            "tenant.settings_updated",
            "globex",
            changed={"primary_color": "#fde047", "signup_open": True},
            note="<b>hi</b>",
        )
    html = http.get("/t/globex/portal/audit").text
    assert '<span class="muted">changed primary_color:</span> #fde047' in html
    assert '<span class="muted">changed signup_open:</span> true' in html
    assert '<span class="muted">note:</span> &lt;b&gt;hi&lt;/b&gt;' in html
    assert "<td>cli</td>" in html
