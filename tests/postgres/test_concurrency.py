"""Real concurrency on PostgreSQL: of N simultaneous redemptions of one code (or one refresh token, or one
pushed request's reference), exactly one succeeds; with a refresh grace, N retries are one rotation. Runs
against a live uvicorn server, N threads released by one barrier."""

import threading
from collections.abc import Callable

import httpx
import pytest

from tests.factories import REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import pkce_pair, sign_in

pytestmark = pytest.mark.postgres
N = 8


def race(url: str, send: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    """``send`` from N clients at the same moment; every answer."""
    barrier = threading.Barrier(N)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt() -> None:
        with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client:
            barrier.wait()
            answer = send(client)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=attempt) for _ in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def token_race(url: str, data: dict, auth: tuple[str, str]) -> list[int]:
    return [a.status_code for a in race(url, lambda client: client.post("/t/acme/token", data=data, auth=auth))]


def first_tokens(browser: httpx.Client, rp) -> dict:  # type: ignore[no-untyped-def]
    result = sign_in(browser, "acme", rp.client_id)
    data = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": result["_verifier"],
    }
    return browser.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret)).json()


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
    statuses = token_race(live.url, data, (rp.client_id, rp.client_secret))
    assert sorted(statuses) == [200] + [400] * (N - 1)


def test_concurrent_refresh_exactly_one_wins(setup):
    live, rp, browser = setup
    tokens = first_tokens(browser, rp)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    statuses = token_race(live.url, data, (rp.client_id, rp.client_secret))
    assert sorted(statuses) == [200] + [400] * (N - 1)


def test_concurrent_retries_within_the_grace_all_get_the_one_rotation(live_server):
    """With a reuse grace, N simultaneous refreshes of one token (a client retrying a slow request) are one
    rotation: every answer is the same new refresh token, and the family stays live."""
    tenant = make_tenant(live_server.ctx)
    make_user(live_server.ctx, tenant)
    rp = make_client(live_server.ctx, tenant, refresh_token_grace=30)
    auth = (rp.client_id, rp.client_secret)
    with httpx.Client(base_url=live_server.url, follow_redirects=False) as browser:
        data = {"grant_type": "refresh_token", "refresh_token": first_tokens(browser, rp)["refresh_token"]}
        answers = race(live_server.url, lambda client: client.post("/t/acme/token", data=data, auth=auth))
        assert [a.status_code for a in answers] == [200] * N
        assert len({a.json()["refresh_token"] for a in answers}) == 1
        newest = {"grant_type": "refresh_token", "refresh_token": answers[0].json()["refresh_token"]}
        assert browser.post("/t/acme/token", data=newest, auth=auth).status_code == 200  # never revoked


def test_a_pushed_request_reference_is_used_once_under_concurrency(setup):
    """N browsers bring one PAR request_uri at the same moment: exactly one gets the request."""
    live, rp, browser = setup
    _, challenge = pkce_pair()
    pushed = browser.post(
        "/t/acme/par",
        data={
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        auth=(rp.client_id, rp.client_secret),
    )
    assert pushed.status_code == 201, pushed.text
    query = {"client_id": rp.client_id, "request_uri": pushed.json()["request_uri"]}
    answers = race(live.url, lambda client: client.get("/t/acme/authorize", params=query))
    assert sorted(a.status_code for a in answers) == [302] + [400] * (N - 1)
