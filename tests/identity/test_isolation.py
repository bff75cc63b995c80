"""Tenant isolation: a client, user, code, refresh token or access token of one tenant is never usable at another."""

from identity.clients import find_client
from identity.db import session_scope
from identity.users import find_user_by_email
from tests.factories import PASSWORD, make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, pkce_pair, sign_in


def two_tenants(ctx):
    a, b = make_tenant(ctx, "tenant-a", "Tenant A"), make_tenant(ctx, "tenant-b", "Tenant B")
    make_user(ctx, a)
    make_user(ctx, b, email="bob@example.com")
    return a, b, make_client(ctx, a), make_client(ctx, b)


def test_services_never_return_another_tenants_rows(ctx):
    a, b, rp_a, _ = two_tenants(ctx)
    with session_scope(ctx.sessions) as session:
        assert find_client(session, a.id, rp_a.client_id) is not None
        assert find_client(session, b.id, rp_a.client_id) is None
        assert find_user_by_email(session, a.id, "alice@example.com") is not None
        assert find_user_by_email(session, b.id, "alice@example.com") is None


def test_client_of_a_is_unknown_at_b(http, ctx):
    _, _, rp_a, _ = two_tenants(ctx)
    page = http.get(authorize_url("tenant-b", rp_a.client_id))
    assert page.status_code == 400 and "location" not in page.headers
    token = http.post(
        "/t/tenant-b/token", data={"grant_type": "client_credentials"}, auth=(rp_a.client_id, rp_a.client_secret)
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


def test_user_of_a_cannot_sign_in_at_b(http, ctx):
    _, _, _, rp_b = two_tenants(ctx)
    _, challenge = pkce_pair()
    response = http.get(
        authorize_url("tenant-b", rp_b.client_id, code_challenge=challenge, code_challenge_method="S256")
    )
    login = http.get(response.headers["location"])
    from tests.flow import submit_login  # noqa: PLC0415

    attempt = submit_login(http, "tenant-b", login.text, "alice@example.com", PASSWORD)
    assert attempt.status_code == 401 and "incorrect" in attempt.text


def test_code_refresh_and_access_token_of_a_are_refused_at_b(http, ctx):
    _, b, rp_a, _ = two_tenants(ctx)
    result = sign_in(http, "tenant-a", rp_a.client_id)
    # Replaying A's code at B, with A's client credentials, finds neither client nor code.
    at_b = exchange(http, "tenant-b", rp_a.client_id, rp_a.client_secret, result["code"], result["_verifier"])
    assert at_b["status"] == 401 and at_b["error"] == "invalid_client"
    tokens = exchange(http, "tenant-a", rp_a.client_id, rp_a.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200
    info = http.get("/t/tenant-b/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401 and info.json()["error"] == "invalid_token"
    # Same client id at B (a client of B with A's id cannot exist, ids are random): refresh at B is refused.
    refresh = http.post(
        "/t/tenant-b/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp_a.client_id, rp_a.client_secret),
    )
    assert refresh.status_code == 401
    # And A's tokens still work at A.
    assert (
        http.get("/t/tenant-a/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code
        == 200
    )


def test_session_cookie_of_a_is_not_a_session_at_b(http, ctx):
    _, _, rp_a, rp_b = two_tenants(ctx)
    sign_in(http, "tenant-a", rp_a.client_id)
    _, challenge = pkce_pair()
    response = http.get(
        authorize_url("tenant-b", rp_b.client_id, code_challenge=challenge, code_challenge_method="S256")
    )
    assert "/t/tenant-b/login?" in response.headers["location"]
