"""Logout in a real browser (headless Chromium): sign in, get an ID token with ``sid``, and sign out through
the RP-initiated logout endpoint; the signed-out page loads the client's front-channel logout URI in an
iframe (with ``iss`` and that ``sid``) and then returns to the registered post-logout redirect URI."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, Route, expect

from tests.conftest import SCREENSHOTS
from tests.factories import PASSWORD, REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import pkce_pair

pytestmark = pytest.mark.browser

AFTER_LOGOUT = "https://app.example.com/signed-out"
FRONTCHANNEL = "https://app.example.com/frontchannel-logout"


class RelyingParty:
    """The client's origin, answered here: the callback, the front-channel logout URI, the signed-out page."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.frame_requests: list[str] = []

    def __call__(self, route: Route) -> None:
        url = route.request.url
        self.seen.append(url)
        if url.startswith(FRONTCHANNEL):
            self.frame_requests.append(url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>app</title><p>app</p>")


def test_sign_in_then_rp_initiated_logout_with_front_channel(live_server, browser: Browser):
    ctx = live_server.ctx
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    app = make_client(
        ctx, tenant, name="Acme Web", post_logout_redirect_uris=[AFTER_LOGOUT], frontchannel_logout_uri=FRONTCHANNEL
    )
    issuer = f"{live_server.url}/t/acme"
    rp = RelyingParty()
    context = browser.new_context()
    context.set_default_timeout(10_000)
    context.route("https://app.example.com/**", rp)
    page = context.new_page()

    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT_URI, "scope": "openid email",
        "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    page.goto(f"{issuer}/authorize?" + urlencode(params))
    page.fill("#email", "alice@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/consent?**")
    page.click("button[value=approve]")
    page.wait_for_url(f"{REDIRECT_URI}?**")
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    tokens = httpx.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(app.client_id, app.client_secret or ""),
    ).json()
    keys = KeySet.import_key_set(httpx.get(f"{issuer}/.well-known/jwks.json").json())
    sid = jwt.decode(tokens["id_token"], keys).claims["sid"]

    # Without a hint the browser is asked first; the page is a product page, not a bare form.
    page.goto(f"{issuer}/logout?" + urlencode({"client_id": app.client_id, "post_logout_redirect_uri": AFTER_LOGOUT}))
    expect(page.locator("h1")).to_have_text("Sign out of Acme Corp?")
    expect(page.locator(".lede")).to_contain_text("Acme Web asked to sign you out")
    page.screenshot(path=str(SCREENSHOTS / "logout-confirm.png"), full_page=True)
    page.goto("https://app.example.com/")  # back to the app: still signed in, it asks again with the hint

    hinted = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye"}
    page.goto(f"{issuer}/logout?" + urlencode(hinted))
    page.wait_for_url(f"{AFTER_LOGOUT}?state=bye", timeout=10_000)
    assert len(rp.frame_requests) == 1
    frame = parse_qs(urlsplit(rp.frame_requests[0]).query)
    assert frame == {"iss": [issuer], "sid": [sid]}

    # Signed out: the next sign-in asks for the password again.
    page.goto(f"{issuer}/authorize?" + urlencode(params))
    page.wait_for_url("**/login?**")
    expect(page.locator("#password")).to_be_visible()
    context.close()


def test_the_signed_out_page_looks_finished(live_server, browser: Browser):
    ctx = live_server.ctx
    make_tenant(ctx)
    page = browser.new_page()
    page.goto(f"{live_server.url}/t/acme/logout")
    expect(page.locator("h1")).to_have_text("You have signed out")
    expect(page).to_have_title("Signed out · Acme Corp")
    page.screenshot(path=str(SCREENSHOTS / "signed-out.png"), full_page=True)
    page.close()
