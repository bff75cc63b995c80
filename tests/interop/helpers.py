"""What the interop tests share: a fresh browser profile per test, and a user signing in on the hosted pages
and coming back to the relying party's redirect URI.

A test module imports the ``context`` fixture by name (``from tests.interop.helpers import context as context``:
the explicit re-export keeps ruff from reading the test's ``context`` argument as a redefinition)."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from identity.changes import announce, tenant_changed
from identity.db import session_scope
from identity.models.tenant import ALL_GRANT_TYPES, Tenant
from tests.factories import PASSWORD, REDIRECT_URI


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies: nobody signed in yet) on the module's Chromium."""
    profile = browser.new_context()
    profile.set_default_timeout(10_000)
    yield profile
    profile.close()


def sign_in_in_browser(context: BrowserContext, authorization_url: str, email: str = "alice@example.com") -> str:
    """Open the app, click its "Sign in" link (to the authorization URL), sign in on the hosted page, allow on
    the consent page if it is shown; returns the URL the browser was sent back to (the redirect URI).

    https://app.example.com does not exist: the route answers for it (its home page with the link, a tiny
    page at the callback). With this Playwright and Chromium, a route sees a redirect to the app only
    while a ``wait_for_url`` for that very destination is pending: so every step names where it lands."""
    captured: list[str] = []

    def app(route: Route) -> None:
        url = route.request.url
        if url.startswith(REDIRECT_URI):
            captured.append(url)
            body = "<!doctype html><title>app</title><p>signed in</p>"
        else:
            link = escape(authorization_url)
            body = f'<!doctype html><title>app</title><a id="sign-in" href="{link}">Sign in</a>'
        route.fulfill(status=200, content_type="text/html", body=body)

    page: Page = context.new_page()
    page.route("https://app.example.com/**", app)
    issuer = authorization_url.split("/authorize?")[0]
    page.goto("https://app.example.com/")
    page.click("#sign-in")
    page.wait_for_url(f"{issuer}/login?**")  # nobody is signed in yet: the hosted login page
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    back = (f"{REDIRECT_URI}?", f"{REDIRECT_URI}#")  # the implicit flow answers in the fragment
    page.wait_for_url(lambda url: url.startswith((f"{issuer}/consent?", *back)))
    if "/consent?" in page.url:
        page.click("button[name=decision][value=approve]")
        page.wait_for_url(lambda url: url.startswith(back))
    landed = page.url  # with the fragment, which the request the route saw does not carry
    page.close()
    assert len(captured) == 1, captured
    return landed if "#" in landed else captured[0]


def allow_seed_grants(ctx, tenant) -> None:  # type: ignore[no-untyped-def]
    """The tenant allows the password grant and the implicit flow (its apps still need opting in); announced
    as the portal's settings change is, so every cache of the tenant (discovery's too) forgets it."""
    with session_scope(ctx.sessions) as session:
        row = session.get(Tenant, tenant.id)
        row.allowed_grant_types = list(ALL_GRANT_TYPES)
        session.add(row)
        announce(session, tenant_changed(tenant.id, tenant.slug))
