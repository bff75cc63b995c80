"""Where the device grant (RFC 8628) is switched on: an app's registration (portal form, management API,
ClientSpec), the tenant's allowed grants (settings page), and migration 0010 for tenants that already exist."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlmodel import select

from identity.clients import ClientSpec
from identity.db import make_engine
from identity.migrate import upgrade
from identity.models.client import Client
from identity.models.tenant import ALL_GRANT_TYPES, DEVICE_CODE
from tests.api.helpers import ALL_TENANT_SCOPES, bearer, management_token
from tests.factories import inspect_db, make_tenant
from tests.tenants.portal_helpers import create_app, portal_form, sign_up, tenant_of

SCOPES = {"openid": "", "profile": "", "email": "", "offline_access": ""}


def test_new_tenants_allow_the_device_grant(ctx):
    tenant = make_tenant(ctx)
    assert DEVICE_CODE in tenant.allowed_grant_types and DEVICE_CODE in ALL_GRANT_TYPES


def test_a_tv_app_needs_no_redirect_uri_and_may_have_refresh_tokens():
    spec = ClientSpec(
        name="TV", redirect_uris=[], public=True, app_type="native", grant_types=[DEVICE_CODE, "refresh_token"]
    )
    assert spec.problems(SCOPES, dev=False) == {}
    assert spec.scopes == ["openid", "profile", "email", "offline_access"]  # a user grant: the user scopes
    alone = ClientSpec(name="Jobs", redirect_uris=[], grant_types=["refresh_token"])
    assert (
        "refresh_token needs authorization_code, the device grant or password"
        in alone.problems(SCOPES, dev=False)["grant_types"]
    )


def test_a_tenant_that_does_not_allow_it_refuses_such_an_app():
    spec = ClientSpec(name="TV", redirect_uris=[], public=True, app_type="native", grant_types=[DEVICE_CODE])
    problems = spec.problems(SCOPES, dev=False, allowed_grant_types=["authorization_code", "refresh_token"])
    assert problems["grant_types"] == [f"this organisation does not allow the {DEVICE_CODE} grant (see its settings)"]


def test_the_portal_app_form_offers_the_device_grant(http, ctx):
    sign_up(http)
    assert 'name="device_grant"' in http.get("/t/globex/portal/apps/new?type=native").text
    assert 'name="device_grant"' not in http.get("/t/globex/portal/apps/new?type=spa").text
    client_id, secret, _page = create_app(
        http, "globex", app_type="native", name="Globex TV", redirect_uris="com.globex.tv:/cb", device_grant="yes"
    )
    assert secret is None  # a native app is public
    with inspect_db(ctx) as session:
        client = session.exec(select(Client).where(Client.id == client_id)).one()
        assert client.grant_types == ["authorization_code", "refresh_token", DEVICE_CODE] and client.is_public
    # The detail page shows it ticked; unticking it on save removes the grant and keeps the others.
    detail = http.get(f"/t/globex/portal/apps/{client_id}")
    assert 'name="device_grant" value="yes" checked' in detail.text
    assert 'id="qs-device"' in detail.text and "/t/globex/device_authorization" in detail.text  # the quick start
    saved = http.post(
        f"/t/globex/portal/apps/{client_id}",
        data={
            "csrf_token": portal_form(http, f"/t/globex/portal/apps/{client_id}"),
            "name": "Globex TV",
            "redirect_uris": "com.globex.tv:/cb",
            "scopes": ["openid", "profile"],
        },
    )
    assert saved.status_code == 303, saved.text
    with inspect_db(ctx) as session:
        client = session.exec(select(Client).where(Client.id == client_id)).one()
        assert client.grant_types == ["authorization_code", "refresh_token"]
    # Without the grant the device endpoint refuses the app.
    device = http.post("/t/globex/device_authorization", data={"client_id": client_id, "scope": "openid"})
    assert device.status_code == 400 and device.json()["error"] == "unauthorized_client"


def test_the_settings_page_lists_the_device_grant_ticked(http, ctx):
    sign_up(http)
    page = http.get("/t/globex/portal/settings")
    assert f'value="{DEVICE_CODE}" checked' in page.text and "Device authorization" in page.text
    tenant = tenant_of(ctx)
    assert DEVICE_CODE in tenant.allowed_grant_types


def test_the_management_api_registers_a_device_app(http, ctx):
    acme = make_tenant(ctx)
    token = management_token(http, ctx, acme, ALL_TENANT_SCOPES)
    created = http.post(
        "/t/acme/api/clients",
        json={
            "name": "Acme TV",
            "app_type": "native",
            "grant_types": [DEVICE_CODE, "refresh_token"],
            "redirect_uris": [],
        },
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert (
        app["grant_types"] == [DEVICE_CODE, "refresh_token"] and "client_secret" not in app or not app["client_secret"]
    )
    device = http.post("/t/acme/device_authorization", data={"client_id": app["client_id"], "scope": "openid"})
    assert device.status_code == 200, device.text
    unknown = http.post(
        "/t/acme/api/clients", json={"name": "X", "grant_types": ["urn:example:nope"]}, headers=bearer(token)
    )
    assert unknown.status_code == 422, unknown.text


def test_migration_0010_gives_the_grant_to_tenants_that_allowed_every_grant(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009")
    engine = make_engine(url)
    every = ["authorization_code", "refresh_token", "client_credentials"]
    with engine.begin() as conn:
        for tenant_id, allowed in (("t1", every), ("t2", ["client_credentials"])):
            conn.execute(
                text(
                    "INSERT INTO tenants (id, slug, name, status, status_reason, kind, created_at, id_token_alg, "
                    "access_token_alg, access_token_ttl, id_token_ttl, refresh_token_ttl, "
                    "refresh_without_offline_access, keys_version, logo_url, primary_color, signup_open, "
                    "audit_retention_days, allowed_grant_types) VALUES (:id, :id, :id, 'active', '', 'customer', 1, "
                    "'RS256', 'RS256', 1, 1, 1, 0, 1, '', '#4f46e5', 0, 365, :allowed)"
                ),
                {"id": tenant_id, "allowed": json.dumps(allowed)},
            )
    upgrade(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, allowed_grant_types FROM tenants ORDER BY id")).all())
    engine.dispose()
    assert json.loads(rows["t1"]) == [*every, DEVICE_CODE]
    assert json.loads(rows["t2"]) == ["client_credentials"]  # a tenant that chose its grants keeps its choice
