"""The hosted login and consent pages in a real browser (headless Chromium): what a person sees and what
the browser is told (headers, cookies). Screenshots go to test-artifacts/screenshots/ for review."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from identity.models.tenant import Tenant
from tests.browser.client_app import ClientApp
from tests.factories import PASSWORD, REDIRECT_URI, AppCredentials, make_client, make_tenant, make_user
from tests.flow import pkce_pair

pytestmark = pytest.mark.browser

from tests.conftest import SCREENSHOTS  # noqa: E402

BAD_CREDENTIALS = "The email or password is incorrect."
USER_SCOPE = "openid profile email offline_access"
SCOPE_TEXT = {
    "openid": "Sign you in with your account",
    "profile": "See your name and profile",
    "email": "See your email address",
    "offline_access": "Stay signed in to the app when you are not using it",
}


# -- fixtures --------------------------------------------------------------------------------------


@dataclass
class Site:
    url: str
    issuer: str
    tenant: Tenant
    app: AppCredentials

    def authorize_url(self, scope: str = USER_SCOPE, **extra: str) -> tuple[str, dict[str, str]]:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.app.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.issuer}/authorize?" + urlencode(params), {**params, "code_verifier": verifier}

    def exchange(self, code: str, verifier: str) -> httpx.Response:
        return httpx.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=(self.app.client_id, self.app.client_secret or ""),
        )


@pytest.fixture
def site(live_server) -> Site:  # type: ignore[no-untyped-def]
    ctx = live_server.ctx
    tenant = make_tenant(ctx)
    app = make_client(ctx, tenant, name="Acme Web")
    make_user(ctx, tenant)
    return Site(live_server.url, f"{live_server.url}/t/acme", tenant, app)


@pytest.fixture
def client_app() -> ClientApp:
    return ClientApp()


def open_page(browser: Browser, client_app: ClientApp, **context_options: object) -> tuple[BrowserContext, Page]:
    context = browser.new_context(**context_options)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    context.route("https://app.example.com/**", client_app)
    return context, context.new_page()


@pytest.fixture
def context_and_page(browser: Browser, client_app: ClientApp) -> Iterator[tuple[BrowserContext, Page]]:
    context, page = open_page(browser, client_app)
    yield context, page
    context.close()


@pytest.fixture
def page(context_and_page: tuple[BrowserContext, Page]) -> Page:
    return context_and_page[1]


def submit_login(page: Page, email: str, password: str) -> None:
    """Type and submit; the answer is a page of the provider (the login page again, or consent)."""
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


# -- (a) wrong credentials -------------------------------------------------------------------------


def test_wrong_password_and_unknown_email_show_the_same_generic_error(site, page, client_app):
    url, _ = site.authorize_url()
    client_app.start(page, url, f"{site.issuer}/login?**")
    expect(page).to_have_title("Sign in · Acme Corp")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator(".lede")).to_contain_text("Acme Web")
    expect(page.locator("[role=alert]")).to_have_count(0)
    expect(page.locator("#email")).not_to_have_attribute("aria-invalid", "true")
    shot(page, "login.png")

    with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as posted:
        submit_login(page, "alice@example.com", "not the password")
    assert posted.value.status == 401
    alert = page.locator("[role=alert]")
    expect(alert).to_have_text(BAD_CREDENTIALS)
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email")).to_have_attribute("aria-describedby", "login-error")
    expect(page.locator("#email")).to_have_value("alice@example.com")  # what was typed is kept
    expect(page.locator("#password")).to_have_value("")  # the password never is
    shot(page, "login-error.png")

    with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as posted:
        submit_login(page, "nobody@example.com", PASSWORD)
    assert posted.value.status == 401
    expect(alert).to_have_text(BAD_CREDENTIALS)  # no hint that this account does not exist
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")

    # Still on the provider; nothing reached the client.
    assert page.url.startswith(site.issuer)
    assert client_app.arrivals == []


# -- (b) consent, narrowed scope, remembered consent ----------------------------------------------


def test_consent_names_app_and_scopes_untick_email_then_second_visit_skips_both_pages(site, page, client_app):
    url, params = site.authorize_url()
    client_app.start(page, url, f"{site.issuer}/login?**")
    submit_login(page, "alice@example.com", PASSWORD)

    assert "/consent" in page.url
    expect(page.locator("h1")).to_have_text("Acme Web wants to access your account")
    expect(page.locator(".lede")).to_contain_text("alice@example.com")
    for name, text in SCOPE_TEXT.items():
        row = page.locator(".scope", has=page.locator(f"input[value='{name}']"))
        expect(row).to_contain_text(text)
        expect(row).to_contain_text(name)
        expect(row.locator("input[type=checkbox]")).to_be_checked()
    expect(page.locator("input[value=openid]")).to_be_disabled()  # required: cannot be unticked
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    expect(page.get_by_role("button", name="Deny")).to_be_visible()
    shot(page, "consent.png")

    page.get_by_label("See your email address").uncheck()
    page.click("button[name=decision][value=approve]")
    page.wait_for_url(f"{REDIRECT_URI}?**")

    back = client_app.last
    assert back["state"] == params["state"]
    assert back["iss"] == site.issuer
    tokens = site.exchange(back["code"], params["code_verifier"])
    assert tokens.status_code == 200, tokens.text
    granted = tokens.json()["scope"].split()
    assert "email" not in granted
    assert set(granted) == {"openid", "profile", "offline_access"}
    bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    info = httpx.get(f"{site.issuer}/userinfo", headers=bearer)
    assert info.status_code == 200, info.text
    assert "email" not in info.json() and info.json()["name"] == "Alice"

    # Same browser, new authorization request: the session and the remembered decision apply.
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if request.is_navigation_request() else None)
    url, params = site.authorize_url()
    client_app.start(page, url, f"{REDIRECT_URI}?**")
    assert page.url.startswith(REDIRECT_URI + "?"), page.url
    assert any(u.startswith(f"{site.issuer}/authorize?") for u in seen), seen
    assert not any("/login" in u or "/consent" in u for u in seen), seen
    assert len(client_app.arrivals) == 2
    back = client_app.last
    assert back["state"] == params["state"] and back["iss"] == site.issuer
    again = site.exchange(back["code"], params["code_verifier"])
    assert again.status_code == 200, again.text
    assert "email" not in again.json()["scope"].split()  # what the user unticked stays unticked


# -- (c) deny ----------------------------------------------------------------------------------------


def test_deny_returns_access_denied_with_state_and_iss(site, page, client_app):
    url, params = site.authorize_url()
    client_app.start(page, url, f"{site.issuer}/login?**")
    submit_login(page, "alice@example.com", PASSWORD)
    assert "/consent" in page.url
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(f"{REDIRECT_URI}?**")

    assert client_app.arrivals[-1].startswith(REDIRECT_URI + "?")
    back = client_app.last
    assert back["error"] == "access_denied"
    assert back["state"] == params["state"]
    assert back["iss"] == site.issuer
    assert "code" not in back


def test_form_post_response_mode_posts_the_code_to_the_app(site, page, client_app):
    """response_mode=form_post: the browser POSTs the response to the redirect URI, submitted by our script
    file under the page's CSP (no inline script), and the code it carries is redeemable."""
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    url, params = site.authorize_url(response_mode="form_post")
    client_app.start(page, url, f"{site.issuer}/login?**")
    submit_login(page, "alice@example.com", PASSWORD)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(REDIRECT_URI)
    assert client_app.arrivals[-1] == REDIRECT_URI  # nothing in the query: all of it in the POST body
    posted = client_app.posted[-1]
    assert posted["state"] == params["state"] and posted["iss"] == site.issuer
    assert site.exchange(posted["code"], params["code_verifier"]).status_code == 200
    assert blocked == []


def test_form_post_without_javascript_has_a_continue_button(site, browser, client_app):
    context, page = open_page(browser, client_app, java_script_enabled=False)
    try:
        url, params = site.authorize_url(response_mode="form_post")
        client_app.start(page, url, f"{site.issuer}/login?**")
        submit_login(page, "alice@example.com", PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Allow").click()
        expect(page.get_by_role("heading", name="Returning to the application")).to_be_visible()
        shot(page, "form-post-no-script.png")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(REDIRECT_URI)
        assert client_app.posted[-1]["state"] == params["state"]
    finally:
        context.close()


# -- (d) headers and cookies -------------------------------------------------------------------------


def test_login_page_security_headers_and_session_cookie(site, context_and_page, client_app):
    context, page = context_and_page
    url, _ = site.authorize_url()
    with page.expect_response(lambda r: r.url.startswith(f"{site.issuer}/login?")) as login_page:
        client_app.start(page, url, f"{site.issuer}/login?**")
    response = login_page.value
    assert response.status == 200
    headers = response.headers
    assert "no-store" in headers["cache-control"]
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers.get("referrer-policy"), "the login page must set a Referrer-Policy"

    submit_login(page, "alice@example.com", PASSWORD)
    assert "/consent" in page.url
    cookies = {cookie["name"]: cookie for cookie in context.cookies(f"{site.issuer}/login")}
    assert "idp_session" in cookies, sorted(cookies)
    session = cookies["idp_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/t/acme"
    assert session["domain"] == "127.0.0.1"
    # HttpOnly: scripts on the page cannot read it.
    assert "idp_session" not in page.evaluate("document.cookie")


# -- (e) phone width ---------------------------------------------------------------------------------


def test_login_page_fits_a_phone_screen(site, browser, client_app):
    context, page = open_page(
        browser,
        client_app,
        viewport={"width": 375, "height": 740},
        is_mobile=True,
        device_scale_factor=2,
        has_touch=True,
    )
    try:
        url, _ = site.authorize_url()
        client_app.start(page, url, f"{site.issuer}/login?**")
        expect(page.locator("h1")).to_have_text("Sign in")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, "horizontal scrolling on a phone"
        for selector in ("#email", "#password", "button[type=submit]"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, (selector, box)
        button = page.locator("button[type=submit]").bounding_box()
        assert button is not None and button["height"] >= 40, "the button is too small to tap"
        shot(page, "login-phone.png")
    finally:
        context.close()


# -- languages: a German browser, and a client asking for German -------------------------------------


def test_a_german_browser_reads_the_login_and_consent_pages_in_german(site, browser, client_app):
    context, page = open_page(browser, client_app, locale="de-DE")  # Accept-Language: de-DE
    try:
        url, params = site.authorize_url()
        client_app.start(page, url, f"{site.issuer}/login?**")
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page).to_have_title("Anmelden · Acme Corp")
        expect(page.locator("h1")).to_have_text("Anmelden")
        expect(page.get_by_label("E-Mail-Adresse")).to_be_visible()
        with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url):
            submit_login(page, "alice@example.com", "falsch")
        expect(page.locator("[role=alert]")).to_have_text("E-Mail-Adresse oder Passwort ist falsch.")
        shot(page, "login-de.png")
        submit_login(page, "alice@example.com", PASSWORD)
        expect(page.locator("h1")).to_have_text("Acme Web möchte auf Ihr Konto zugreifen")
        expect(page.get_by_role("button", name="Erlauben")).to_be_visible()
        shot(page, "consent-de.png")
        page.get_by_role("button", name="Erlauben").click()
        page.wait_for_url(f"{REDIRECT_URI}?**")
        assert client_app.last["state"] == params["state"] and "code" in client_app.last
    finally:
        context.close()


def test_ui_locales_wins_over_the_browser_language(site, browser, client_app):
    context, page = open_page(browser, client_app, locale="de-DE")
    try:
        url, _ = site.authorize_url(ui_locales="en")
        client_app.start(page, url, f"{site.issuer}/login?**")
        expect(page.locator("h1")).to_have_text("Sign in")
    finally:
        context.close()


# -- an unregistered redirect URI: an error page, never a redirect ----------------------------------


def test_unregistered_redirect_uri_shows_an_error_page_and_does_not_redirect(site, page, client_app):
    url, _ = site.authorize_url(redirect_uri="https://evil.example.net/callback")
    with page.expect_response(lambda r: r.url.startswith(f"{site.issuer}/authorize?")) as answered:
        client_app.start(page, url, f"{site.issuer}/authorize?**")
    assert answered.value.status == 400  # answered here, not with a redirect to the unregistered URI
    assert page.url.startswith(f"{site.issuer}/authorize?")
    expect(page.locator("h1")).to_have_text("This sign-in link is not valid")
    expect(page.locator(".lede")).not_to_be_empty()
    assert client_app.arrivals == []
    shot(page, "error-redirect-uri.png")
