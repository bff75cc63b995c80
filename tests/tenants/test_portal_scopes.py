"""Portal scopes, over HTTP: listing, creating, describing and deleting the tenant's own scopes; what
discovery and the consent page then show; who may; and that no form reaches another tenant's scopes."""

import re

from sqlmodel import select

from identity.models.tenant import TenantScope
from tests.factories import inspect_db, make_user
from tests.flow import authorize_url, pkce_pair, submit_login
from tests.tenants.portal_helpers import create_app, portal_form, sign_up
from tests.tenants.test_portal_settings import audit_events, new_events, owner_actor, sign_in_member, tenant_row

SHOP = "https://shop.example.com/cb"


def scopes_of(ctx, slug: str = "globex") -> dict[str, str]:
    tenant = tenant_row(ctx, slug)
    with inspect_db(ctx) as session:
        rows = session.exec(select(TenantScope).where(TenantScope.tenant_id == tenant.id)).all()
        return {row.name: row.description for row in rows}


def add_scope(http, name: str, description: str, slug: str = "globex", token: str | None = None):
    token = portal_form(http, f"/t/{slug}/portal/scopes") if token is None else token
    return http.post(f"/t/{slug}/portal/scopes", data={"csrf_token": token, "name": name, "description": description})


def test_scopes_page_lists_the_standard_scopes_read_only(http, ctx):
    sign_up(http)
    page = http.get("/t/globex/portal/scopes")
    assert page.status_code == 200
    for name in ("openid", "profile", "email", "offline_access"):
        assert f"<code>{name}</code>" in page.text
    assert "See your email address" in page.text and "email, email_verified" in page.text
    assert "No scopes of your own yet" in page.text
    assert 'value="openid"' not in page.text  # no form names a standard scope
    assert '<label for="name">Name</label>' in page.text and '<label for="description">Description</label>' in page.text


def test_creating_a_scope_stores_it_lists_it_and_records_it(http, ctx):
    sign_up(http)
    before = audit_events(ctx)
    response = add_scope(http, "orders:read", "  Read your orders  ")
    assert response.status_code == 303 and response.headers["location"] == "/t/globex/portal/scopes?notice=created"
    page = http.get(response.headers["location"])
    assert "Scope created." in page.text and "<code>orders:read</code>" in page.text
    assert 'value="Read your orders"' in page.text
    assert scopes_of(ctx) == {"orders:read": "Read your orders"}
    [event] = new_events(ctx, before)
    assert (event.action, event.target, event.actor) == ("scope.created", "orders:read", owner_actor(ctx))
    assert event.details == {"description": "Read your orders"} and event.ip


def test_custom_scope_reaches_discovery_and_the_consent_page(http, ctx):
    sign_up(http)
    add_scope(http, "orders:read", "Read your orders")
    assert "orders:read" in http.get("/t/globex/.well-known/openid-configuration").json()["scopes_supported"]
    client_id, _, _ = create_app(http, "globex", scopes=["openid", "orders:read"])
    make_user(ctx, tenant_row(ctx), email="alice@example.com")
    http.cookies.clear()
    _, challenge = pkce_pair()
    start = http.get(
        authorize_url(
            "globex",
            client_id,
            scope="openid orders:read",
            redirect_uri=SHOP,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    login = http.get(start.headers["location"])
    done = submit_login(http, "globex", login.text, "alice@example.com", "correct horse battery")
    consent = http.get(done.headers["location"])
    assert consent.status_code == 200
    assert re.search(
        r'value="orders:read" checked\s*>\s*<label[^>]*>\s*<span class="scope-text">Read your orders</span>',
        consent.text,
    )


def test_an_edited_description_is_what_the_consent_page_shows(http, ctx):
    sign_up(http)
    add_scope(http, "orders:read", "Read your orders")
    before = audit_events(ctx)
    token = portal_form(http, "/t/globex/portal/scopes")
    response = http.post(
        "/t/globex/portal/scopes/update",
        data={"csrf_token": token, "name": "orders:read", "description": "See your order history"},
    )
    assert response.status_code == 303 and response.headers["location"].endswith("notice=saved")
    assert scopes_of(ctx) == {"orders:read": "See your order history"}
    [event] = new_events(ctx, before)
    assert (event.action, event.target, event.actor) == ("scope.updated", "orders:read", owner_actor(ctx))
    assert event.details == {"description": "See your order history", "previous_description": "Read your orders"}


def test_refused_names_and_descriptions_are_shown_per_field(http, ctx):
    sign_up(http)
    add_scope(http, "orders:read", "Read your orders")
    before = audit_events(ctx)
    token = portal_form(http, "/t/globex/portal/scopes")
    cases = [
        ("orders:read", "Again", "name", "already exists"),
        ("email", "Mail", "name", "standard OpenID Connect scope"),
        ("orders read", "Spaces", "name", "without spaces"),
        ('say"hi', "Quote", "name", "without spaces, quotes"),
        ("café", "Not ASCII", "name", "printable ASCII"),
        ("", "Nameless", "name", "name is required"),
        ("x" * 101, "Long", "name", "100 characters at most"),
        ("orders:write", "", "description", "consent page shows this"),
        ("orders:write", "d" * 301, "description", "300 characters at most"),
        ("orders:write", "Read\x00", "description", "control characters"),
        ("orders:\x00", "Nul", "name", "printable ASCII"),
    ]
    for name, description, field, message in cases:
        response = add_scope(http, name, description, token=token)
        assert response.status_code == 400, (name, description)
        errors = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', response.text, re.S)
        assert errors and message in errors.group(1), (name, errors and errors.group(1))
        assert re.search(rf'id="{field}"[^>]*aria-describedby="{field}-help {field}-errors"', response.text, re.S)
    assert scopes_of(ctx) == {"orders:read": "Read your orders"}
    assert new_events(ctx, before) == []
    # A refused description edit keeps the old one, shows why on that scope's field, and records nothing.
    response = http.post(
        "/t/globex/portal/scopes/update", data={"csrf_token": token, "name": "orders:read", "description": " "}
    )
    assert response.status_code == 400
    assert re.search(
        r'id="scope-1-description"[^>]*aria-invalid="true" aria-describedby="scope-1-description-errors"',
        response.text,
        re.S,
    )
    assert 'id="scope-1-description-errors"><li>describe what the scope allows' in response.text
    assert scopes_of(ctx) == {"orders:read": "Read your orders"} and new_events(ctx, before) == []


def test_delete_is_refused_while_an_app_allows_the_scope(http, ctx):
    sign_up(http)
    add_scope(http, "orders:read", "Read your orders")
    client_id, _, _ = create_app(http, "globex", name="Shop", scopes=["openid", "orders:read"])
    create_app(http, "globex", name="Warehouse", scopes=["orders:read"], app_type="m2m", redirect_uris="")
    before = audit_events(ctx)
    token = portal_form(http, "/t/globex/portal/scopes")
    page = http.get("/t/globex/portal/scopes")
    assert "Allowed for: Shop, Warehouse" in page.text
    refused = http.post("/t/globex/portal/scopes/delete", data={"csrf_token": token, "name": "orders:read"})
    assert refused.status_code == 409
    assert re.search(r'role="alert" id="scope-1-delete-errors">.*is still allowed for Shop, Warehouse', refused.text)
    assert scopes_of(ctx) == {"orders:read": "Read your orders"} and new_events(ctx, before) == []
    # Once no app lists it, it can go.
    from identity.clients import list_clients  # noqa: PLC0415
    from identity.models.client import Client  # noqa: PLC0415

    tenant = tenant_row(ctx)
    with inspect_db(ctx) as session:
        for client in list_clients(session, tenant.id):
            client.scopes = [s for s in client.scopes if s != "orders:read"]
            session.add(client)
    done = http.post("/t/globex/portal/scopes/delete", data={"csrf_token": token, "name": "orders:read"})
    assert done.status_code == 303 and done.headers["location"].endswith("notice=deleted")
    assert scopes_of(ctx) == {}
    [event] = new_events(ctx, before)
    assert (event.action, event.target, event.actor) == ("scope.deleted", "orders:read", owner_actor(ctx))
    assert "orders:read" not in http.get("/t/globex/.well-known/openid-configuration").json()["scopes_supported"]
    with inspect_db(ctx) as session:
        assert session.exec(select(Client).where(Client.id == client_id)).one().scopes == ["openid"]


def test_unknown_or_standard_scope_names_are_404(http, ctx):
    sign_up(http)
    token = portal_form(http, "/t/globex/portal/scopes")
    for name in ("nope", "openid", "", "x" * 300, "orders:\x00"):
        for path in ("/t/globex/portal/scopes/update", "/t/globex/portal/scopes/delete"):
            response = http.post(path, data={"csrf_token": token, "name": name, "description": "x"})
            assert response.status_code == 404, (path, name)


def test_developer_may_manage_scopes(http, ctx):
    sign_up(http)
    dev = sign_in_member(http, ctx, "globex", "dev@globex.test", "developer")
    before = audit_events(ctx)
    assert add_scope(http, "orders:read", "Read your orders").status_code == 303
    token = portal_form(http, "/t/globex/portal/scopes")
    assert (
        http.post("/t/globex/portal/scopes/delete", data={"csrf_token": token, "name": "orders:read"}).status_code
        == 303
    )
    events = new_events(ctx, before)
    assert sorted(e.action for e in events) == ["scope.created", "scope.deleted"]
    assert {e.actor for e in events} == {f"user:{dev.id} dev@globex.test"}


def test_csrf_missing_or_wrong_is_403_and_changes_nothing(http, ctx):
    sign_up(http)
    add_scope(http, "orders:read", "Read your orders")
    before = audit_events(ctx)
    for token in ("", "0" * 64):
        assert add_scope(http, "orders:write", "Change your orders", token=token).status_code == 403
        assert (
            http.post(
                "/t/globex/portal/scopes/update",
                data={"csrf_token": token, "name": "orders:read", "description": "pwned"},
            ).status_code
            == 403
        )
        assert (
            http.post("/t/globex/portal/scopes/delete", data={"csrf_token": token, "name": "orders:read"}).status_code
            == 403
        )
    assert http.post("/t/globex/portal/scopes/delete", data={"name": "orders:read"}).status_code == 403
    assert scopes_of(ctx) == {"orders:read": "Read your orders"} and new_events(ctx, before) == []


def test_another_tenants_scopes_cannot_be_touched(http, ctx):
    sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    add_scope(http, "tps:read", "Read your TPS reports", slug="initech")
    add_scope(http, "orders:read", "Initech orders", slug="initech")
    http.cookies.clear()
    sign_up(http)
    add_scope(http, "orders:read", "Read your orders")
    before_initech = audit_events(ctx, "initech")
    token = portal_form(http, "/t/globex/portal/scopes")
    # Initech's names, through Globex's portal: not Globex's, so not found.
    assert (
        http.post(
            "/t/globex/portal/scopes/update", data={"csrf_token": token, "name": "tps:read", "description": "pwned"}
        ).status_code
        == 404
    )
    assert (
        http.post("/t/globex/portal/scopes/delete", data={"csrf_token": token, "name": "tps:read"}).status_code == 404
    )
    # A name both tenants use: Globex's changes touch only Globex's row.
    assert (
        http.post(
            "/t/globex/portal/scopes/update",
            data={"csrf_token": token, "name": "orders:read", "description": "Globex orders"},
        ).status_code
        == 303
    )
    assert (
        http.post("/t/globex/portal/scopes/delete", data={"csrf_token": token, "name": "orders:read"}).status_code
        == 303
    )
    # Initech's own URLs: Globex's owner has no session there.
    for path, data in (
        ("/t/initech/portal/scopes", {"name": "x:y", "description": "x"}),
        ("/t/initech/portal/scopes/update", {"name": "tps:read", "description": "pwned"}),
        ("/t/initech/portal/scopes/delete", {"name": "tps:read"}),
    ):
        response = http.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 303 and response.headers["location"].startswith("/t/initech/portal/login")
    assert scopes_of(ctx, "initech") == {"tps:read": "Read your TPS reports", "orders:read": "Initech orders"}
    assert scopes_of(ctx) == {}
    assert new_events(ctx, before_initech, "initech") == []
    assert "tps:read" not in http.get("/t/globex/portal/scopes").text
