"""The developer portal in a real browser (headless Chromium against the app on uvicorn): a company signs up,
registers an app, and a real Authlib client signs a user in with what the page showed; then rotation,
deletion, every portal page's accessibility basics, phone width and branding. Screenshots of every page go
to test-artifacts/screenshots/portal-*.png for review."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlmodel import select

from identity.models.client import Client
from identity.models.tenant import Tenant
from tenants.resolution import find_tenant
from tests.browser.client_app import ClientApp
from tests.factories import PASSWORD, REDIRECT_URI, inspect_db, make_user

pytestmark = pytest.mark.browser

from tests.conftest import SCREENSHOTS  # noqa: E402

APP_ORIGIN = "https://app.example.com/"
OWNER_EMAIL = "owner@northwind.test"
OWNER_PASSWORD = "owner password 123"
ORG_NAME = "Northwind Traders"
SLUG = "northwind-traders"  # what the page suggests for ORG_NAME
APP_NAME = "Northwind Web"
USER_SCOPE = "openid profile email offline_access"
PHONE = {"width": 375, "height": 740}
TEAL = "#0f766e"


# -- the browser, and contexts whose every request is recorded ----------------------------------------


class Browsing:
    """Fresh browser profiles (one per person) that record every request they make."""

    def __init__(self, browser: Browser, origin: str) -> None:
        self.browser, self.origin = browser, origin
        self.contexts: list[BrowserContext] = []
        self.requests: list[str] = []
        self.client_app = ClientApp()

    def page(self, **options: Any) -> Page:
        context = self.browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.route(APP_ORIGIN + "**", self.client_app)
        context.on("request", lambda request: self.requests.append(request.url))
        self.contexts.append(context)
        return context.new_page()

    def assert_nothing_left_the_origin(self) -> None:
        assert self.requests, "no request was recorded"
        foreign = [u for u in self.requests if not (u.startswith(self.origin + "/") or u.startswith(APP_ORIGIN))]
        assert foreign == [], f"requests left {self.origin}: {foreign}"

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser: Browser, live_server) -> Iterator[Browsing]:  # type: ignore[no-untyped-def]
    session = Browsing(browser, live_server.url)
    yield session
    session.close()


# -- what every page is checked for -------------------------------------------------------------------


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"portal-{name}.png"), full_page=True)


UNLABELLED_FIELDS = """() => {
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const text = (s) => (s || "").replace(/\\s+/g, " ").trim();
  const bad = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    // Visually hidden radio buttons (the app-type cards) are still form controls: they count too.
    if (!visible(el) && !(el.type === "radio" && el.closest(".type-option"))) continue;
    const byLabel = Array.from(el.labels || []).some((label) => text(label.textContent) !== "");
    const byAria = text(el.getAttribute("aria-label")) !== "";
    const byIds = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean)
      .some((id) => document.getElementById(id) && text(document.getElementById(id).textContent) !== "");
    if (!(byLabel || byAria || byIds)) bad.push(el.outerHTML.slice(0, 160));
  }
  return bad;
}"""


# Blurring alone leaves Chromium's sequential-focus starting point where the focus was: move it to the top of
# the body, as on a freshly loaded page (the body is focusable only for this instant).
START_FROM_THE_TOP = """() => {
  window.scrollTo(0, 0);
  document.body.tabIndex = -1;
  document.body.focus({ preventScroll: true });
  document.body.removeAttribute("tabindex");
}"""


def tabs_to_reach(page: Page, target: Locator, limit: int = 60) -> int:
    """Press Tab from the top of the page (nothing focused) until ``target`` has the focus."""
    expect(target).to_be_visible()
    page.evaluate(START_FROM_THE_TOP)
    element = target.element_handle()
    trail = []
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if element.evaluate("(el) => el === document.activeElement"):
            return presses
        trail.append(page.evaluate("() => document.activeElement && document.activeElement.outerHTML.slice(0, 80)"))
    raise AssertionError(f"{limit} presses of Tab never reached {target}; focus went to: {trail}")


def check_accessible(page: Page, primary: Locator) -> None:
    """Every visible field has a label; Tab from the top reaches the page's primary action."""
    unlabelled = page.evaluate(UNLABELLED_FIELDS)
    assert unlabelled == [], f"fields without a label on {page.url}: {unlabelled}"
    tabs_to_reach(page, primary)


def main_button(page: Page, name: str) -> Locator:
    return page.locator("main").get_by_role("button", name=name, exact=True)


def main_link(page: Page, name: str) -> Locator:
    return page.locator("main").get_by_role("link", name=name, exact=True).first


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Portal").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("main h1")).to_be_visible()


def copy_button(page: Page, field_id: str) -> Locator:
    return page.locator(f"button[data-copy='{field_id}']")


# -- steps a person takes ---------------------------------------------------------------------------------


def sign_up(
    page: Page,
    base: str,
    *,
    screenshot: bool = False,
    check: bool = False,
    on_form: Callable[[Page], None] | None = None,
) -> None:
    """Create the organisation at /signup and land in its portal."""
    page.goto(f"{base}/signup")
    expect(page.locator("h1")).to_have_text("Create your organisation")
    page.locator("#org_name").press_sequentially(ORG_NAME)
    expect(page.locator("#slug")).to_have_value(SLUG)  # suggested by the page's script
    expect(page.locator("#slug-status")).to_have_text("Available")
    page.fill("#email", OWNER_EMAIL)
    page.fill("#password", OWNER_PASSWORD)
    if on_form:
        on_form(page)
    if screenshot:
        shot(page, "signup")
    if check:
        check_accessible(page, page.get_by_role("button", name="Create organisation"))
    page.get_by_role("button", name="Create organisation").click()
    page.wait_for_url(f"{base}/t/{SLUG}/portal?welcome=1")
    expect(page.locator("main h1")).to_have_text("Applications")
    expect(page.locator(".who")).to_contain_text(OWNER_EMAIL)


def tenant_of(live_server) -> Tenant:  # type: ignore[no-untyped-def]
    with inspect_db(live_server.ctx) as session:
        tenant = find_tenant(session, SLUG)
    assert tenant is not None
    return tenant


def sign_in_end_user(page: Page, client_app: ClientApp, issuer: str, authorization_url: str) -> str:
    """The end user opens the app, clicks "Sign in", signs in and allows; returns where they were sent back."""
    client_app.sign_in_link = authorization_url
    page.goto(APP_ORIGIN)
    page.click("#sign-in")
    page.wait_for_url(f"{issuer}/login?**")
    expect(page.locator(".lede")).to_contain_text(APP_NAME)
    page.fill("#email", "alice@example.com")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{issuer}/consent?**")
    expect(page.locator("h1")).to_have_text(f"{APP_NAME} wants to access your account")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{REDIRECT_URI}?**")
    assert client_app.arrivals, "the browser never came back to the app"
    return client_app.arrivals[-1]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def validated_id_token(
    metadata: dict[str, Any], jwks: dict[str, Any], id_token: str, *, client_id: str, nonce: str, access_token: str
) -> CodeIDToken:
    keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    decoded = jwt.decode(id_token, keys, algorithms=metadata["id_token_signing_alg_values_supported"])
    assert decoded.header["kid"] in {key["kid"] for key in jwks["keys"]}
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate()  # iss, aud, exp, iat, nonce, azp, at_hash
    assert "at_hash" in claims, "the ID token of the code flow must carry at_hash"
    return claims


def rp_client(client_id: str, secret: str, statuses: list[tuple[str, int]]) -> OAuth2Client:
    """The relying party: Authlib's httpx client, PKCE S256, client_secret_basic; records response statuses."""
    return OAuth2Client(
        client_id,
        secret,
        scope=USER_SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        event_hooks={"response": [lambda response: statuses.append((str(response.url), response.status_code))]},
    )


# -- 1. the story from the issue -------------------------------------------------------------------------


def test_company_signs_up_registers_an_app_and_a_real_client_signs_users_in(live_server, browsing):
    base = live_server.url
    issuer = f"{base}/t/{SLUG}"
    owner = browsing.page()

    # A new company signs up and lands in its (empty) portal.
    sign_up(owner, base, screenshot=True, check=True)
    expect(owner.locator(".empty h2")).to_have_text("No applications yet")
    shot(owner, "apps-empty")
    check_accessible(owner, main_link(owner, "Create application"))

    # It registers a web app; a redirect URI over http is refused with its reason, next to the field.
    main_link(owner, "Create application").click()
    owner.wait_for_url(f"{issuer}/portal/apps/new")
    owner.locator("label[for=type-web]").click()
    expect(owner.locator("#type-web")).to_be_checked()
    owner.fill("#name", APP_NAME)
    owner.fill("#redirect_uris", "http://app.example.com/callback")
    for scope in USER_SCOPE.split():
        owner.locator(f"input[name=scopes][value='{scope}']").check()
    with owner.expect_navigation() as refused:
        main_button(owner, "Create application").click()
    assert refused.value is not None and refused.value.status == 400
    expect(owner.locator("#redirect_uris-errors")).to_contain_text("https")
    expect(owner.locator("#redirect_uris")).to_have_attribute("aria-invalid", "true")
    expect(owner.locator("#name")).to_have_value(APP_NAME)  # what was typed is kept
    expect(owner.locator("#type-web")).to_be_checked()
    shot(owner, "app-create-refused")
    check_accessible(owner, main_button(owner, "Create application"))

    owner.fill("#redirect_uris", REDIRECT_URI)
    main_button(owner, "Create application").click()
    # Post, then redirect to the app's own page: a reload cannot create the app twice.
    owner.wait_for_url(f"{issuer}/portal/apps/*")
    expect(owner.locator("#secret-title")).to_have_text("Your app is ready")
    expect(owner.locator("main h1")).to_have_text(APP_NAME)
    client_id = owner.input_value("#new-client-id")
    secret = owner.input_value("#new-client-secret")
    assert client_id and len(secret) >= 32
    shot(owner, "app-secret")
    check_accessible(owner, copy_button(owner, "new-client-secret"))
    for field in ("new-client-id", "new-client-secret"):
        copy_button(owner, field).click()
        expect(copy_button(owner, field)).to_have_text("Copied")

    nav(owner, "Applications")
    row = owner.locator("table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(APP_NAME)
    expect(row).to_contain_text(client_id)
    expect(row).to_contain_text("Web app")
    shot(owner, "apps")
    check_accessible(owner, main_link(owner, "Create application"))

    # A real relying party, with the credentials read from the page, signs an end user in (another browser).
    make_user(live_server.ctx, tenant_of(live_server))
    metadata = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    jwks = httpx.get(metadata["jwks_uri"]).json()
    statuses: list[tuple[str, int]] = []
    with rp_client(client_id, secret, statuses) as rp:
        verifier, nonce = generate_token(48), secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        end_user = browsing.page()
        returned = sign_in_end_user(end_user, browsing.client_app, issuer, url)
        assert query_of(returned)["state"] == state and query_of(returned)["iss"] == issuer
        token = rp.fetch_token(
            metadata["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
        )
        assert set(token["scope"].split()) == set(USER_SCOPE.split())
        claims = validated_id_token(
            metadata, jwks, token["id_token"], client_id=client_id, nonce=nonce, access_token=token["access_token"]
        )
        assert claims["email"] == "alice@example.com"
        info = rp.get(metadata["userinfo_endpoint"])
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == claims["sub"]

    # The owner rotates the secret, the old one working for one more hour.
    owner.get_by_role("link", name=APP_NAME).click()
    owner.wait_for_url(f"{issuer}/portal/apps/{client_id}")
    expect(owner.locator("#new-client-secret")).to_have_count(0)  # the secret was shown only once
    owner.select_option("#grace_seconds", "3600")
    main_button(owner, "Rotate secret").click()
    owner.wait_for_url(f"{issuer}/portal/apps/{client_id}")  # redirected: a reload cannot rotate again
    expect(owner.locator("#secret-title")).to_have_text("New client secret")
    new_secret = owner.input_value("#new-client-secret")
    assert new_secret and new_secret != secret
    expect(owner.locator("#new-client-id")).to_have_value(client_id)
    expect(owner.locator("#rotate-title + .hint")).to_contain_text("The previous secret works until")
    shot(owner, "app-rotated")
    copy_button(owner, "new-client-secret").click()
    expect(copy_button(owner, "new-client-secret")).to_have_text("Copied")

    # Both secrets refresh during the grace period.
    token_endpoint = metadata["token_endpoint"]
    with rp_client(client_id, new_secret, statuses) as rp_new:
        refreshed = rp_new.refresh_token(token_endpoint, refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    with rp_client(client_id, secret, statuses) as rp_old:
        during_grace = rp_old.refresh_token(token_endpoint, refresh_token=refreshed["refresh_token"])
    assert during_grace["access_token"]

    # When the grace period is over, the old secret is refused.
    with inspect_db(live_server.ctx) as session:
        row = session.exec(select(Client).where(Client.id == client_id)).one()
        row.previous_secret_expires_at = 1
        session.add(row)
    statuses.clear()
    with rp_client(client_id, secret, statuses) as rp_old, pytest.raises(OAuthError) as expired:
        rp_old.refresh_token(token_endpoint, refresh_token=during_grace["refresh_token"])
    assert expired.value.error == "invalid_client"
    assert statuses == [(token_endpoint, 401)]
    bearer = {"Authorization": f"Bearer {during_grace['access_token']}"}
    assert httpx.get(metadata["userinfo_endpoint"], headers=bearer).status_code == 200  # still valid before delete

    # The owner deletes the app (typed confirmation); its tokens stop working.
    owner.goto(f"{issuer}/portal/apps/{client_id}")
    main_link(owner, f"Delete {APP_NAME}…").click()
    owner.wait_for_url(f"{issuer}/portal/apps/{client_id}/delete")
    expect(owner.locator("main h1")).to_have_text(f"Delete {APP_NAME}?")
    owner.fill("#confirm_name", APP_NAME)
    shot(owner, "app-delete")
    check_accessible(owner, main_button(owner, "Delete application"))
    main_button(owner, "Delete application").click()
    owner.wait_for_url(f"{issuer}/portal?deleted=1")
    expect(owner.get_by_role("status")).to_have_text("The application was deleted; its tokens no longer work.")
    expect(owner.locator(".empty h2")).to_have_text("No applications yet")

    revoked = httpx.get(metadata["userinfo_endpoint"], headers=bearer)
    assert revoked.status_code == 401, revoked.text
    statuses.clear()
    with rp_client(client_id, new_secret, statuses) as rp_new, pytest.raises(OAuthError) as gone:
        rp_new.refresh_token(token_endpoint, refresh_token=during_grace["refresh_token"])
    assert gone.value.error == "invalid_client"  # the client itself no longer exists
    assert statuses == [(token_endpoint, 401)]

    browsing.assert_nothing_left_the_origin()


# -- 2 and 3. every other portal page: screenshot and accessibility basics ---------------------------------


def test_users_team_scopes_audit_and_the_forbidden_page(live_server, browsing):
    base = live_server.url
    issuer = f"{base}/t/{SLUG}"
    owner = browsing.page()
    sign_up(owner, base)
    alice = make_user(live_server.ctx, tenant_of(live_server))

    nav(owner, "Users")
    rows = owner.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(owner.locator("table")).to_contain_text("alice@example.com")
    expect(owner.locator("table")).to_contain_text(OWNER_EMAIL)
    shot(owner, "users")
    check_accessible(owner, main_link(owner, "Create user"))

    owner.get_by_role("link", name="alice@example.com").click()
    owner.wait_for_url(f"{issuer}/portal/users/{alice.id}")
    expect(owner.locator("main h1")).to_have_text("alice@example.com")
    expect(owner.locator("main")).to_contain_text(alice.id)
    shot(owner, "user-detail")
    check_accessible(owner, main_button(owner, "Disable user"))

    nav(owner, "Team")
    owner.fill("#invite-email", "dev@northwind.test")
    owner.locator("#invite-role-developer").check()
    main_button(owner, "Create invitation").click()
    owner.wait_for_url(f"{issuer}/portal/team/invite")
    expect(owner.locator("#invited-title")).to_have_text("Invitation created for dev@northwind.test")
    assert owner.input_value("#invitation-link").startswith(f"{issuer}/portal/invitations/")
    expect(owner.locator("main")).to_contain_text("Pending invitations")
    shot(owner, "team-invitation")
    check_accessible(owner, copy_button(owner, "invitation-link"))
    copy_button(owner, "invitation-link").click()
    expect(copy_button(owner, "invitation-link")).to_have_text("Copied")

    nav(owner, "Scopes")
    owner.fill("#name", "orders:read")
    owner.fill("#description", "Read your orders")
    main_button(owner, "Add scope").click()
    owner.wait_for_url(f"{issuer}/portal/scopes?notice=created")
    expect(owner.locator("main")).to_contain_text("orders:read")
    expect(owner.locator("input[value='Read your orders']")).to_be_visible()
    shot(owner, "scopes")
    check_accessible(owner, main_button(owner, "Add scope"))

    nav(owner, "Audit log")
    table = owner.locator("main table")
    expect(table).to_contain_text("scope.created")
    expect(table).to_contain_text("tenant.created")
    expect(table).to_contain_text(OWNER_EMAIL)
    shot(owner, "audit")
    check_accessible(owner, main_button(owner, "Filter"))

    # An end user of the tenant, signed in but with no portal role, opens the portal.
    stranger = browsing.page()
    stranger.goto(f"{issuer}/portal")
    stranger.wait_for_url(f"{issuer}/login?**")
    stranger.fill("#email", "alice@example.com")
    stranger.fill("#password", PASSWORD)
    with stranger.expect_response(f"{issuer}/portal") as answered:
        stranger.get_by_role("button", name="Continue").click()
        stranger.wait_for_url(f"{issuer}/portal")
    assert answered.value.status == 403
    expect(stranger.locator("h1")).to_have_text("You can't open this page")
    expect(stranger.locator(".lede")).to_have_text(
        "Your account is not a member of this organisation's developer team."
    )
    expect(stranger.locator("body")).not_to_contain_text(OWNER_EMAIL)
    shot(stranger, "forbidden")
    check_accessible(stranger, stranger.get_by_role("button", name="Sign in with another account"))

    browsing.assert_nothing_left_the_origin()


# -- 4. branding reaches the hosted login page ------------------------------------------------------------


def test_brand_colour_from_settings_reaches_the_hosted_login_button(live_server, browsing):
    base = live_server.url
    issuer = f"{base}/t/{SLUG}"
    owner = browsing.page()
    sign_up(owner, base)

    nav(owner, "Branding & settings")
    expect(owner.locator("#name")).to_have_value(ORG_NAME)
    owner.fill("#primary_color", TEAL)
    main_button(owner, "Save settings").click()
    owner.wait_for_url(f"{issuer}/portal/settings?notice=saved")
    expect(owner.get_by_role("status")).to_have_text("Settings saved.")
    expect(owner.locator("#primary_color")).to_have_value(TEAL)
    shot(owner, "settings")
    check_accessible(owner, main_button(owner, "Save settings"))

    visitor = browsing.page()
    visitor.goto(f"{issuer}/portal")  # not signed in: the tenant's hosted login page
    visitor.wait_for_url(f"{issuer}/login?**")
    continue_button = visitor.get_by_role("button", name="Continue")
    expect(continue_button).to_have_css("background-color", "rgb(15, 118, 110)")
    background = continue_button.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert background == "rgb(15, 118, 110)"
    expect(visitor.locator(".brand-name")).to_have_text(ORG_NAME)
    shot(visitor, "branded-login")

    browsing.assert_nothing_left_the_origin()


def test_the_seed_grants_are_allowed_then_opted_into_with_a_warning_at_each_step(live_server, browsing):
    """The organisation allows the password grant in its settings; the app's page then offers it, warns,
    and says so once the app is opted in. Both pages are screenshotted and checked for labels."""
    base = live_server.url
    issuer = f"{base}/t/{SLUG}"
    owner = browsing.page()
    sign_up(owner, base)
    nav(owner, "Branding & settings")
    expect(owner.locator("#grant-password")).not_to_be_checked()  # off by default
    owner.locator("#grant-password").check()
    main_button(owner, "Save settings").click()
    owner.wait_for_url(f"{issuer}/portal/settings?notice=saved")
    expect(owner.locator("#grant-password")).to_be_checked()
    shot(owner, "settings-seed-grants")

    nav(owner, "Applications")
    main_link(owner, "Create application").click()
    owner.locator("label[for=type-web]").click()
    owner.fill("#name", APP_NAME)
    owner.fill("#redirect_uris", REDIRECT_URI)
    owner.locator("input[name=scopes][value='openid']").check()
    expect(owner.locator(".legacy-grants .warning")).to_be_visible()
    expect(owner.locator("#legacy-implicit")).to_have_count(0)  # not allowed by the organisation
    main_button(owner, "Create application").click()
    owner.wait_for_url(f"{issuer}/portal/apps/*")
    expect(owner.locator("#legacy-warning")).to_have_count(0)
    owner.locator("#legacy-password").check()
    main_button(owner, "Save changes").click()
    owner.wait_for_url(f"{issuer}/portal/apps/*?notice=saved")
    expect(owner.locator("#legacy-warning")).to_contain_text("resource owner password grant")
    expect(owner.locator("#legacy-password")).to_be_checked()
    owner.locator("#legacy-password").scroll_into_view_if_needed()
    shot(owner, "app-seed-grants")
    check_accessible(owner, main_button(owner, "Save changes"))


# -- phone width ----------------------------------------------------------------------------------------


def assert_fits_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} scrolls sideways on a phone: {width}px wide"


def test_every_portal_page_fits_a_phone_screen(live_server, browsing):
    base = live_server.url
    issuer = f"{base}/t/{SLUG}"
    phone = browsing.page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    sign_up(phone, base, on_form=assert_fits_phone)
    assert_fits_phone(phone)
    alice = make_user(live_server.ctx, tenant_of(live_server))

    main_link(phone, "Create application").click()
    phone.wait_for_url(f"{issuer}/portal/apps/new")
    assert_fits_phone(phone)
    phone.fill("#name", APP_NAME)
    phone.fill("#redirect_uris", REDIRECT_URI)
    main_button(phone, "Create application").click()
    phone.wait_for_url(f"{issuer}/portal/apps/*")
    expect(phone.locator("#secret-title")).to_have_text("Your app is ready")
    client_id = phone.input_value("#new-client-id")
    assert_fits_phone(phone)

    phone.goto(f"{issuer}/portal")
    expect(phone.locator("table tbody tr")).to_contain_text(APP_NAME)
    assert_fits_phone(phone)
    shot(phone, "apps-phone")

    for path in (
        f"/portal/apps/{client_id}",
        f"/portal/apps/{client_id}/delete",
        "/portal/users",
        f"/portal/users/{alice.id}",
        "/portal/team",
        "/portal/scopes",
        "/portal/settings",
        "/portal/audit",
    ):
        response = phone.goto(issuer + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        expect(phone.locator("main h1")).to_be_visible()
        assert_fits_phone(phone)

    browsing.assert_nothing_left_the_origin()
