"""Every ``prompt`` value (OIDC Core §3.1.2.1), for a browser that is signed in and one that is not, for a
user who consented to the app before: which pages are shown, and what the client gets back."""

from __future__ import annotations

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from identity.models.tenant import Tenant
from tests.conftest import PUBLIC_URL
from tests.factories import PASSWORD, REDIRECT_URI, inspect_db, make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, hidden, pkce_pair, query_of, sign_in, submit_login


@pytest.fixture
def rp(ctx, http):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    client = make_client(ctx, tenant)
    sign_in(http, "acme", client.client_id, scope="openid profile")  # consent given and remembered
    return client


def walk(http: TestClient, client_id: str, prompt: str | None) -> list[str]:
    """Follow the request as a user would (sign in with the right password, approve); the pages seen, then
    what reached the client: ``code`` or ``error:<code>``, or ``page:<code>`` for an error page."""
    _, challenge = pkce_pair()
    params = {"scope": "openid profile", "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"}
    if prompt is not None:
        params["prompt"] = prompt
    response = http.get(authorize_url("acme", client_id, **params))
    seen: list[str] = []
    for _ in range(4):
        if response.status_code == 400:
            return [*seen, "page:" + ("invalid_request" if "invalid_request" in response.text else "other")]
        location = response.headers["location"]
        if location.startswith(REDIRECT_URI):
            query = query_of(location)
            assert query["state"] == "s1"
            return [*seen, "code" if "code" in query else "error:" + query["error"]]
        page = http.get(location)
        assert page.status_code == 200, page.text
        if "/login?" in location:
            seen.append("login")
            response = submit_login(http, "acme", page.text, "alice@example.com", PASSWORD)
        else:
            seen.append("consent")
            form = {"csrf_token": hidden(page.text, "csrf_token"), "flow": hidden(page.text, "flow")}
            response = http.post("/t/acme/consent", data={**form, "decision": "approve", "scope": ["profile"]})
    raise AssertionError(f"no end after {seen}")


# prompt -> (not signed in, signed in): the pages shown and the outcome. The consent is remembered in both.
EXPECTED = {
    None: (["login", "code"], ["code"]),
    "none": (["error:login_required"], ["code"]),
    "login": (["login", "code"], ["login", "code"]),
    "consent": (["login", "consent", "code"], ["consent", "code"]),
    "login consent": (["login", "consent", "code"], ["login", "consent", "code"]),
    "consent login": (["login", "consent", "code"], ["login", "consent", "code"]),
    "none consent": (["error:invalid_request"], ["error:invalid_request"]),
    "none login": (["error:invalid_request"], ["error:invalid_request"]),
    # One account per browser: selecting one is signing in again (as the same user or another).
    "select_account": (["login", "code"], ["login", "code"]),
    "none select_account": (["error:invalid_request"], ["error:invalid_request"]),
}


@pytest.mark.parametrize("prompt", list(EXPECTED), ids=[str(p) for p in EXPECTED])
def test_prompt_when_not_signed_in(app, rp, prompt):
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as fresh_browser:
        assert walk(fresh_browser, rp.client_id, prompt) == EXPECTED[prompt][0]


@pytest.mark.parametrize("prompt", list(EXPECTED), ids=[str(p) for p in EXPECTED])
def test_prompt_when_signed_in(http, rp, prompt):
    assert walk(http, rp.client_id, prompt) == EXPECTED[prompt][1]


def test_select_account_offers_the_current_account_and_allows_another(ctx, http, rp):
    with inspect_db(ctx) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "acme")).one()
    bob = make_user(ctx, tenant, email="bob@example.com")
    verifier, challenge = pkce_pair()
    params = {"scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    response = http.get(authorize_url("acme", rp.client_id, prompt="select_account", **params))
    page = http.get(response.headers["location"])
    assert 'value="alice@example.com"' in page.text  # the account this browser is signed in with
    signed = submit_login(http, "acme", page.text, "bob@example.com", PASSWORD)
    consent = http.get(signed.headers["location"])
    form = {"csrf_token": hidden(consent.text, "csrf_token"), "flow": hidden(consent.text, "flow")}
    back = http.post("/t/acme/consent", data={**form, "decision": "approve", "scope": ["openid"]})
    code = query_of(back.headers["location"])["code"]
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, code, verifier)
    claims = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert claims["sub"] == bob.id
