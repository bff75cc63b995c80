"""The admin console over HTTP: the tenants list and its counts, creating (with the owner's invitation),
suspending, resuming, renaming and deleting tenants, the audit events each change leaves, and the
platform-wide audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from identity.browser import end_session, start_session
from identity.models.audit import AuditEvent
from identity.models.tenant import Tenant
from tenants.audit import CLI, record
from tenants.resolution import find_tenant
from tests.admin.helpers import actor_of, cells, csrf, form_token, make_admin, platform_events, sign_in
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange
from tests.flow import sign_in as user_signs_in
from tests.tenants.portal_helpers import OWNER_PASSWORD


@pytest.fixture
def admin(http, ctx):  # type: ignore[no-untyped-def]
    row = make_admin(ctx)
    sign_in(http)
    return row


def tenant_row(ctx, slug: str) -> Tenant | None:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        return find_tenant(session, slug)


def rows_by_slug(page_html: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in cells(page_html)}


def post_form(http, page_path: str, action: str, **data: str):  # type: ignore[no-untyped-def]
    return http.post(action, data={"csrf_token": form_token(http, page_path), **data})


def create(http, slug: str, name: str, owner_email: str = ""):  # type: ignore[no-untyped-def]
    return post_form(http, "/admin/new-tenant", "/admin/new-tenant", slug=slug, name=name, owner_email=owner_email)


def suspend(http, slug: str, reason: str = ""):  # type: ignore[no-untyped-def]
    return post_form(http, f"/admin/tenants/{slug}", f"/admin/tenants/{slug}/suspend", reason=reason)


def resume(http, slug: str):  # type: ignore[no-untyped-def]
    return post_form(http, f"/admin/tenants/{slug}", f"/admin/tenants/{slug}/resume")


def client_credentials(http, slug: str, m2m) -> object:  # type: ignore[no-untyped-def]
    return http.post(
        f"/t/{slug}/token", data={"grant_type": "client_credentials"}, auth=(m2m.client_id, m2m.client_secret)
    )


def only_event(ctx, action: str) -> AuditEvent:  # type: ignore[no-untyped-def]
    events = platform_events(ctx, action)
    assert len(events) == 1, [(e.action, e.target) for e in events]
    return events[0]


# -- the list ---------------------------------------------------------------------------------------


def test_the_list_shows_every_customer_tenant_with_its_counts(http, ctx, admin):
    acme = make_tenant(ctx, "acme", "Acme Corp")
    make_tenant(ctx, "globex", "Globex Inc")
    alice = make_user(ctx, acme)
    make_user(ctx, acme, email="bob@example.com")
    make_client(ctx, acme)
    m2m = make_client(ctx, acme, name="Batch", grant_types=["client_credentials"], redirect_uris=[])
    with inspect_db(ctx) as session:
        start_session(session, acme, alice, None)
        ended = start_session(session, acme, alice, None)
    with inspect_db(ctx) as session:
        end_session(session, acme, ended)  # an ended session is not active
    for _ in range(3):
        assert client_credentials(http, "acme", m2m).status_code == 200
    ctx.usage.flush(ctx.sessions)

    page = http.get("/admin/tenants")
    assert page.status_code == 200
    rows = rows_by_slug(page.text)
    assert list(rows) == ["acme", "globex"]  # by slug; the platform tenant is never listed
    assert rows["acme"] == ["Acme Corp", "Active", "2", "2", "1", "3"]  # users, apps, active sessions, tokens 24 h
    assert rows["globex"] == ["Globex Inc", "Active", "0", "0", "0", "0"]
    assert "2 tenants" in page.text
    for header in ("Users", "Apps", "Active sessions", "Tokens 24 h"):
        assert f'class="num">{header}</th>' in page.text


def test_search_status_filter_and_pages(http, ctx, admin):
    for number in range(30):
        make_tenant(ctx, f"shop-{number:02d}", f"Shop number {number}")
    make_tenant(ctx, "acme", "Acme Corp")
    suspend(http, "shop-07", "unpaid")

    found = rows_by_slug(http.get("/admin/tenants?q=ACME").text)  # slug or name, any case
    assert list(found) == ["acme"]
    by_name = rows_by_slug(http.get("/admin/tenants?q=number 1").text)
    assert list(by_name) == ["shop-01", *[f"shop-{n}" for n in range(10, 20)]]
    suspended = rows_by_slug(http.get("/admin/tenants?status=suspended").text)
    assert list(suspended) == ["shop-07"] and suspended["shop-07"][1] == "Suspended"
    assert "shop-07" not in rows_by_slug(http.get("/admin/tenants?status=active&q=shop-0").text)
    none = http.get("/admin/tenants?q=nothing-like-this")
    assert none.status_code == 200 and "No tenants match" in none.text
    assert "No tenants match" in http.get("/admin/tenants?q=%25").text  # LIKE wildcards are plain text

    first = http.get("/admin/tenants")
    assert len(cells(first.text)) == 25 and "Page 1 of 2" in first.text and "31 tenants" in first.text
    assert 'href="/admin/tenants?page=2"' in first.text
    second = http.get("/admin/tenants?page=2")
    assert [row[0] for row in cells(second.text)] == [f"shop-{n:02d}" for n in range(24, 30)]
    assert "Page 2 of 2" in http.get("/admin/tenants?page=99").text  # past the end: the last page
    filtered = http.get("/admin/tenants?q=shop&page=2")
    assert 'href="/admin/tenants?q=shop&amp;page=1"' in filtered.text


# -- creating ---------------------------------------------------------------------------------------


def test_creating_a_tenant_gives_a_working_issuer_and_a_one_time_owner_invitation(http, ctx, admin, app):
    created = create(http, "initech", "Initech", "boss@initech.test")
    assert created.status_code == 303 and created.headers["location"] == "/admin/tenants/initech?notice=created"
    page = http.get(created.headers["location"])
    assert page.status_code == 200 and "The tenant was created" in page.text
    link = re.search(r'id="invitation-link" type="text" value="([^"]+)"', page.text).group(1)
    assert link.startswith("http://127.0.0.1:8000/t/initech/portal/invitations/")
    assert "http://127.0.0.1:8000/t/initech/.well-known/openid-configuration" in page.text
    assert 'id="invitation-link"' not in http.get("/admin/tenants/initech").text  # shown once

    discovery = http.get("/t/initech/.well-known/openid-configuration")
    assert discovery.status_code == 200 and discovery.json()["issuer"] == "http://127.0.0.1:8000/t/initech"

    event = only_event(ctx, "tenant.created")
    assert (event.actor, event.target, event.details["name"]) == (actor_of(admin), "initech", "Initech")
    assert event.details["owner_invited"] == "boss@initech.test"
    token = link.rsplit("/", 1)[1]
    assert token not in str(event.details)

    # The owner opens the link in their own browser and joins as owner.
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as owner:
        invitation = owner.get(link.removeprefix("http://127.0.0.1:8000"))
        assert invitation.status_code == 200 and "Join Initech" in invitation.text and "owner" in invitation.text
        joined = owner.post(
            link.removeprefix("http://127.0.0.1:8000"),
            data={"csrf_token": csrf(invitation.text), "name": "The Boss", "password": OWNER_PASSWORD},
        )
        assert joined.status_code == 303 and joined.headers["location"] == "/t/initech/portal"
        assert "boss@initech.test · owner" in owner.get("/t/initech/portal").text


def test_creating_refuses_bad_input_and_taken_slugs_with_nothing_created(http, ctx, admin):
    make_tenant(ctx, "acme", "Acme Corp")
    taken = create(http, "acme", "Another Acme")
    assert taken.status_code == 409 and "This name is taken." in taken.text
    bad = create(http, "No Good!", "", "not-an-email")
    assert bad.status_code == 422
    for message in ("3–40 lowercase letters", "Enter the organisation", "not a valid email address"):
        assert message in bad.text
    assert 'aria-describedby="slug-help slug-errors"' in bad.text and 'value="No Good!"' in bad.text
    reserved = create(http, "platform", "Platform copy")
    assert reserved.status_code == 422 and "reserved" in reserved.text
    assert platform_events(ctx, "tenant.") == []
    assert tenant_row(ctx, "acme").name == "Acme Corp"


# -- suspending and resuming ------------------------------------------------------------------------


def test_suspending_stops_every_endpoint_and_resuming_restores_them(http, ctx, admin):
    acme = make_tenant(ctx, "acme", "Acme Corp")
    make_user(ctx, acme)
    rp = make_client(ctx, acme, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    redirect = user_signs_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, redirect["code"], redirect["_verifier"])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert http.get("/t/acme/userinfo", headers=bearer).status_code == 200
    discovery = "/t/acme/.well-known/openid-configuration"

    refused = suspend(http, "acme", "x" * 501)
    assert refused.status_code == 422 and "at most 500" in refused.text and not tenant_row(ctx, "acme").is_suspended
    done = suspend(http, "acme", "Invoice 42 is overdue.")
    assert done.status_code == 303 and done.headers["location"] == "/admin/tenants/acme?notice=suspended"
    detail = http.get(done.headers["location"])
    assert "This tenant is suspended" in detail.text and "Invoice 42 is overdue." in detail.text
    assert "Resume tenant" in detail.text and "Suspend tenant" not in detail.text
    event = only_event(ctx, "tenant.suspended")
    assert (event.actor, event.target, event.details) == (actor_of(admin), "acme", {"reason": "Invoice 42 is overdue."})

    gone = http.get(discovery)
    assert gone.status_code == 403 and gone.json()["error"] == "tenant_suspended"
    token = client_credentials(http, "acme", rp)
    assert token.status_code == 403 and token.json()["error"] == "tenant_suspended"
    userinfo = http.get("/t/acme/userinfo", headers=bearer)
    assert userinfo.status_code in {401, 403} and "sub" not in userinfo.text
    for page_path in ("/t/acme/portal", "/t/acme/portal/login"):
        page = http.get(page_path)
        assert page.status_code == 403 and "text/html" in page.headers["content-type"]
        assert "Acme Corp is suspended" in page.text and "Reason: Invoice 42 is overdue." in page.text
        assert page.headers["cache-control"] == "no-store"
    # Suspending again changes nothing and records nothing.
    assert suspend(http, "acme").headers["location"] == "/admin/tenants/acme?notice=unchanged"
    assert len(platform_events(ctx, "tenant.suspended")) == 1

    back = resume(http, "acme")
    assert back.status_code == 303 and back.headers["location"] == "/admin/tenants/acme?notice=resumed"
    event = only_event(ctx, "tenant.resumed")
    assert (event.actor, event.target) == (actor_of(admin), "acme")
    assert http.get(discovery).status_code == 200
    assert client_credentials(http, "acme", rp).status_code == 200
    assert http.get("/t/acme/userinfo", headers=bearer).status_code == 200
    assert tenant_row(ctx, "acme").status_reason == ""
    assert resume(http, "acme").headers["location"] == "/admin/tenants/acme?notice=unchanged"
    assert len(platform_events(ctx, "tenant.resumed")) == 1


def test_a_suspended_tenant_without_a_reason_says_so_plainly(http, ctx, admin):
    make_tenant(ctx, "acme", "Acme Corp")
    suspend(http, "acme")
    page = http.get("/t/acme/portal")
    assert page.status_code == 403 and "Acme Corp is suspended" in page.text and "Reason:" not in page.text


def test_renaming(http, ctx, admin):
    make_tenant(ctx, "acme", "Acme Corp")
    empty = post_form(http, "/admin/tenants/acme", "/admin/tenants/acme/rename", name="  ")
    assert empty.status_code == 422 and "Enter the organisation" in empty.text
    assert platform_events(ctx, "tenant.") == []
    done = post_form(http, "/admin/tenants/acme", "/admin/tenants/acme/rename", name="Acme Worldwide")
    assert done.headers["location"] == "/admin/tenants/acme?notice=renamed"
    assert tenant_row(ctx, "acme").name == "Acme Worldwide"
    event = only_event(ctx, "tenant.renamed")
    assert (event.actor, event.target, event.details) == (
        actor_of(admin),
        "acme",
        {"name": "Acme Worldwide", "previous_name": "Acme Corp"},
    )
    same = post_form(http, "/admin/tenants/acme", "/admin/tenants/acme/rename", name="Acme Worldwide")
    assert same.headers["location"] == "/admin/tenants/acme?notice=unchanged"
    assert len(platform_events(ctx, "tenant.renamed")) == 1


# -- deleting ---------------------------------------------------------------------------------------


def tenant_row_counts(ctx, tenant_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts = {}
    with inspect_db(ctx) as session:
        for table in SQLModel.metadata.sorted_tables:
            if "tenant_id" in table.c:
                query = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
                counts[table.name] = session.execute(query).scalar_one()
    return counts


def populate(http, ctx, slug: str, name: str) -> Tenant:  # type: ignore[no-untyped-def]
    """A tenant with rows in most tables: users, apps, sessions, codes, grants, tokens, consents, usage."""
    tenant = make_tenant(ctx, slug, name)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    redirect = user_signs_in(http, slug, rp.client_id)
    assert (
        exchange(http, slug, rp.client_id, rp.client_secret, redirect["code"], redirect["_verifier"])["status"] == 200
    )
    assert client_credentials(http, slug, rp).status_code == 200
    ctx.usage.flush(ctx.sessions)
    with inspect_db(ctx) as session:
        record(session, tenant.id, CLI, "test.event", slug)
    return tenant


def test_deleting_needs_the_exact_slug_then_removes_every_row_of_that_tenant_only(http, ctx, admin):
    acme = populate(http, ctx, "acme", "Acme Corp")
    globex = populate(http, ctx, "globex", "Globex Inc")
    before = tenant_row_counts(ctx, acme.id)
    assert sum(1 for n in before.values() if n) >= 8, before  # most tables do hold rows of acme
    globex_before = tenant_row_counts(ctx, globex.id)

    page = http.get("/admin/tenants/acme/delete")
    assert page.status_code == 200 and "Type <strong>acme</strong> to confirm" in page.text
    for wrong in ("", "ACME", "acm", "Acme Corp", "globex"):
        refused = http.post("/admin/tenants/acme/delete", data={"csrf_token": csrf(page.text), "confirm_slug": wrong})
        assert refused.status_code == 400 and "exactly to confirm. Nothing was deleted." in refused.text, wrong
    assert tenant_row_counts(ctx, acme.id) == before and platform_events(ctx, "tenant.deleted") == []

    done = http.post("/admin/tenants/acme/delete", data={"csrf_token": csrf(page.text), "confirm_slug": "acme"})
    assert done.status_code == 303 and done.headers["location"] == "/admin/tenants?deleted=acme"
    assert tenant_row(ctx, "acme") is None
    assert set(tenant_row_counts(ctx, acme.id).values()) == {0}
    assert tenant_row_counts(ctx, globex.id) == globex_before
    event = only_event(ctx, "tenant.deleted")
    assert (event.actor, event.target) == (actor_of(admin), "acme")
    assert event.details["name"] == "Acme Corp" and acme.id in event.details.values()  # the record outlives the rows

    listing = http.get("/admin/tenants?deleted=acme")
    assert "The tenant <code>acme</code> was deleted" in listing.text and list(rows_by_slug(listing.text)) == ["globex"]
    assert http.get("/admin/tenants/acme").status_code == 404
    assert http.get("/t/acme/.well-known/openid-configuration").status_code == 404
    assert http.get("/t/globex/.well-known/openid-configuration").status_code == 200


# -- what cannot be reached -------------------------------------------------------------------------


def test_unknown_tenants_and_pages_are_404_inside_the_console(http, ctx, admin):
    for path in ("/admin/tenants/nope", "/admin/tenants/platform", "/admin/tenants/nope/delete", "/admin/whatever"):
        page = http.get(path)
        assert page.status_code == 404 and "Not found" in page.text and "Sign out" in page.text, path
        assert page.headers["cache-control"] == "no-store"
    refused = post_form(http, "/admin/tenants", "/admin/tenants/platform/suspend", reason="no")
    assert refused.status_code == 404
    assert http.get("/t/platform/.well-known/openid-configuration").status_code == 200  # never suspended


# -- the platform audit log ---------------------------------------------------------------------------


def test_the_platform_audit_log_lists_every_tenant_and_filters(http, ctx, admin):
    acme = make_tenant(ctx, "acme", "Acme Corp")
    globex = make_tenant(ctx, "globex", "Globex Inc")
    with inspect_db(ctx) as session:
        for number in range(55):
            record(session, acme.id, CLI, "client.created", f"client-{number}")
        record(session, globex.id, CLI, "user.created", "bob", email="bob@globex.test")
    create(http, "initech", "Initech")
    suspend(http, "initech", "testing")

    page = http.get("/admin/audit")
    assert page.status_code == 200
    total = 55 + 1 + 2 + 1  # acme's, globex's, the two platform changes, the admin's sign-in
    assert f"Events 1–50 of {total}" in page.text and "Page 1 of 2" in page.text
    assert 'href="/admin/audit?page=2"' in page.text
    second = http.get("/admin/audit?page=2")
    assert f"Events 51–{total} of {total}" in second.text and len(cells(second.text)) == total - 50

    by_tenant = http.get("/admin/audit?tenant=globex")
    [row] = cells(by_tenant.text)
    assert row[1:5] == ["globex", "cli", "user.created", "bob"] and "email: bob@globex.test" in row[6]
    platform = cells(http.get("/admin/audit?tenant=platform").text)
    assert sorted(r[3] for r in platform) == ["admin.login_succeeded", "tenant.created", "tenant.suspended"]
    suspended = cells(http.get("/admin/audit?action=tenant.sus").text)
    assert [(r[1], r[3], r[4]) for r in suspended] == [("platform", "tenant.suspended", "initech")]
    assert "reason: testing" in suspended[0][6]
    by_actor = cells(http.get("/admin/audit?actor=OPS@PLATFORM").text)  # substring, any case
    assert len(by_actor) == 3 and all(r[2].startswith(f"{admin.email} admin {admin.id}") for r in by_actor)
    combined = cells(http.get("/admin/audit?tenant=acme&action=client.&actor=cli").text)
    assert len(combined) == 50
    about = cells(http.get("/admin/audit?tenant=platform&target=initech").text)
    assert sorted(r[3] for r in about) == ["tenant.created", "tenant.suspended"]
    assert (
        'href="/admin/audit?tenant=acme&amp;action=client.&amp;actor=cli&amp;page=2"'
        in http.get("/admin/audit?tenant=acme&action=client.&actor=cli").text
    )

    unknown = http.get("/admin/audit?tenant=nope")
    assert unknown.status_code == 400 and "There is no tenant" in unknown.text
    odd = http.get("/admin/audit?action=DROP TABLE")
    assert odd.status_code == 400 and "Use the start of an action name" in odd.text
    nothing = http.get("/admin/audit?actor=nobody-like-this")
    assert nothing.status_code == 200 and "No events match these filters" in nothing.text
