"""The platform-scope API: tenants created, read, renamed, suspended, resumed and deleted through HTTP with a
platform client's token; each change leaves one event in the platform's audit log."""

import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from identity.models.tenant import Tenant
from tenants.manage.tenants import tenant_tables
from tests.api.helpers import audit_count, audit_rows, bearer, management_token, platform, platform_token
from tests.factories import inspect_db, make_client, make_tenant, make_user


@pytest.fixture
def admin_api(http, ctx):
    token = platform_token(http, ctx)
    http.headers.update(bearer(token))
    http.platform = platform(ctx)
    return http


def rows_of(ctx, tenant_id):
    counts = {}
    with inspect_db(ctx) as session:
        for table in tenant_tables():
            counts[table.name] = session.exec(
                select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
            ).one()
        counts["tenants"] = session.exec(select(func.count()).select_from(Tenant).where(Tenant.id == tenant_id)).one()
    return counts


def test_create_read_rename(admin_api, ctx):
    before = audit_count(ctx, admin_api.platform.id)
    created = admin_api.post(
        "/api/admin/tenants", json={"slug": "beta", "name": "Beta", "owner_email": "owner@beta.example"}
    )
    assert created.status_code == 201
    body = created.json()
    assert (
        body["issuer"] == "http://127.0.0.1:8000/t/beta"
        and "/t/beta/portal/invitations/" in body["owner_invitation_url"]
    )
    assert audit_count(ctx, admin_api.platform.id) == before + 1
    (event,) = audit_rows(ctx, admin_api.platform.id, "tenant.created")
    assert event.target == "beta" and event.actor.startswith("client:")
    admin_api.headers.pop("Authorization")
    assert admin_api.get("/t/beta/.well-known/openid-configuration").status_code == 200
    invitation = admin_api.get(body["owner_invitation_url"].removeprefix("http://127.0.0.1:8000"))
    assert invitation.status_code == 200 and "owner@beta.example" in invitation.text


def test_refusals(admin_api, ctx):
    make_tenant(ctx, "acme")
    assert admin_api.post("/api/admin/tenants", json={"slug": "acme", "name": "Again"}).status_code == 409
    for slug in ("Bad Slug", "admin", "platform", "x"):
        response = admin_api.post("/api/admin/tenants", json={"slug": slug, "name": "N"})
        assert response.status_code == 422 and "slug" in response.json()["errors"], slug
    assert admin_api.get("/api/admin/tenants/platform").status_code == 404  # the platform tenant is not listed
    assert admin_api.post("/api/admin/tenants/platform/suspend", json={}).status_code == 404
    assert admin_api.get("/api/admin/tenants/nobody").status_code == 404


def test_list_search_and_counts(admin_api, ctx):
    acme = make_tenant(ctx, "acme", "Acme Corp")
    make_tenant(ctx, "globex", "Globex")
    make_user(ctx, acme)
    make_client(ctx, acme)
    tenant_token = management_token(admin_api, ctx, acme, ["manage:users"])  # one token issued by acme
    assert tenant_token
    ctx.usage.flush(ctx.sessions)
    listed = admin_api.get("/api/admin/tenants").json()
    assert [t["slug"] for t in listed["items"]] == ["acme", "globex"]
    counts = listed["items"][0]["counts"]
    assert counts == {"users": 1, "apps": 2, "active_sessions": 0, "tokens_24h": 1}
    assert [t["slug"] for t in admin_api.get("/api/admin/tenants?q=glob").json()["items"]] == ["globex"]


def test_suspend_and_resume(admin_api, ctx):
    acme = make_tenant(ctx, "acme")
    token = management_token(admin_api, ctx, acme, ["manage:users"])
    before = audit_count(ctx, admin_api.platform.id)
    suspended = admin_api.post("/api/admin/tenants/acme/suspend", json={"reason": "Unpaid invoices"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert audit_count(ctx, admin_api.platform.id) == before + 1
    assert admin_api.post("/api/admin/tenants/acme/suspend", json={}).status_code == 200  # no change, no event
    assert audit_count(ctx, admin_api.platform.id) == before + 1
    assert admin_api.get("/t/acme/.well-known/openid-configuration").json()["error"] == "tenant_suspended"
    assert admin_api.get("/t/acme/api/users", headers=bearer(token)).status_code == 403
    assert admin_api.post("/api/admin/tenants/acme/resume").json()["status"] == "active"
    assert audit_count(ctx, admin_api.platform.id) == before + 2
    assert admin_api.get("/t/acme/api/users", headers=bearer(token)).status_code == 200


def test_delete_removes_every_row_and_is_idempotent(admin_api, ctx):
    acme, globex = make_tenant(ctx, "acme"), make_tenant(ctx, "globex")
    make_user(ctx, acme)
    make_client(ctx, acme)
    management_token(admin_api, ctx, acme, ["manage:users"])
    untouched = rows_of(ctx, globex.id)
    read = admin_api.get("/api/admin/tenants/acme")
    stale = admin_api.delete("/api/admin/tenants/acme", headers={"If-Match": '"not-it"'})
    assert stale.status_code == 412
    assert admin_api.delete("/api/admin/tenants/acme", headers={"If-Match": read.headers["etag"]}).status_code == 204
    assert set(rows_of(ctx, acme.id).values()) == {0}
    assert rows_of(ctx, globex.id) == untouched
    assert admin_api.delete("/api/admin/tenants/acme").status_code == 204
    assert [e.target for e in audit_rows(ctx, admin_api.platform.id, "tenant.deleted")] == ["acme"]
    assert admin_api.get("/t/acme/.well-known/openid-configuration").status_code == 404
    assert all("tenant_id" in t.c for t in tenant_tables()) and len(tenant_tables()) == len(
        [t for t in SQLModel.metadata.sorted_tables if "tenant_id" in t.c]
    )


def test_platform_audit_log_filters(admin_api, ctx):
    make_tenant(ctx, "acme")
    admin_api.post("/api/admin/tenants", json={"slug": "beta", "name": "Beta"})
    admin_api.post("/api/admin/tenants/acme/suspend", json={})
    events = admin_api.get("/api/admin/audit-events?action=tenant.").json()
    # newest first; events of the same second have no defined order (times are whole seconds)
    assert sorted(e["action"] for e in events["items"]) == ["tenant.created", "tenant.suspended"]
    assert {e["tenant"] for e in events["items"]} == {"platform"}
    only = admin_api.get("/api/admin/audit-events?action=tenant.created").json()
    assert only["total"] == 1 and only["items"][0]["target"] == "beta"


def test_scopes_of_the_platform_token(http, ctx):
    audit_only = platform_token(http, ctx, ["admin:audit"])
    assert http.get("/api/admin/audit-events", headers=bearer(audit_only)).status_code == 200
    assert http.get("/api/admin/tenants", headers=bearer(audit_only)).status_code == 403
    tenants_only = platform_token(http, ctx, ["admin:tenants"])
    assert http.get("/api/admin/audit-events", headers=bearer(tenants_only)).status_code == 403


def test_a_platform_client_from_the_cli_calls_the_platform_api(http, settings):
    import json  # noqa: PLC0415

    from identity.cli import main  # noqa: PLC0415

    args = ["client", "create", "--tenant", "platform", "--name", "Ops", "--grant-type", "client_credentials"]
    args += ["--scope", "admin:tenants", "--json"]
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args, settings=settings) == 0
    created = json.loads(out.getvalue())
    token = http.post(
        "/t/platform/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
    ).json()["access_token"]
    assert http.get("/api/admin/tenants", headers=bearer(token)).status_code == 200
