"""The relying party's side of the browser in tests: https://app.example.com, answered by a Playwright route."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, Route

from tests.factories import REDIRECT_URI


class ClientApp:
    """The relying party's side of the browser. Its origin (https://app.example.com) does not exist, so the
    browser's requests to it are answered here: its home page has a "Sign in" link to the authorization
    URL (a person starts there), and arrivals at its redirect URI are recorded and answered with a tiny page.

    With this Playwright and Chromium, a route sees a redirect to the app only while a ``wait_for_url``
    for that very destination is pending (not after ``page.goto``, ``expect_navigation`` or a wait that
    an earlier hop satisfies): so every step names where it must land."""

    def __init__(self) -> None:
        self.arrivals: list[str] = []
        self.posted: list[dict[str, str]] = []  # the forms POSTed to the redirect URI (response_mode=form_post)
        self.sign_in_link = ""

    def __call__(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(REDIRECT_URI):
            self.arrivals.append(url)
            if route.request.method == "POST":
                self.posted.append({k: v[0] for k, v in parse_qs(route.request.post_data or "").items()})
            body = "<!doctype html><title>app</title><p>back in the app</p>"
        else:
            link = escape(self.sign_in_link)
            body = f'<!doctype html><title>app</title><a id="sign-in" href="{link}">Sign in</a>'
        route.fulfill(status=200, content_type="text/html", body=body)

    def start(self, page: Page, authorize_url: str, lands_on: str) -> None:
        """Open the app, click its "Sign in" link (to the provider's /authorize), wait to land on ``lands_on``
        (a URL glob: the login page, the consent page, the app's redirect URI, the error page)."""
        self.sign_in_link = authorize_url
        page.goto("https://app.example.com/")
        page.click("#sign-in")
        page.wait_for_url(lands_on)

    @property
    def last(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.arrivals[-1]).query).items()}
