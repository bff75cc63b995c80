"""The device flow as a person and a third-party client live it: a TV app (Authlib's ``OAuth2Client``) asks
for a code and polls; the user opens the verification link in real Chromium, confirms the code, signs in and
answers the consent page. The ID token is checked with joserfc against the published JWKS. Screenshots of
every page go to test-artifacts/screenshots/ for review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import BrowserContext, Page, expect

from identity.models.tenant import DEVICE_CODE
from tests.conftest import SCREENSHOTS
from tests.factories import PASSWORD, AppCredentials, make_client, make_tenant, make_user
from tests.interop.helpers import context as context  # the fixture: a fresh browser profile per test

pytestmark = pytest.mark.browser

SCOPE = "openid profile email offline_access"


@dataclass
class TV:
    """The device: its registration, the provider's metadata, and Authlib's client speaking for it."""

    app: AppCredentials
    metadata: dict[str, Any]
    jwks: dict[str, Any]
    client: OAuth2Client

    def start(self) -> dict[str, Any]:
        response = self.client.request(
            "POST",
            self.metadata["device_authorization_endpoint"],
            data={"client_id": self.app.client_id, "scope": SCOPE},
            withhold_token=True,  # no token yet: the device is asking for its first
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def poll(self, device_code: str) -> dict[str, Any]:
        token = self.client.fetch_token(
            self.metadata["token_endpoint"], grant_type=DEVICE_CODE, device_code=device_code
        )
        return dict(token)


@pytest.fixture
def tv(live_server):  # type: ignore[no-untyped-def]
    ctx = live_server.ctx
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    app = make_client(
        ctx, tenant, name="Acme TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"]
    )
    metadata = httpx.get(f"{live_server.url}/t/acme/.well-known/openid-configuration").json()
    assert DEVICE_CODE in metadata["grant_types_supported"]
    jwks = httpx.get(metadata["jwks_uri"]).json()
    with OAuth2Client(client_id=app.client_id, token_endpoint_auth_method="none", scope=SCOPE) as client:
        yield TV(app, metadata, jwks, client)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"device-{name}.png"), full_page=True)


def confirm_code_and_sign_in(context: BrowserContext, tv: TV, device: dict[str, Any], prefix: str) -> Page:
    """Open the verification link, confirm the prefilled code, sign in: the consent page."""
    page = context.new_page()
    page.goto(device["verification_uri_complete"])
    expect(page.locator("h1")).to_have_text("Connect a device")
    expect(page.locator("#user_code")).to_have_value(device["user_code"])
    shot(page, f"{prefix}1-enter-code")
    # Opening the link approved nothing: the device still waits.
    with pytest.raises(OAuthError) as pending:
        tv.poll(device["device_code"])
    assert pending.value.error == "authorization_pending"
    page.click("button[type=submit]")
    page.wait_for_url(f"{tv.metadata['issuer']}/login?**")
    expect(page.locator(".lede")).to_contain_text("Acme TV")
    page.fill("input[name=email]", "alice@example.com")
    page.fill("input[name=password]", PASSWORD)
    shot(page, f"{prefix}2-sign-in")
    page.click("button[type=submit]")
    page.wait_for_url(f"{tv.metadata['issuer']}/consent?**")
    expect(page.locator("#page-title")).to_contain_text("Acme TV")
    expect(page.locator("#device-warning")).to_be_visible()
    shot(page, f"{prefix}3-consent")
    return page


def test_a_tv_app_signs_in_through_the_device_page(tv, context):  # type: ignore[no-untyped-def]
    device = tv.start()
    page = confirm_code_and_sign_in(context, tv, device, "")
    page.click("button[name=decision][value=approve]")
    expect(page.locator("h1")).to_have_text("Device connected")
    expect(page.locator(".lede")).to_contain_text("Acme TV")
    shot(page, "4-approved")

    token = tv.poll(device["device_code"])
    assert token["token_type"] == "Bearer" and token["scope"] == SCOPE and "refresh_token" in token
    decoded = jwt.decode(token["id_token"], KeySet.import_key_set(tv.jwks))  # type: ignore[arg-type]
    assert decoded.header["kid"] in {key["kid"] for key in tv.jwks["keys"]}
    claims = decoded.claims
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": tv.metadata["issuer"]},
        aud={"essential": True, "value": tv.app.client_id},
        exp={"essential": True},
        sid={"essential": True},
        auth_time={"essential": True},
    )
    registry.validate(claims)
    assert claims["email"] == "alice@example.com"
    userinfo = tv.client.get(tv.metadata["userinfo_endpoint"])  # Authlib sends the Bearer token it holds
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == claims["sub"]
    # Single use: the same device code again is invalid_grant.
    with pytest.raises(OAuthError) as again:
        tv.poll(device["device_code"])
    assert again.value.error == "invalid_grant"


def test_a_denied_device_gets_access_denied(tv, context):  # type: ignore[no-untyped-def]
    device = tv.start()
    page = confirm_code_and_sign_in(context, tv, device, "deny-")
    page.click("button[name=decision][value=deny]")
    expect(page.locator("h1")).to_have_text("Access denied")
    shot(page, "deny-4-denied")
    with pytest.raises(OAuthError) as denied:
        tv.poll(device["device_code"])
    assert denied.value.error == "access_denied"


def test_a_wrong_code_is_explained_on_the_page(tv, context):  # type: ignore[no-untyped-def]
    tv.start()
    page = context.new_page()
    page.goto(tv.metadata["device_authorization_endpoint"].replace("_authorization", ""))
    page.fill("#user_code", "bcdf ghjk")
    page.click("button[type=submit]")
    expect(page.locator("#device-error")).to_have_text(
        "That code is not valid or has expired. Check the code on your device and try again."
    )
    expect(page.locator("#user_code")).to_have_attribute("aria-invalid", "true")
    shot(page, "wrong-code")
