"""The admin console in a real browser (headless Chromium against the app on uvicorn): an admin signs in,
creates a tenant, suspends and resumes it (real HTTP clients see the endpoints refuse, then work again),
deletes another tenant by typing its slug, and reads the audit log. Screenshots go to
test-artifacts/screenshots/admin-*.png for review."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select
from sqlmodel import SQLModel

from tenants.resolution import find_tenant
from tests.admin.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, make_admin
from tests.browser.test_portal import PHONE, assert_fits_phone, check_accessible
from tests.conftest import SCREENSHOTS
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange
from tests.flow import sign_in as user_signs_in

pytestmark = pytest.mark.browser

REASON = "Security review in progress: contact support@platform.test"


class Console:
    """Browser pages that record every console message, so a CSP violation or script error fails the test."""

    def __init__(self, browser: Browser) -> None:
        self.browser, self.contexts, self.errors = browser, [], []

    def page(self, **options: object) -> Page:
        context = self.browser.new_context(**options)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("response", self._on_response)
        return page

    def _on_console(self, message) -> None:  # type: ignore[no-untyped-def]
        # A page answered with 4xx on purpose logs "Failed to load resource"; sub-resources are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _on_response(self, response) -> None:  # type: ignore[no-untyped-def]
        """Every stylesheet and script a page uses loads (Chromium's own favicon probe aside)."""
        if response.request.resource_type != "document" and response.status >= 400:
            if not response.url.endswith("/favicon.ico"):
                self.errors.append(f"{response.status} {response.url}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def console(browser: Browser) -> Iterator[Console]:
    session = Console(browser)
    yield session
    session.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)


def main_button(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("main").get_by_role("button", name=name, exact=True)


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()


def sign_in(page: Page, base: str, *, screenshot: bool = False) -> None:
    page.goto(f"{base}/admin/tenants")
    page.wait_for_url(f"{base}/admin/login?next=%2Fadmin%2Ftenants")
    expect(page.locator("h1")).to_have_text("Admin console")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    if screenshot:
        shot(page, "login")
        check_accessible(page, page.get_by_role("button", name="Sign in"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/tenants")
    expect(page.locator("main h1")).to_have_text("Tenants")


def row_counts(ctx, tenant_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        return {
            table.name: session.execute(
                select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
            ).scalar_one()
            for table in SQLModel.metadata.sorted_tables
            if "tenant_id" in table.c
        }


def test_an_admin_creates_suspends_resumes_and_deletes_tenants(live_server, console):
    ctx, base = live_server.ctx, live_server.url
    make_admin(ctx)
    globex = make_tenant(ctx, "globex", "Globex Inc")
    make_user(ctx, globex)
    make_client(ctx, globex, name="Globex Web")
    make_tenant(ctx, "umbrella", "Umbrella Corp")
    umbrella_rows = row_counts(ctx, find_tenant_id(ctx, "umbrella"))

    admin = console.page()
    sign_in(admin, base, screenshot=True)
    expect(admin.locator("main table tbody tr")).to_have_count(2)
    expect(admin.locator(".who")).to_contain_text(ADMIN_EMAIL)

    # Create a tenant with an owner invitation: the link is shown once.
    admin.locator("main").get_by_role("link", name="Create tenant").click()
    admin.wait_for_url(f"{base}/admin/new-tenant")
    admin.fill("#name", "Initech")
    admin.fill("#slug", "initech")
    admin.fill("#owner_email", "boss@initech.test")
    shot(admin, "tenant-new")
    check_accessible(admin, main_button(admin, "Create tenant"))
    main_button(admin, "Create tenant").click()
    admin.wait_for_url(f"{base}/admin/tenants/initech?notice=created")
    expect(admin.locator("#invited-title")).to_have_text("Owner invitation for boss@initech.test")
    link = admin.input_value("#invitation-link")
    assert link.startswith(f"{base}/t/initech/portal/invitations/")
    admin.locator("button[data-copy='invitation-link']").click()
    expect(admin.locator("button[data-copy='invitation-link']")).to_have_text("Copied")
    shot(admin, "tenant-created")
    assert httpx.get(link).status_code == 200  # the invitee can open it

    # Someone signs in to an app of the new tenant: an access token from before the suspension.
    initech = find_tenant_row(ctx, "initech")
    make_user(ctx, initech)
    rp = make_client(ctx, initech, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    discovery = f"{base}/t/initech/.well-known/openid-configuration"
    with httpx.Client(base_url=base, follow_redirects=False) as rp_http:
        redirect = user_signs_in(rp_http, "initech", rp.client_id)  # type: ignore[arg-type]
        tokens = exchange(rp_http, "initech", rp.client_id, rp.client_secret, redirect["code"], redirect["_verifier"])  # type: ignore[arg-type]
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    metadata = httpx.get(discovery).json()
    assert httpx.get(metadata["userinfo_endpoint"], headers=bearer).status_code == 200

    # Suspend it, with a reason.
    admin.goto(f"{base}/admin/tenants/initech")
    expect(admin.locator("#invitation-link")).to_have_count(0)  # shown once only
    admin.fill("#reason", REASON)
    main_button(admin, "Suspend tenant").click()
    admin.wait_for_url(f"{base}/admin/tenants/initech?notice=suspended")
    expect(admin.locator("#suspended-title")).to_have_text("This tenant is suspended")
    expect(admin.locator("main")).to_contain_text(REASON)
    shot(admin, "tenant-suspended")
    check_accessible(admin, main_button(admin, "Resume tenant"))

    refused = httpx.get(discovery)
    assert refused.status_code == 403 and refused.json()["error"] == "tenant_suspended"
    token = httpx.post(
        metadata["token_endpoint"], data={"grant_type": "client_credentials"}, auth=(rp.client_id, rp.client_secret)
    )
    assert token.status_code == 403 and token.json()["error"] == "tenant_suspended"
    userinfo = httpx.get(metadata["userinfo_endpoint"], headers=bearer)
    assert userinfo.status_code in {401, 403} and "sub" not in userinfo.text

    visitor = console.page()
    answered = visitor.goto(f"{base}/t/initech/portal")
    assert answered is not None and answered.status == 403
    expect(visitor.locator("h1")).to_have_text("Organisation suspended")
    expect(visitor.locator(".lede")).to_contain_text("Initech is suspended")
    expect(visitor.locator(".lede")).to_contain_text(REASON)
    shot(visitor, "suspended-portal")

    # Resume it: everything works again, the old token included (it was refused, never revoked).
    main_button(admin, "Resume tenant").click()
    admin.wait_for_url(f"{base}/admin/tenants/initech?notice=resumed")
    expect(admin.get_by_role("status")).to_have_text("The tenant is active again.")
    assert httpx.get(discovery).status_code == 200
    assert httpx.get(metadata["userinfo_endpoint"], headers=bearer).status_code == 200
    assert (
        httpx.post(
            metadata["token_endpoint"], data={"grant_type": "client_credentials"}, auth=(rp.client_id, rp.client_secret)
        ).status_code
        == 200
    )
    live_server.ctx.usage.flush(live_server.ctx.sessions)
    admin.reload()
    expect(admin.locator(".stats")).to_contain_text("Users")
    shot(admin, "tenant-detail")
    check_accessible(admin, main_button(admin, "Rename"))

    # Delete another tenant by typing its slug.
    nav(admin, "Tenants")
    expect(admin.locator("main table tbody tr")).to_have_count(3)
    shot(admin, "tenants")
    check_accessible(admin, main_button(admin, "Search"))
    admin.locator("main table").get_by_role("link", name="globex").click()
    admin.wait_for_url(f"{base}/admin/tenants/globex")
    admin.get_by_role("link", name="Delete globex…").click()
    admin.wait_for_url(f"{base}/admin/tenants/globex/delete")
    globex_rows = row_counts(ctx, globex.id)
    assert sum(globex_rows.values()) > 5
    admin.fill("#confirm_slug", "Globex Inc")
    with admin.expect_navigation() as wrong:
        main_button(admin, "Delete tenant").click()
    assert wrong.value is not None and wrong.value.status == 400
    expect(admin.locator("#confirm-error")).to_contain_text("Type the tenant's slug, globex, exactly to confirm.")
    expect(admin.locator("#confirm_slug")).to_have_attribute("aria-invalid", "true")
    assert row_counts(ctx, globex.id) == globex_rows
    admin.fill("#confirm_slug", "globex")
    shot(admin, "tenant-delete")
    check_accessible(admin, main_button(admin, "Delete tenant"))
    main_button(admin, "Delete tenant").click()
    admin.wait_for_url(f"{base}/admin/tenants?deleted=globex")
    expect(admin.get_by_role("status")).to_contain_text("globex was deleted")
    expect(admin.locator("main table tbody tr")).to_have_count(2)
    assert find_tenant_row(ctx, "globex") is None
    assert set(row_counts(ctx, globex.id).values()) == {0}
    assert row_counts(ctx, find_tenant_id(ctx, "umbrella")) == umbrella_rows
    assert httpx.get(f"{base}/t/globex/.well-known/openid-configuration").status_code == 404

    # The audit log tells the story, newest first, filtered by action prefix.
    nav(admin, "Audit log")
    expect(admin.locator("main h1")).to_have_text("Audit log")
    table = admin.locator("main table")
    for action in ("tenant.created", "tenant.suspended", "tenant.resumed", "tenant.deleted", "admin.login_succeeded"):
        expect(table).to_contain_text(action)
    shot(admin, "audit")
    check_accessible(admin, main_button(admin, "Filter"))
    admin.fill("#action", "tenant.")
    admin.fill("#tenant", "platform")
    main_button(admin, "Filter").click()
    admin.wait_for_url(f"{base}/admin/audit?tenant=platform&action=tenant.&actor=")
    expect(admin.locator("main table tbody tr")).to_have_count(4)

    # Account, then sign out: the console is closed again.
    nav(admin, "Account")
    expect(admin.locator("main h2")).to_have_text("Two-step verification")
    shot(admin, "account")
    admin.get_by_role("button", name="Sign out").click()
    admin.wait_for_url(f"{base}/admin/login?signed_out=1")
    expect(admin.get_by_role("status")).to_have_text("You are signed out.")
    admin.goto(f"{base}/admin/tenants")
    admin.wait_for_url(f"{base}/admin/login?next=%2Fadmin%2Ftenants")

    assert console.errors == []


def test_totp_enrolment_and_the_code_step(live_server, console):
    import pyotp  # noqa: PLC0415

    ctx, base = live_server.ctx, live_server.url
    make_admin(ctx)
    page = console.page()
    sign_in(page, base)
    nav(page, "Account")
    page.get_by_role("link", name="Set up two-step verification").click()
    page.wait_for_url(f"{base}/admin/account/totp")
    secret = page.input_value("#totp-secret")
    assert page.input_value("#totp-uri").startswith("otpauth://totp/Identity%20platform:")
    shot(page, "totp-enrol")
    check_accessible(page, main_button(page, "Turn on"))
    page.fill("#code", pyotp.TOTP(secret).now())
    main_button(page, "Turn on").click()
    page.wait_for_url(f"{base}/admin/account?notice=totp")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/admin/login?signed_out=1")

    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/login/totp?next=%2Fadmin%2Ftenants")
    shot(page, "totp-step")
    check_accessible(page, page.get_by_role("button", name="Verify"))
    totp = pyotp.TOTP(secret)
    page.fill("#code", totp.generate_otp(totp.timecode(__import__("time").time()) + 1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base}/admin/tenants")
    assert console.errors == []


def test_console_pages_fit_a_phone(live_server, console):
    ctx, base = live_server.ctx, live_server.url
    make_admin(ctx)
    make_tenant(ctx, "acme-industrial-holdings", "Acme Industrial Holdings International")
    phone = console.page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    sign_in(phone, base)
    for path, name in (
        ("/admin/audit", ""),
        ("/admin/account", ""),
        ("/admin/new-tenant", ""),
        ("/admin/tenants/acme-industrial-holdings", "tenant-detail-phone"),
        ("/admin/tenants", "tenants-phone"),
    ):
        response = phone.goto(base + path)
        assert response is not None and response.status == 200, path
        assert_fits_phone(phone)
        if name:
            shot(phone, name)
    assert console.errors == []


def find_tenant_row(ctx, slug: str):  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        return find_tenant(session, slug)


def find_tenant_id(ctx, slug: str) -> str:  # type: ignore[no-untyped-def]
    tenant = find_tenant_row(ctx, slug)
    assert tenant is not None
    return tenant.id
