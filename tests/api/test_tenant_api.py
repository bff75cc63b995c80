"""The tenant-scope API through HTTP: apps, users, team, scopes, audit events; ETags, idempotent deletes,
problem+json; every change leaves exactly one audit event naming the API client and the target."""

import pytest

from identity.db import session_scope
from identity.models.client import Client
from identity.models.user import User
from tenants.members import add_member
from tests.api.helpers import ALL_TENANT_SCOPES, audit_count, audit_rows, bearer, management_token
from tests.factories import PASSWORD, make_client, make_tenant, make_user
from tests.flow import exchange, sign_in


@pytest.fixture
def acme(ctx):
    return make_tenant(ctx)


@pytest.fixture
def api(http, ctx, acme):
    """An httpx client bound to acme's API with a token for every tenant scope, and the app's actor label."""
    token = management_token(http, ctx, acme, ALL_TENANT_SCOPES)
    app_id = http.get("/t/acme/api/clients", headers=bearer(token)).json()["items"][0]["client_id"]
    http.headers.update(bearer(token))
    http.actor = f"client:{app_id}"
    return http


def one_event(ctx, tenant, action, target, before):
    """Exactly one new event since ``before``, with this action, actor and target."""
    assert audit_count(ctx, tenant.id) == before + 1
    (event,) = audit_rows(ctx, tenant.id, action)[-1:]
    assert event.target == target
    return event


def test_apps_lifecycle(api, ctx, acme):
    before = audit_count(ctx, acme.id)
    created = api.post(
        "/t/acme/api/clients",
        json={
            "name": "Shop",
            "app_type": "web",
            "redirect_uris": ["https://shop.example.com/cb"],
            "scopes": ["openid"],
        },
    )
    assert created.status_code == 201
    app = created.json()
    assert app["client_secret"] and created.headers["location"].endswith(app["client_id"])
    event = one_event(ctx, acme, "client.created", app["client_id"], before)
    assert event.actor == api.actor and app["client_secret"] not in str(event.details)

    read = api.get(f"/t/acme/api/clients/{app['client_id']}")
    assert read.status_code == 200 and "client_secret" not in read.json()
    etag = read.headers["etag"]

    before = audit_count(ctx, acme.id)
    changed = api.patch(f"/t/acme/api/clients/{app['client_id']}", json={"name": "Shop 2"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json()["name"] == "Shop 2"
    one_event(ctx, acme, "client.updated", app["client_id"], before)
    stale = api.patch(f"/t/acme/api/clients/{app['client_id']}", json={"name": "Shop 3"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert api.get(f"/t/acme/api/clients/{app['client_id']}").json()["name"] == "Shop 2"

    bad = api.patch(f"/t/acme/api/clients/{app['client_id']}", json={"redirect_uris": ["http://evil.example.com/cb"]})
    assert bad.status_code == 422 and "redirect_uris" in bad.json()["errors"]

    before = audit_count(ctx, acme.id)
    rotated = api.post(f"/t/acme/api/clients/{app['client_id']}/secret", json={"grace_seconds": 0})
    assert rotated.status_code == 200 and rotated.json()["client_secret"] != app["client_secret"]
    one_event(ctx, acme, "client.secret_rotated", app["client_id"], before)

    before = audit_count(ctx, acme.id)
    assert api.delete(f"/t/acme/api/clients/{app['client_id']}").status_code == 204
    one_event(ctx, acme, "client.deleted", app["client_id"], before)
    assert api.delete(f"/t/acme/api/clients/{app['client_id']}").status_code == 204  # idempotent, no event
    assert audit_count(ctx, acme.id) == before + 1
    assert api.get(f"/t/acme/api/clients/{app['client_id']}").status_code == 404


def test_a_rotated_secret_stops_working_at_the_token_endpoint(api, ctx, acme):
    app = api.post("/t/acme/api/clients", json={"name": "Batch", "app_type": "m2m", "scopes": ["manage:users"]}).json()
    old = app["client_secret"]
    new = api.post(f"/t/acme/api/clients/{app['client_id']}/secret", json={}).json()["client_secret"]
    data = {"grant_type": "client_credentials"}
    api.headers.pop("Authorization")
    assert api.post("/t/acme/token", data=data, auth=(app["client_id"], old)).status_code == 401
    assert api.post("/t/acme/token", data=data, auth=(app["client_id"], new)).status_code == 200


def test_refusals_are_problem_json(api, acme):
    for response, status in [
        (api.post("/t/acme/api/clients", content=b"{", headers={"Content-Type": "application/json"}), 400),
        (
            api.post(
                "/t/acme/api/clients", content=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
            ),
            415,
        ),
        (api.post("/t/acme/api/clients", json=[1]), 400),
        (api.post("/t/acme/api/clients", json={"name": 5}), 422),
        (api.post("/t/acme/api/clients", json={"name": "X", "colour": "red"}), 422),
        (api.post("/t/acme/api/clients", json={"name": "X", "app_type": "robot"}), 422),
        (api.get("/t/acme/api/clients?limit=0"), 400),
        (api.get("/t/acme/api/clients/nope"), 404),
    ]:
        assert response.status_code == status, response.text
        body = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]


def test_users(api, ctx, acme):
    before = audit_count(ctx, acme.id)
    created = api.post("/t/acme/api/users", json={"email": "bob@example.com", "password": PASSWORD, "name": "Bob"})
    assert created.status_code == 201
    user = created.json()
    one_event(ctx, acme, "user.created", user["id"], before)
    assert api.post("/t/acme/api/users", json={"email": "BOB@example.com", "password": PASSWORD}).status_code == 409
    weak = api.post("/t/acme/api/users", json={"email": "carol@example.com", "password": "short"})
    assert weak.status_code == 422 and "password" in weak.json()["errors"]

    listed = api.get("/t/acme/api/users?q=bob").json()
    assert [u["email"] for u in listed["items"]] == ["bob@example.com"] and listed["total"] == 1

    before = audit_count(ctx, acme.id)
    disabled = api.patch(f"/t/acme/api/users/{user['id']}", json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    one_event(ctx, acme, "user.disabled", user["id"], before)
    with session_scope(ctx.sessions) as session:
        assert session.get(User, (acme.id, user["id"])).disabled

    before = audit_count(ctx, acme.id)
    assert api.patch(f"/t/acme/api/users/{user['id']}", json={"password": "another good passphrase"}).status_code == 200
    one_event(ctx, acme, "user.password_reset", user["id"], before)
    event = audit_rows(ctx, acme.id, "user.password_reset")[0]
    assert "another good passphrase" not in str(event.details)

    before = audit_count(ctx, acme.id)
    assert api.delete(f"/t/acme/api/users/{user['id']}").status_code == 204
    one_event(ctx, acme, "user.deleted", user["id"], before)
    assert api.delete(f"/t/acme/api/users/{user['id']}").status_code == 204
    assert api.get(f"/t/acme/api/users/{user['id']}").status_code == 404


def test_an_api_client_cannot_change_an_owner(api, ctx, acme):
    owner = make_user(ctx, acme, "owner@example.com")
    with session_scope(ctx.sessions) as session:
        add_member(session, acme.id, owner, "owner")
    before = audit_count(ctx, acme.id)
    refused = api.patch(f"/t/acme/api/users/{owner.id}", json={"disabled": True})
    assert refused.status_code == 403
    assert api.delete(f"/t/acme/api/users/{owner.id}").status_code == 403
    assert api.post("/t/acme/api/members", json={"email": "x@example.com", "role": "owner"}).status_code == 403
    assert audit_count(ctx, acme.id) == before


def test_consents_are_listed_and_revoked(api, ctx, acme):
    user = make_user(ctx, acme)
    rp = make_client(ctx, acme)
    token = api.headers.pop("Authorization")
    result = sign_in(api, "acme", rp.client_id)
    tokens = exchange(api, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    api.cookies.clear()
    api.headers["Authorization"] = token
    consents = api.get(f"/t/acme/api/users/{user.id}/consents").json()
    assert [c["client_id"] for c in consents["items"]] == [rp.client_id]
    before = audit_count(ctx, acme.id)
    assert api.delete(f"/t/acme/api/users/{user.id}/consents/{rp.client_id}").status_code == 204
    one_event(ctx, acme, "consent.revoked", f"client:{rp.client_id}", before)
    assert api.get(f"/t/acme/api/users/{user.id}/consents").json()["items"] == []
    api.headers.pop("Authorization")
    assert api.get("/t/acme/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


def test_team(api, ctx, acme):
    dev = make_user(ctx, acme, "dev@example.com")
    before = audit_count(ctx, acme.id)
    invited = api.post("/t/acme/api/members", json={"email": "dev@example.com", "role": "developer"})
    assert invited.status_code == 201 and "/portal/invitations/" in invited.json()["invitation_url"]
    one_event(ctx, acme, "member.invited", invited.json()["id"], before)
    with session_scope(ctx.sessions) as session:
        add_member(session, acme.id, session.get(User, (acme.id, dev.id)), "developer")
    assert [m["email"] for m in api.get("/t/acme/api/members").json()["items"]] == ["dev@example.com"]

    before = audit_count(ctx, acme.id)
    assert api.patch(f"/t/acme/api/members/{dev.id}", json={"role": "admin"}).json()["role"] == "admin"
    one_event(ctx, acme, "member.role_changed", dev.id, before)
    assert api.patch(f"/t/acme/api/members/{dev.id}", json={"role": "wizard"}).status_code == 422

    before = audit_count(ctx, acme.id)
    assert api.delete(f"/t/acme/api/members/{dev.id}").status_code == 204
    one_event(ctx, acme, "member.removed", dev.id, before)
    assert api.delete(f"/t/acme/api/members/{dev.id}").status_code == 204
    assert api.get(f"/t/acme/api/members/{dev.id}").status_code == 404


def test_scopes(api, ctx, acme):
    before = audit_count(ctx, acme.id)
    created = api.post("/t/acme/api/scopes", json={"name": "orders:read", "description": "Read your orders"})
    assert created.status_code == 201
    one_event(ctx, acme, "scope.created", "orders:read", before)
    assert api.post("/t/acme/api/scopes", json={"name": "orders:read", "description": "Again"}).status_code == 409
    assert api.post("/t/acme/api/scopes", json={"name": "manage:users", "description": "Mine"}).status_code == 422
    assert api.post("/t/acme/api/scopes", json={"name": "has space", "description": "x"}).status_code == 422

    before = audit_count(ctx, acme.id)
    assert api.patch("/t/acme/api/scopes/orders:read", json={"description": "Read orders"}).status_code == 200
    one_event(ctx, acme, "scope.updated", "orders:read", before)

    api.post("/t/acme/api/clients", json={"name": "Reader", "app_type": "m2m", "scopes": ["orders:read"]})
    in_use = api.delete("/t/acme/api/scopes/orders:read")
    assert in_use.status_code == 409 and "Reader" in in_use.json()["detail"]


def test_audit_events_are_paginated_and_filtered(api, ctx, acme):
    for n in range(3):
        api.post("/t/acme/api/scopes", json={"name": f"s{n}", "description": f"Scope {n}"})
    first = api.get("/t/acme/api/audit-events?limit=2&action=scope.")
    body = first.json()
    assert body["total"] == 3 and len(body["items"]) == 2
    assert 'rel="next"' in first.headers["link"] and "offset=2" in first.headers["link"]
    rest = api.get("/t/acme/api/audit-events?limit=2&offset=2&action=scope.").json()
    assert len(rest["items"]) == 1 and "link" not in api.get("/t/acme/api/audit-events?limit=2&offset=2").headers
    assert {e["actor"] for e in body["items"]} == {api.actor}


def test_ids_of_another_tenant_are_404(api, ctx, acme):
    globex = make_tenant(ctx, "globex", "Globex")
    theirs = make_client(ctx, globex, name="Theirs")
    their_user = make_user(ctx, globex, "eve@globex.example")
    assert api.get(f"/t/acme/api/clients/{theirs.client_id}").status_code == 404
    assert api.get(f"/t/acme/api/users/{their_user.id}").status_code == 404
    assert api.delete(f"/t/acme/api/clients/{theirs.client_id}").status_code == 204
    with session_scope(ctx.sessions) as session:
        assert session.get(Client, (globex.id, theirs.client_id)) is not None
