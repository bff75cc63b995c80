"""Real concurrency on PostgreSQL for the device grant (RFC 8628): of N simultaneous polls of one approved
device code exactly one gets tokens, the others ``invalid_grant``; N polls of a pending one all get a polling
answer, never a 500. A live uvicorn server, N threads released by one barrier (``race``)."""

import httpx
import pytest

from identity.models.tenant import DEVICE_CODE
from tests.factories import PASSWORD, make_client, make_tenant, make_user
from tests.flow import hidden, submit_login
from tests.postgres.test_concurrency import N, race

pytestmark = pytest.mark.postgres


@pytest.fixture
def setup(live_server):
    tenant = make_tenant(live_server.ctx)
    make_user(live_server.ctx, tenant)
    tv = make_client(
        live_server.ctx,
        tenant,
        name="Acme TV",
        public=True,
        redirect_uris=[],
        grant_types=[DEVICE_CODE, "refresh_token"],
    )
    browser = httpx.Client(base_url=live_server.url, follow_redirects=False)
    yield live_server, tv, browser
    browser.close()


def start(browser, tv):
    response = browser.post(
        "/t/acme/device_authorization", data={"client_id": tv.client_id, "scope": "openid offline_access"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def approve(browser, user_code):
    page = browser.get("/t/acme/device")
    entered = browser.post(
        "/t/acme/device", data={"csrf_token": hidden(page.text, "csrf_token"), "user_code": user_code}
    )
    login = browser.get(entered.headers["location"])
    signed_in = submit_login(browser, "acme", login.text, "alice@example.com", PASSWORD)
    consent = browser.get(signed_in.headers["location"])
    done = browser.post(
        "/t/acme/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "flow": hidden(consent.text, "flow"),
            "decision": "approve",
            "scope": ["offline_access"],
        },
    )
    assert done.status_code == 200 and "Device connected" in done.text, done.text


def test_concurrent_polls_after_approval_exactly_one_gets_tokens(setup):
    live, tv, browser = setup
    device = start(browser, tv)
    approve(browser, device["user_code"])
    data = {"grant_type": DEVICE_CODE, "device_code": device["device_code"], "client_id": tv.client_id}
    answers = race(live.url, lambda client: client.post("/t/acme/token", data=data))
    assert sorted(a.status_code for a in answers) == [200] + [400] * (N - 1)
    assert sorted(a.json().get("error", "") for a in answers) == [""] + ["invalid_grant"] * (N - 1)
    [won] = [a.json() for a in answers if a.status_code == 200]
    assert won["scope"] == "openid offline_access" and "refresh_token" in won and "id_token" in won


def test_concurrent_polls_of_a_pending_code_are_all_polling_answers(setup):
    live, tv, browser = setup
    device = start(browser, tv)
    data = {"grant_type": DEVICE_CODE, "device_code": device["device_code"], "client_id": tv.client_id}
    answers = race(live.url, lambda client: client.post("/t/acme/token", data=data))
    assert {a.status_code for a in answers} == {400}
    assert {a.json()["error"] for a in answers} <= {"authorization_pending", "slow_down"}


def test_two_browsers_answering_one_code_store_one_answer(setup):
    """Two people enter the same code and both reach the consent page; the first answer counts, the second
    browser is told the code is spent (the conditional UPDATE of a pending authorization)."""
    live, tv, browser = setup
    device = start(browser, tv)
    consents = []
    browsers = [httpx.Client(base_url=live.url, follow_redirects=False) for _ in range(2)]
    try:
        for each in browsers:
            page = each.get("/t/acme/device")
            entered = each.post(
                "/t/acme/device", data={"csrf_token": hidden(page.text, "csrf_token"), "user_code": device["user_code"]}
            )
            login = each.get(entered.headers["location"])
            signed_in = submit_login(each, "acme", login.text, "alice@example.com", PASSWORD)
            consents.append((each, each.get(signed_in.headers["location"]).text))
        results = []
        for decision, (each, text) in zip(("approve", "deny"), consents, strict=True):
            form = {"csrf_token": hidden(text, "csrf_token"), "flow": hidden(text, "flow"), "decision": decision}
            results.append(each.post("/t/acme/consent", data={**form, "scope": ["offline_access"]}))
    finally:
        for each in browsers:
            each.close()
    assert [r.status_code for r in results] == [200, 400]
    assert "This code has expired" in results[1].text
    poll = browser.post(
        "/t/acme/token",
        data={"grant_type": DEVICE_CODE, "device_code": device["device_code"], "client_id": tv.client_id},
    )
    assert poll.status_code == 200
