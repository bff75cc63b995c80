"""Real concurrency on PostgreSQL: of N simultaneous redemptions of one code (or one refresh token),
exactly one succeeds. Runs against a live uvicorn server, N threads released by one barrier."""

import threading

import httpx
import pytest

from tests.factories import REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import sign_in

pytestmark = pytest.mark.postgres
N = 8


def race(url: str, data: dict, auth: tuple[str, str]) -> list[int]:
    barrier = threading.Barrier(N)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            barrier.wait()
            status = client.post("/t/acme/token", data=data, auth=auth).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=attempt) for _ in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.fixture
def setup(live_server):
    tenant = make_tenant(live_server.ctx)
    make_user(live_server.ctx, tenant)
    rp = make_client(live_server.ctx, tenant)
    browser = httpx.Client(base_url=live_server.url, follow_redirects=False)
    yield live_server, rp, browser
    browser.close()


def test_concurrent_code_redemption_exactly_one_wins(setup):
    live, rp, browser = setup
    result = sign_in(browser, "acme", rp.client_id)
    data = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": result["_verifier"],
    }
    statuses = race(live.url, data, (rp.client_id, rp.client_secret))
    assert sorted(statuses) == [200] + [400] * (N - 1)


def test_concurrent_refresh_exactly_one_wins(setup):
    live, rp, browser = setup
    result = sign_in(browser, "acme", rp.client_id)
    tokens = browser.post(
        "/t/acme/token",
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": result["_verifier"],
        },
        auth=(rp.client_id, rp.client_secret),
    ).json()
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    statuses = race(live.url, data, (rp.client_id, rp.client_secret))
    assert sorted(statuses) == [200] + [400] * (N - 1)
