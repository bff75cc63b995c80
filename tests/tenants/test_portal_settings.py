"""Portal branding and settings, over HTTP: what admins see, what is stored, who may, and what the hosted
pages show afterwards."""

import re

from sqlmodel import select

from identity.clock import now
from identity.db import session_scope
from identity.models.audit import AuditEvent
from identity.models.tenant import DEVICE_CODE, Tenant
from tenants import audit
from tenants.members import add_member
from tenants.resolution import find_tenant
from tests.conftest import PUBLIC_URL
from tests.factories import PASSWORD, make_user
from tests.flow import authorize_url, hidden, pkce_pair
from tests.tenants.portal_helpers import create_app, portal_form, portal_sign_in, sign_up

VALID = {
    "name": "Globex Corporation",
    "logo_url": "https://cdn.globex.test/logo.png",
    "primary_color": "#0F766E",
    "primary_color_picker": "#4f46e5",
    "signup_open": "on",
    "access_token_ttl": "900",
    "id_token_ttl": "600",
    "refresh_token_ttl": "604800",
    "refresh_without_offline_access": "on",
    "audit_retention_days": "90",
    "allowed_grant_types": ["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE],
}


# -- helpers shared with the other portal tests ----------------------------------------------------------


def tenant_row(ctx, slug: str = "globex") -> Tenant:
    with session_scope(ctx.sessions) as session:
        tenant = find_tenant(session, slug)
        assert tenant is not None
        return tenant


def audit_events(ctx, slug: str = "globex") -> list[AuditEvent]:
    tenant = tenant_row(ctx, slug)
    with session_scope(ctx.sessions) as session:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant.id).order_by(AuditEvent.created_at)
        return list(session.exec(query).all())


def new_events(ctx, before: list[AuditEvent], slug: str = "globex") -> list[AuditEvent]:
    seen = {event.id for event in before}
    return [event for event in audit_events(ctx, slug) if event.id not in seen]


def owner_actor(ctx, slug: str = "globex", email: str = "owner@globex.test") -> str:
    from tenants.members import members  # noqa: PLC0415

    tenant = tenant_row(ctx, slug)
    with session_scope(ctx.sessions) as session:
        user = next(u for _m, u in members(session, tenant.id) if u.email == email)
    return f"user:{user.id} {email}"


def sign_in_member(http, ctx, slug: str, email: str, role: str):
    """A new user of the tenant with a portal role, signed in through the portal's own code flow."""
    tenant = tenant_row(ctx, slug)
    user = make_user(ctx, tenant, email=email)
    with session_scope(ctx.sessions) as session:
        add_member(session, tenant.id, user, role)
    portal_sign_in(http, slug, email)
    return user


def save(http, data: dict, slug: str = "globex", token: str | None = None):
    token = portal_form(http, f"/t/{slug}/portal/settings") if token is None else token
    return http.post(f"/t/{slug}/portal/settings", data={"csrf_token": token, **data})


# -- tests ------------------------------------------------------------------------------------------------


def test_settings_page_shows_current_values_and_accessible_fields(http, ctx):
    sign_up(http)
    page = http.get("/t/globex/portal/settings")
    assert page.status_code == 200
    html = page.text
    assert 'id="name"' in html and 'value="Globex Inc"' in html
    assert 'type="color"' in html and 'value="#4f46e5"' in html
    assert 'id="access_token_ttl"' in html and 'value="3600"' in html
    assert 'id="refresh_token_ttl"' in html and 'value="2592000"' in html
    assert 'id="audit_retention_days"' in html and 'value="365"' in html
    for name in (
        "name",
        "logo_url",
        "primary_color",
        "primary_color_picker",
        "access_token_ttl",
        "id_token_ttl",
        "refresh_token_ttl",
        "audit_retention_days",
        "signup_open",
        "refresh_without_offline_access",
    ):
        assert f'<label for="{name}"' in html, name
    assert 'aria-current="page">Branding &amp; settings' in html


def test_saving_settings_stores_them_and_leaves_one_audit_event(http, ctx):
    sign_up(http)
    before = audit_events(ctx)
    response = save(http, VALID)
    assert response.status_code == 303 and response.headers["location"] == "/t/globex/portal/settings?notice=saved"
    page = http.get(response.headers["location"])
    assert "Settings saved." in page.text and 'value="Globex Corporation"' in page.text
    tenant = tenant_row(ctx)
    assert (tenant.name, tenant.logo_url, tenant.primary_color) == ("Globex Corporation", VALID["logo_url"], "#0f766e")
    assert tenant.signup_open is True and tenant.refresh_without_offline_access is True
    assert (tenant.access_token_ttl, tenant.id_token_ttl, tenant.refresh_token_ttl) == (900, 600, 604800)
    assert tenant.audit_retention_days == 90
    [event] = new_events(ctx, before)
    assert event.action == "tenant.settings_updated" and event.target == "globex"
    assert event.actor == owner_actor(ctx) and event.ip
    assert event.details["changed"]["primary_color"] == "#0f766e"
    assert event.details["changed"]["access_token_ttl"] == 900
    assert set(event.details["changed"]) == set(VALID) - {"primary_color_picker", "allowed_grant_types"}


def test_issued_tokens_follow_the_new_default_lifetimes(http, ctx):
    sign_up(http)
    client_id, secret, _ = create_app(http, "globex", app_type="m2m", name="Batch", redirect_uris="", scopes=[])
    assert save(http, {**VALID, "access_token_ttl": "120"}).status_code == 303
    token = http.post("/t/globex/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert token.status_code == 200 and token.json()["expires_in"] == 120


def test_saving_nothing_new_records_nothing(http, ctx):
    sign_up(http)
    save(http, VALID)
    before = audit_events(ctx)
    # As a browser sends the page back: the picker now shows the saved colour.
    response = save(http, {**VALID, "primary_color": "#0f766e", "primary_color_picker": "#0f766e"})
    assert response.status_code == 303 and response.headers["location"].endswith("notice=unchanged")
    assert new_events(ctx, before) == []


def test_colour_picker_counts_when_the_hex_field_is_untouched(http, ctx):
    sign_up(http)
    response = save(http, {**VALID, "primary_color": "#4f46e5", "primary_color_picker": "#be123c"})
    assert response.status_code == 303
    assert tenant_row(ctx).primary_color == "#be123c"


def test_invalid_values_are_refused_per_field_and_nothing_changes(http, ctx):
    sign_up(http)
    before = audit_events(ctx)
    bad = {
        "name": "",
        "logo_url": "http://cdn.globex.test/logo.png",
        "primary_color": "blue",
        "access_token_ttl": "59",
        "id_token_ttl": "1h",
        "refresh_token_ttl": str(366 * 86400),
        "audit_retention_days": "",
    }
    response = save(http, {**VALID, **bad})
    assert response.status_code == 400
    html = response.text
    expected = {
        "name": "the display name is required",
        "logo_url": "must be an https:// URL",
        "primary_color": "hex code like #4f46e5",
        "access_token_ttl": "between 60 and 86400 seconds",
        "id_token_ttl": "whole number of seconds",
        "refresh_token_ttl": "between 300 and 31536000 seconds",
        "audit_retention_days": "this is required",
    }
    for field, message in expected.items():
        errors = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', html, re.S)
        assert errors and message in errors.group(1), field
        assert re.search(
            rf'id="{field}"[^>]*aria-describedby="{field}-help {field}-errors"[^>]*aria-invalid="true"', html, re.S
        ), field
    assert 'value="1h"' in html and 'value="blue"' in html  # what was typed stays, to be corrected
    assert "Nothing was saved" in html
    tenant = tenant_row(ctx)
    assert (tenant.name, tenant.logo_url, tenant.primary_color) == ("Globex Inc", "", "#4f46e5")
    assert (tenant.access_token_ttl, tenant.id_token_ttl, tenant.audit_retention_days) == (3600, 3600, 365)
    assert new_events(ctx, before) == []


def test_more_invalid_values(http, ctx):
    sign_up(http)
    cases = [
        ({"name": "x" * 201}, "name", "200 characters at most"),
        ({"name": "Glo\x00bex"}, "name", "control characters"),
        ({"logo_url": "https://cdn.globex.test/\x00.png"}, "logo_url", "https://"),
        ({"logo_url": "HTTPS://cdn.globex.test/l.png"}, "logo_url", "https://"),
        ({"logo_url": "https://" + "a" * 500 + ".test/l.png"}, "logo_url", "500 characters at most"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url", "https://"),
        ({"logo_url": "https:///nohost.png"}, "logo_url", "must name a host"),
        ({"primary_color": "#12345"}, "primary_color", "hex code"),
        ({"primary_color": "#gggggg"}, "primary_color", "hex code"),
        ({"access_token_ttl": "86401"}, "access_token_ttl", "between 60 and 86400"),
        ({"id_token_ttl": "-5"}, "id_token_ttl", "whole number"),
        ({"refresh_token_ttl": "299"}, "refresh_token_ttl", "between 300 and 31536000"),
        ({"audit_retention_days": "29"}, "audit_retention_days", "between 30 and 3650 days"),
        ({"audit_retention_days": "3651"}, "audit_retention_days", "between 30 and 3650 days"),
        ({"audit_retention_days": "9" * 40}, "audit_retention_days", "between 30 and 3650 days"),
    ]
    token = portal_form(http, "/t/globex/portal/settings")
    for change, field, message in cases:
        response = save(http, {**VALID, **change}, token=token)
        assert response.status_code == 400, change
        errors = re.search(rf'id="{field}-errors">(.*?)</ul>', response.text, re.S)
        assert errors and message in errors.group(1), (change, response.text[-3000:])
    assert tenant_row(ctx).name == "Globex Inc"


def test_developer_gets_403_and_changes_nothing(http, ctx):
    sign_up(http)
    token = portal_form(http, "/t/globex/portal/settings")
    sign_in_member(http, ctx, "globex", "dev@globex.test", "developer")
    assert http.get("/t/globex/portal").status_code == 200  # a developer may use the portal...
    page = http.get("/t/globex/portal/settings")
    assert page.status_code == 403 and "needs the admin role" in page.text
    dev_token = portal_form(http, "/t/globex/portal")
    for csrf in (dev_token, token):
        assert http.post("/t/globex/portal/settings", data={"csrf_token": csrf, **VALID}).status_code == 403
    assert tenant_row(ctx).name == "Globex Inc"


def test_admin_may_change_settings(http, ctx):
    sign_up(http)
    admin = sign_in_member(http, ctx, "globex", "admin@globex.test", "admin")
    before = audit_events(ctx)
    assert save(http, VALID).status_code == 303
    [event] = new_events(ctx, before)
    assert event.actor == f"user:{admin.id} admin@globex.test"


def test_csrf_missing_or_wrong_is_403_and_changes_nothing(http, ctx):
    sign_up(http)
    before = audit_events(ctx)
    for token in ("", "0" * 64):
        response = http.post("/t/globex/portal/settings", data={"csrf_token": token, **VALID})
        assert response.status_code == 403 and "form expired" in response.text
    response = http.post("/t/globex/portal/settings", data=VALID)
    assert response.status_code == 403
    assert tenant_row(ctx).name == "Globex Inc" and new_events(ctx, before) == []


def test_another_tenants_settings_cannot_be_changed(http, ctx):
    sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    http.cookies.clear()
    sign_up(http)
    token = portal_form(http, "/t/globex/portal/settings")
    # Globex's owner has no session at Initech: sent to Initech's sign-in, nothing changes.
    response = http.post("/t/initech/portal/settings", data={"csrf_token": token, **VALID})
    assert response.status_code == 303 and response.headers["location"].startswith("/t/initech/portal/login")
    assert http.get("/t/initech/portal/settings").status_code == 303
    # Even signed in there as a plain user (not a member of Initech's team), it is refused.
    tenant = tenant_row(ctx, "initech")
    make_user(ctx, tenant, email="owner@globex.test")
    http.cookies.clear()
    login = http.get("/t/initech/portal/login")
    page = http.get(http.get(login.headers["location"]).headers["location"])
    done = http.post(
        "/t/initech/login",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "flow": hidden(page.text, "flow"),
            "email": "owner@globex.test",
            "password": PASSWORD,
        },
    )
    http.get(done.headers["location"].removeprefix(PUBLIC_URL))
    assert http.post("/t/initech/portal/settings", data={"csrf_token": token, **VALID}).status_code == 403
    initech = tenant_row(ctx, "initech")
    assert (initech.name, initech.primary_color) == ("Initech", "#4f46e5")
    # Only the sign-in itself is recorded (login.succeeded), no settings change.
    assert [e.action for e in audit_events(ctx, "initech")] == ["tenant.created", "login.succeeded"]


def test_brand_colour_and_logo_reach_the_hosted_pages(http, ctx):
    sign_up(http)
    client_id, _, _ = create_app(http, "globex")
    assert save(http, {**VALID, "primary_color": "#FDE047"}).status_code == 303
    css = http.get("/t/globex/branding.css")
    assert css.status_code == 200 and css.text == ":root{--brand:#fde047;--brand-ink:#111827}"
    http.cookies.clear()
    _, challenge = pkce_pair()
    start = http.get(
        authorize_url(
            "globex",
            client_id,
            redirect_uri="https://shop.example.com/cb",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    login = http.get(start.headers["location"])
    assert login.status_code == 200
    app_css = login.text.index('href="/static/css/app.css"')
    brand_css = login.text.index('href="/t/globex/branding.css?v=fde047"')
    assert app_css < brand_css
    assert '<img class="brand-logo" src="https://cdn.globex.test/logo.png" alt="Globex Corporation"' in login.text
    assert 'class="brand-mark"' not in login.text


def test_shorter_retention_purges_old_events_when_saved(http, ctx):
    sign_up(http)
    tenant = tenant_row(ctx)
    with session_scope(ctx.sessions) as session:
        audit.record(session, tenant.id, audit.CLI, "client.created", "old-app")
        audit.record(session, tenant.id, audit.CLI, "client.created", "recent-app")
    with session_scope(ctx.sessions) as session:
        for event in session.exec(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id)).all():
            if event.target == "old-app":
                event.created_at = now() - 100 * 86400
            if event.target == "recent-app":
                event.created_at = now() - 10 * 86400
            session.add(event)
    assert save(http, {**VALID, "audit_retention_days": "30"}).status_code == 303
    targets = [e.target for e in audit_events(ctx)]
    assert "old-app" not in targets and "recent-app" in targets and "globex" in targets


def test_allowed_grant_types_limit_apps_discovery_and_the_token_endpoint(http, ctx):
    sign_up(http)
    web_id, web_secret, _ = create_app(http, "globex")
    # client_credentials is not used by any app: it can be switched off.
    assert save(http, {**VALID, "allowed_grant_types": ["authorization_code", "refresh_token"]}).status_code == 303
    assert tenant_row(ctx).allowed_grant_types == ["authorization_code", "refresh_token"]
    discovery = http.get("/t/globex/.well-known/openid-configuration").json()
    assert discovery["grant_types_supported"] == ["authorization_code", "refresh_token"]
    refused = http.post("/t/globex/token", data={"grant_type": "client_credentials"}, auth=(web_id, web_secret))
    assert refused.status_code == 400 and refused.json()["error"] == "unsupported_grant_type"
    token = portal_form(http, "/t/globex/portal/apps/new")
    m2m = http.post("/t/globex/portal/apps/new", data={"csrf_token": token, "app_type": "m2m", "name": "Batch"})
    assert m2m.status_code == 400 and "does not allow the client_credentials grant" in m2m.text
    # authorization_code is used by the web app: switching it off is refused, naming the app.
    response = save(http, {**VALID, "allowed_grant_types": ["client_credentials"]})
    assert response.status_code == 400 and "authorization_code is still used by: Shop" in response.text
    assert save(http, {**VALID, "allowed_grant_types": []}).status_code == 400
