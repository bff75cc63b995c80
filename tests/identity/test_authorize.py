"""The authorization endpoint: exact redirect URI matching, PKCE rules, errors to the client or a page."""

import pytest

from tests.factories import REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import authorize_url, pkce_pair, query_of, sign_in

ISSUER = "http://127.0.0.1:8000/t/acme"


@pytest.fixture
def rp(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return make_client(ctx, tenant, redirect_uris=[REDIRECT_URI, "http://127.0.0.1:9000/cb"])


NEAR_MISSES = [
    "https://rp.example.com/callback/",  # trailing slash
    "https://rp.example.com/callbackx",  # suffix
    "https://rp.example.com/call",  # prefix
    "https://APP.example.com/callback",  # case
    "https://rp.example.com:8443/callback",  # port
    "https://rp.example.com/callback?x=1",  # extra query
    "https://evil.example.com/callback",
    "http://127.0.0.1:9001/cb",  # other loopback port than registered
]


@pytest.mark.parametrize("redirect_uri", NEAR_MISSES)
def test_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(http, rp, redirect_uri):
    _, challenge = pkce_pair()
    response = http.get(
        authorize_url(
            "acme", rp.client_id, redirect_uri=redirect_uri, code_challenge=challenge, code_challenge_method="S256"
        )
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]
    assert "return address it has not registered" in response.text and redirect_uri not in response.text


def test_unknown_client_gets_an_error_page(http, rp):
    response = http.get(authorize_url("acme", "no-such-client"))
    assert response.status_code == 400 and "location" not in response.headers


def test_missing_client_id_gets_an_error_page(http, rp):
    response = http.get("/t/acme/authorize?response_type=code&redirect_uri=" + REDIRECT_URI)
    assert response.status_code == 400 and "location" not in response.headers


def error_redirect(http, client_id, **params):
    response = http.get(authorize_url("acme", client_id, state="st4te", **params))
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return query_of(location)


def test_invalid_scope_redirects_with_error_state_and_iss(http, rp):
    query = error_redirect(http, rp.client_id, scope="openid admin:everything")
    assert query == {
        "error": "invalid_scope",
        "state": "st4te",
        "iss": ISSUER,
        **{k: v for k, v in query.items() if k == "error_description"},
    }


def test_unsupported_response_type_redirects(http, rp):
    query = error_redirect(http, rp.client_id, response_type="token")
    assert query["error"] == "unsupported_response_type" and query["iss"] == ISSUER


def test_pkce_plain_is_refused(http, rp):
    verifier, _ = pkce_pair()
    query = error_redirect(http, rp.client_id, code_challenge=verifier, code_challenge_method="plain")
    assert query["error"] == "invalid_request"


def test_pkce_without_method_is_refused_as_plain(http, rp):
    _, challenge = pkce_pair()
    query = error_redirect(http, rp.client_id, code_challenge=challenge)
    assert query["error"] == "invalid_request"


def test_public_client_must_send_pkce(http, ctx, rp):
    from identity.db import session_scope  # noqa: PLC0415
    from tenants.resolution import find_tenant  # noqa: PLC0415

    with session_scope(ctx.sessions) as session:
        tenant = find_tenant(session, "acme")
    public = make_client(ctx, tenant, name="SPA", public=True)
    query = error_redirect(http, public.client_id)
    assert query["error"] == "invalid_request" and "PKCE" in query["error_description"]


def test_prompt_none_without_session_is_login_required(http, rp):
    query = error_redirect(http, rp.client_id, prompt="none")
    assert query["error"] == "login_required"


def test_repeated_parameter_is_refused(http, rp):
    # RFC 6749 §3.1: parameters MUST NOT be included more than once.
    response = http.get(authorize_url("acme", rp.client_id) + "&scope=openid")
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_request" in response.text


def test_signed_in_user_with_remembered_consent_gets_code_directly(http, rp):
    sign_in(http, "acme", rp.client_id)  # login + consent once
    verifier, challenge = pkce_pair()
    response = http.get(
        authorize_url(
            "acme",
            rp.client_id,
            scope="openid profile",
            state="again",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["state"] == "again" and "code" in query


def test_prompt_login_forces_a_new_sign_in(http, rp):
    sign_in(http, "acme", rp.client_id)
    _, challenge = pkce_pair()
    response = http.get(
        authorize_url("acme", rp.client_id, prompt="login", code_challenge=challenge, code_challenge_method="S256")
    )
    assert "/t/acme/login?flow=" in response.headers["location"]


def test_prompt_none_with_session_but_new_scope_is_consent_required(http, rp):
    sign_in(http, "acme", rp.client_id, scope="openid")
    _, challenge = pkce_pair()
    response = http.get(
        authorize_url(
            "acme",
            rp.client_id,
            prompt="none",
            scope="openid email",
            state="s",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    assert query_of(response.headers["location"])["error"] == "consent_required"


def test_deny_returns_access_denied(http, rp):
    result = sign_in(http, "acme", rp.client_id, approve=False)
    assert result["error"] == "access_denied" and result["state"] == result["_state"] and result["iss"] == ISSUER


def test_unticked_optional_scope_is_not_granted(http, rp):
    result = sign_in(http, "acme", rp.client_id, untick=("email",))
    from tests.flow import exchange  # noqa: PLC0415

    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert "email" not in tokens["scope"].split() and "openid" in tokens["scope"].split()
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert "email" not in info and info["name"] == "Alice"
