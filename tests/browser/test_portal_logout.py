"""A tenant admin in the portal, in a real browser: signs a user out everywhere from the user's page, then
sees the back-channel logout delivery to the app's receiver on the app's page."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_portal import SLUG, browsing, shot, sign_up, tenant_of  # noqa: F401 - browsing is a fixture
from tests.factories import make_client, make_user
from tests.flow import exchange, sign_in
from tests.identity.test_logout import Receiver, wait_until_recorded

pytestmark = pytest.mark.browser


def test_admin_signs_a_user_out_everywhere_and_sees_the_delivery(live_server, browsing):  # noqa: F811
    receiver = Receiver()
    try:
        page = browsing.page()
        sign_up(page, live_server.url)
        tenant = tenant_of(live_server)
        rp = make_client(live_server.ctx, tenant, name="Northwind Shop", backchannel_logout_uri=receiver.uri)
        alice = make_user(live_server.ctx, tenant, email="alice@example.com")
        with httpx.Client(base_url=live_server.url, follow_redirects=False) as users_browser:
            result = sign_in(users_browser, SLUG, rp.client_id, scope="openid offline_access")
            tokens = exchange(users_browser, SLUG, rp.client_id, rp.client_secret, result["code"], result["_verifier"])
            assert tokens["status"] == 200

        page.goto(f"{live_server.url}/t/{SLUG}/portal/users/{alice.id}")
        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page.locator("main")).to_contain_text("Signed out everywhere")
        receiver.wait(1)
        wait_until_recorded(live_server.ctx)

        page.goto(f"{live_server.url}/t/{SLUG}/portal/apps/{rp.client_id}")
        expect(page.locator("#deliveries-title")).to_have_text("Back-channel logout deliveries")
        expect(page.locator("#deliveries tbody tr")).to_have_count(1)
        expect(page.locator("#deliveries .badge-delivered")).to_have_text("delivered")
        expect(page.locator("#backchannel_logout_uri")).to_have_value(receiver.uri)
        page.locator("#deliveries").scroll_into_view_if_needed()
        shot(page, "logout-deliveries")
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
