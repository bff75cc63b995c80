"""The portal's side of dynamic client registration, over HTTP: the setting on the settings page, initial
access tokens (shown once, stored as HMACs, listed, revoked, each an audit event), and apps that registered
themselves in the app list and detail page, edited and deleted there like any app."""

from __future__ import annotations

import re

from sqlmodel import select

from identity.models.registration import InitialAccessToken
from tests.factories import REDIRECT_URI, inspect_db
from tests.tenants.portal_helpers import portal_form, sign_up
from tests.tenants.test_portal_settings import VALID, audit_events, new_events, save, sign_in_member, tenant_row

TOKENS = "/t/globex/portal/settings/initial-access-tokens"
METADATA = {"client_name": "Partner app", "redirect_uris": [REDIRECT_URI], "scope": "openid email"}


def make_token(http, label: str = "Partner", days: str = "30", uses: str = "3"):  # type: ignore[no-untyped-def]
    token = portal_form(http, "/t/globex/portal/settings")
    return http.post(TOKENS, data={"csrf_token": token, "label": label, "lifetime_days": days, "max_uses": uses})


def shown_token(http, response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/t/globex/portal/settings#initial-tokens"
    page = http.get(response.headers["location"])
    match = re.search(r'id="new-initial-token" type="text" value="([^"]+)"', page.text)
    assert match, page.text
    assert 'id="new-initial-token"' not in http.get("/t/globex/portal/settings").text  # shown once
    return match.group(1)


def test_the_setting_is_on_the_settings_page_and_changes_discovery(http, ctx):
    sign_up(http)
    page = http.get("/t/globex/portal/settings").text
    for mode in ("off", "token", "open"):
        assert f'id="registration-{mode}"' in page and f'<label for="registration-{mode}"' in page
    assert 'id="registration-off" name="dynamic_registration" value="off" checked' in page
    before = audit_events(ctx)
    assert save(http, {**VALID, "dynamic_registration": "token"}).status_code == 303
    assert tenant_row(ctx).dynamic_registration == "token"
    [event] = new_events(ctx, before)
    assert event.details["changed"]["dynamic_registration"] == "token"
    discovery = http.get("/t/globex/.well-known/openid-configuration").json()
    assert discovery["registration_endpoint"] == "http://127.0.0.1:8000/t/globex/clients"
    refused = save(http, {**VALID, "dynamic_registration": "everyone"})
    assert refused.status_code == 400 and "choose one of off, open, token" in refused.text
    assert tenant_row(ctx).dynamic_registration == "token"
    assert save(http, VALID).status_code == 303  # a form without the choice keeps it
    assert tenant_row(ctx).dynamic_registration == "token"


def test_an_initial_token_is_shown_once_stored_as_an_hmac_and_audited(http, ctx):
    sign_up(http)
    before = audit_events(ctx)
    token = shown_token(http, make_token(http))
    with inspect_db(ctx) as session:
        (row,) = session.exec(select(InitialAccessToken)).all()
    assert row.label == "Partner" and row.max_uses == 3 and row.uses == 0
    assert ctx.hasher.verify(token, row.token_hash) and token not in str(row.model_dump())
    assert row.expires_at - row.created_at == 30 * 86400
    [event] = new_events(ctx, before)
    assert (event.action, event.target, event.details["label"]) == ("initial_access_token.created", row.id, "Partner")
    assert token not in str(event.details)
    listed = http.get("/t/globex/portal/settings").text
    assert f'id="initial-token-{row.id}"' in listed and "0 of 3" in listed and "active" in listed
    assert token not in listed


def test_invalid_token_settings_are_refused_per_field(http, ctx):
    sign_up(http)
    for label, days, uses, field in [
        ("", "30", "", "label"),
        ("x" * 101, "30", "", "label"),
        ("Partner", "0", "", "lifetime_days"),
        ("Partner", "366", "", "lifetime_days"),
        ("Partner", "soon", "", "lifetime_days"),
        ("Partner", "", "", "lifetime_days"),
        ("Partner", "30", "0", "max_uses"),
        ("Partner", "30", "many", "max_uses"),
    ]:
        response = make_token(http, label, days, uses)
        assert response.status_code == 400, (label, days, uses)
        assert f'id="{field}-errors"' in response.text, field
    with inspect_db(ctx) as session:
        assert session.exec(select(InitialAccessToken)).all() == []


def test_a_registered_app_shows_in_the_portal_and_is_edited_and_deleted_there(http, ctx):
    sign_up(http)
    save(http, {**VALID, "dynamic_registration": "token"})
    token = shown_token(http, make_token(http))
    created = http.post("/t/globex/clients", json=METADATA, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    body = created.json()
    apps = http.get("/t/globex/portal").text
    assert "Partner app" in apps and "registered dynamically" in apps
    detail = http.get(f"/t/globex/portal/apps/{body['client_id']}").text
    assert 'registered dynamically with the initial access token "Partner"' in detail
    assert "1 of 3" in http.get("/t/globex/portal/settings").text
    csrf = portal_form(http, f"/t/globex/portal/apps/{body['client_id']}")
    edited = http.post(
        f"/t/globex/portal/apps/{body['client_id']}",
        data={
            "csrf_token": csrf,
            "name": "Partner app (reviewed)",
            "redirect_uris": REDIRECT_URI,
            "scopes": ["openid"],
        },
    )
    assert edited.status_code == 303, edited.text
    headers = {"Authorization": f"Bearer {body['registration_access_token']}"}
    read = http.get(f"/t/globex/clients/{body['client_id']}", headers=headers).json()
    assert read["client_name"] == "Partner app (reviewed)" and read["scope"] == "openid"
    deleted = http.post(
        f"/t/globex/portal/apps/{body['client_id']}/delete",
        data={"csrf_token": csrf, "confirm_name": "Partner app (reviewed)"},
    )
    assert deleted.status_code == 303
    assert http.get(f"/t/globex/clients/{body['client_id']}", headers=headers).status_code == 401


def test_an_openly_registered_app_says_so(http, ctx):
    sign_up(http)
    save(http, {**VALID, "dynamic_registration": "open"})
    body = http.post("/t/globex/clients", json=METADATA).json()
    detail = http.get(f"/t/globex/portal/apps/{body['client_id']}").text
    assert "registered dynamically (open registration)" in detail


def test_a_revoked_token_registers_nothing_more(http, ctx):
    sign_up(http)
    save(http, {**VALID, "dynamic_registration": "token"})
    token = shown_token(http, make_token(http, uses=""))
    with inspect_db(ctx) as session:
        row = session.exec(select(InitialAccessToken)).one()
    before = audit_events(ctx)
    csrf = portal_form(http, "/t/globex/portal/settings")
    revoked = http.post(f"{TOKENS}/{row.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    page = http.get(revoked.headers["location"]).text
    assert "The initial access token was revoked" in page and "revoked" in page
    [event] = new_events(ctx, before)
    assert (event.action, event.target) == ("initial_access_token.revoked", row.id)
    again = http.post(f"{TOKENS}/{row.id}/revoke", data={"csrf_token": csrf})
    assert again.status_code == 303 and new_events(ctx, before) == [event]  # no second event
    response = http.post("/t/globex/clients", json=METADATA, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert http.post(f"{TOKENS}/not-a-token/revoke", data={"csrf_token": csrf}).status_code == 404


def test_only_admins_make_or_revoke_tokens_and_never_another_tenants(http, ctx):
    sign_up(http)
    shown_token(http, make_token(http))
    with inspect_db(ctx) as session:
        row = session.exec(select(InitialAccessToken)).one()
    owner_csrf = portal_form(http, "/t/globex/portal/settings")
    assert http.post(f"{TOKENS}/{row.id}/revoke", data={"csrf_token": "forged"}).status_code == 403
    sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    other_csrf = portal_form(http, "/t/initech/portal/settings")
    foreign = http.post(
        f"/t/initech/portal/settings/initial-access-tokens/{row.id}/revoke", data={"csrf_token": other_csrf}
    )
    assert foreign.status_code == 404
    sign_in_member(http, ctx, "globex", "dev@globex.test", "developer")
    dev_csrf = portal_form(http, "/t/globex/portal")
    for csrf in (dev_csrf, owner_csrf):
        assert http.post(f"{TOKENS}/{row.id}/revoke", data={"csrf_token": csrf}).status_code == 403
        made = http.post(TOKENS, data={"csrf_token": csrf, "label": "x", "lifetime_days": "1", "max_uses": ""})
        assert made.status_code == 403
    with inspect_db(ctx) as session:
        assert [r.revoked_at for r in session.exec(select(InitialAccessToken)).all()] == [None]
