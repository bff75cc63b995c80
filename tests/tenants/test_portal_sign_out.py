"""Tenant admins sign a user out everywhere (portal and management API), and see each app's back-channel
logout deliveries and its logout URIs in the portal."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlmodel import select
from starlette.testclient import TestClient

from identity.models.grant import Grant
from identity.models.interaction import BrowserSession
from tests.api.helpers import bearer, management_token
from tests.conftest import PUBLIC_URL
from tests.factories import inspect_db, make_client, make_user
from tests.flow import exchange, sign_in
from tests.identity.test_logout import receiver as receiver  # the fixture: a live back-channel receiver
from tests.identity.test_logout import wait_until_recorded
from tests.tenants.portal_helpers import portal_form, sign_up, tenant_of


def signed_in_user(ctx, app, receiver):  # type: ignore[no-untyped-def]
    tenant = tenant_of(ctx, "globex")
    rp = make_client(ctx, tenant, backchannel_logout_uri=receiver.uri)
    alice = make_user(ctx, tenant, email="alice@example.com")
    browser = TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)
    result = sign_in(browser, "globex", rp.client_id, scope="openid offline_access")
    tokens = exchange(browser, "globex", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200
    return rp, alice, browser, tokens


def assert_signed_out_everywhere(ctx, browser, rp, alice, tokens) -> None:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as db:
        assert all(s.revoked_at for s in db.exec(select(BrowserSession).where(BrowserSession.user_id == alice.id)))
        assert all(g.revoked_at for g in db.exec(select(Grant).where(Grant.user_id == alice.id)))
    refused = browser.post(
        "/t/globex/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp.client_id, rp.client_secret),
    )
    assert refused.json()["error"] == "invalid_grant"


def test_an_admin_signs_a_user_out_everywhere_and_sees_the_delivery(app, http, ctx, receiver):
    sign_up(http)
    rp, alice, browser, tokens = signed_in_user(ctx, app, receiver)
    token = portal_form(http, f"/t/globex/portal/users/{alice.id}")
    done = http.post(f"/t/globex/portal/users/{alice.id}/sign-out", data={"csrf_token": token})
    assert done.status_code == 303
    assert "Signed out everywhere" in http.get(done.headers["location"]).text
    assert_signed_out_everywhere(ctx, browser, rp, alice, tokens)
    receiver.wait(1)
    wait_until_recorded(ctx)
    detail = http.get(f"/t/globex/portal/apps/{rp.client_id}")
    assert "Back-channel logout deliveries" in detail.text
    assert "badge-delivered" in detail.text
    assert f'value="{receiver.uri}"' in detail.text  # the URI is editable in the app's settings


def test_the_sign_out_form_is_csrf_protected(app, http, ctx, receiver):
    sign_up(http)
    _rp, alice, _browser, _tokens = signed_in_user(ctx, app, receiver)
    refused = http.post(f"/t/globex/portal/users/{alice.id}/sign-out", data={"csrf_token": "forged"})
    assert refused.status_code in {400, 403}
    with inspect_db(ctx) as db:
        assert all(
            s.revoked_at is None for s in db.exec(select(BrowserSession).where(BrowserSession.user_id == alice.id))
        )


def test_the_api_signs_a_user_out_everywhere(app, http, ctx, receiver):
    sign_up(http)
    rp, alice, browser, tokens = signed_in_user(ctx, app, receiver)
    api = management_token(http, ctx, tenant_of(ctx, "globex"), ["manage:users"], slug="globex")
    response = http.post(f"/t/globex/api/users/{alice.id}/sign-out", headers=bearer(api))
    assert response.status_code == 204, response.text
    assert_signed_out_everywhere(ctx, browser, rp, alice, tokens)
    receiver.wait(1)
    assert http.post("/t/globex/api/users/nobody/sign-out", headers=bearer(api)).status_code == 404


def test_logout_uris_through_the_api(http, ctx):
    sign_up(http)
    api = management_token(http, ctx, tenant_of(ctx, "globex"), ["manage:clients"], slug="globex")
    created = http.post(
        "/t/globex/api/clients",
        headers=bearer(api),
        json={
            "name": "Web",
            "redirect_uris": ["https://app.example.com/cb"],
            "backchannel_logout_uri": "https://app.example.com/bc",
            "frontchannel_logout_uri": "https://app.example.com/fc",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["backchannel_logout_uri"], body["frontchannel_logout_uri"]) == (
        "https://app.example.com/bc",
        "https://app.example.com/fc",
    )
    refused = http.post(
        "/t/globex/api/clients",
        headers=bearer(api),
        json={
            "name": "Web",
            "redirect_uris": ["https://app.example.com/cb"],
            "backchannel_logout_uri": "http://x.example/",
        },
    )
    assert refused.status_code in {400, 422}
    assert "backchannel_logout_uri" in refused.text


def test_disabling_or_deleting_a_user_tells_the_apps(app, http, ctx, receiver):
    sign_up(http)
    rp, alice, _browser, _tokens = signed_in_user(ctx, app, receiver)
    token = portal_form(http, f"/t/globex/portal/users/{alice.id}")
    assert http.post(f"/t/globex/portal/users/{alice.id}/disable", data={"csrf_token": token}).status_code == 303
    receiver.wait(1)
    bob = make_user(ctx, tenant_of(ctx, "globex"), email="bob@example.com")
    bobs = TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)
    result = sign_in(bobs, "globex", rp.client_id, email="bob@example.com", scope="openid")
    assert (
        exchange(bobs, "globex", rp.client_id, rp.client_secret, result["code"], result["_verifier"])["status"] == 200
    )
    api = management_token(http, ctx, tenant_of(ctx, "globex"), ["manage:users"], slug="globex")
    assert http.delete(f"/t/globex/api/users/{bob.id}", headers=bearer(api)).status_code == 204
    receiver.wait(2)
    keys = http.get("/t/globex/.well-known/jwks.json").json()
    subjects = [jwt.decode(t, KeySet.import_key_set(keys)).claims["sub"] for t in receiver.received]
    assert subjects == [alice.id, bob.id]
