"""The authorization endpoint: exact redirect URI matching, PKCE rules, errors to the client or a page."""

from urllib.parse import urlencode

import pytest

from tests.factories import PASSWORD, REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import authorize_url, hidden, pkce_pair, query_of, sign_in, submit_login

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


# -- bad input: invalid_request, never a 500, never an echo (issue 15.1 and 15.2) ----------------------

HOSTILE = ['co"de', "co\\de", "co\x01de", "c\u00f3de", "code\u202e", "code\x00"]


def _params(rp, **override):  # type: ignore[no-untyped-def]
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "st4te",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return {**params, **override}


@pytest.mark.parametrize("name", ["response_type", "ui_locales", "scope", "prompt", "code_challenge_method"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_invalid_request_redirected_without_echo(http, rp, name, value):
    response = http.get("/t/acme/authorize?" + urlencode(_params(rp, **{name: value})))
    assert response.status_code == 302, response.text
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request" and query["state"] == "st4te" and query["iss"] == ISSUER
    assert query["error_description"] == f"The {name} parameter is malformed."


@pytest.mark.parametrize(
    "value", [REDIRECT_URI + '"', REDIRECT_URI + "\\", REDIRECT_URI + "\x01", REDIRECT_URI + "\u00e9"]
)
def test_a_hostile_redirect_uri_gets_the_error_page(http, rp, value):
    response = http.get("/t/acme/authorize?" + urlencode(_params(rp, redirect_uri=value)))
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_request" in response.text and value not in response.text


@pytest.mark.parametrize("size", [8 * 1024, 16 * 1024, 33 * 1024])
def test_large_post_bodies_with_hostile_values_are_invalid_request(http, rp, size):
    body = urlencode(_params(rp, response_type='co"de', login_hint="\u00e9" * (size // 6)))
    assert len(body) >= size
    response = http.post(
        "/t/acme/authorize", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_an_oversized_value_is_invalid_request(http, rp):
    response = http.post("/t/acme/authorize", data=_params(rp, state="s" * (33 * 1024)))
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error_description"] == "The state parameter is too long." and "state" not in query


@pytest.mark.parametrize("name", ["response_type", "scope", "state", "nonce", "prompt", "code_challenge"])
def test_a_repeated_parameter_is_invalid_request_whatever_the_values(http, rp, name):
    # RFC 6749 §3.1: parameters MUST NOT be included more than once; the client and its redirect URI are
    # sound, so the error goes back to it (§4.1.2.1), without a state when the state itself is repeated.
    params = _params(rp)
    repeat = params.get(name, "same")
    query = (
        urlencode(params)
        + "&"
        + urlencode({name: repeat})
        + ("" if name in params else "&" + urlencode({name: repeat}))
    )
    response = http.get("/t/acme/authorize?" + query)
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request" and "more than once" in query["error_description"]
    assert query.get("state") == (None if name == "state" else "st4te")


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_a_repeated_client_id_or_redirect_uri_is_never_redirected_to(http, rp, name):
    params = _params(rp)
    response = http.get("/t/acme/authorize?" + urlencode(params) + "&" + urlencode({name: params[name]}))
    assert response.status_code == 400 and "location" not in response.headers and "invalid_request" in response.text


def test_a_parameter_in_both_query_and_body_of_a_post_is_repeated(http, rp):
    params = _params(rp)
    response = http.post("/t/acme/authorize?" + urlencode({"scope": "openid"}), data=params)
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_request"


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


@pytest.mark.parametrize(
    ("name", "error"), [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")]
)
def test_request_objects_are_refused_by_name(http, rp, name, error):
    """OIDC Core §6.1/§6.2: discovery says neither is supported; a request that sends one is refused."""
    _, challenge = pkce_pair()
    value = "eyJhbGciOiJub25lIn0.e30." if name == "request" else "https://rp.example.com/request.jwt"
    query = error_redirect(http, rp.client_id, code_challenge=challenge, code_challenge_method="S256", **{name: value})
    assert query["error"] == error and query["state"] == "st4te" and query["iss"] == ISSUER
    metadata = http.get("/t/acme/.well-known/openid-configuration").json()
    assert metadata["request_parameter_supported"] is False and metadata["request_uri_parameter_supported"] is False


def _login_page(http, rp, **params):
    _, challenge = pkce_pair()
    response = http.get(
        authorize_url("acme", rp.client_id, code_challenge=challenge, code_challenge_method="S256", **params)
    )
    assert response.status_code == 302 and "/login?" in response.headers["location"], response.text
    return http.get(response.headers["location"]).text


def test_login_hint_prefills_the_email_field(http, rp):
    assert 'value="bob@example.com"' in _login_page(http, rp, login_hint="bob@example.com")
    assert 'value=""' in _login_page(http, rp)
    # Not an address (an opaque id, a phone number): nothing to prefill.
    assert 'value=""' in _login_page(http, rp, login_hint="user-1234")
    # Escaped like any text on the page.
    page = _login_page(http, rp, login_hint='"><b>x@example.com')
    assert "<b>x@example.com" not in page and "&#34;&gt;&lt;b&gt;x@example.com" in page


def _signed_in_authorize(http, rp, **params):
    sign_in(http, "acme", rp.client_id)  # login + consent once: the next request finishes at once
    verifier, challenge = pkce_pair()
    response = http.get(
        authorize_url(
            "acme", rp.client_id, state="st4te", code_challenge=challenge, code_challenge_method="S256", **params
        )
    )
    return response, verifier


def test_response_mode_fragment_puts_the_response_in_the_fragment(http, rp):
    response, verifier = _signed_in_authorize(http, rp, response_mode="fragment")
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "#") and "?" not in location
    back = query_of("?" + location.split("#", 1)[1])
    assert back["state"] == "st4te" and back["iss"] == ISSUER and "code" in back
    token = http.post(
        "/t/acme/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(rp.client_id, rp.client_secret),
    )
    assert token.status_code == 200


def test_response_mode_form_post_is_a_self_submitting_page(http, rp):
    response, _ = _signed_in_authorize(http, rp, response_mode="form_post")
    assert response.status_code == 200 and "location" not in response.headers
    html = response.text
    assert f'<form id="form-post" method="post" action="{REDIRECT_URI}">' in html
    assert '<input type="hidden" name="state" value="st4te">' in html
    assert f'<input type="hidden" name="iss" value="{ISSUER}">' in html and 'name="code" value="' in html
    assert '<script src="/static/js/form_post.js" defer></script>' in html
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    assert http.get("/static/js/form_post.js").status_code == 200


def test_response_mode_applies_to_errors_too(http, rp):
    query_response = http.get(
        authorize_url("acme", rp.client_id, state="st4te", scope="openid admin:everything", response_mode="fragment")
    )
    location = query_response.headers["location"]
    assert location.startswith(REDIRECT_URI + "#")
    back = query_of("?" + location.split("#", 1)[1])
    assert back["error"] == "invalid_scope" and back["state"] == "st4te" and back["iss"] == ISSUER


def test_an_unknown_response_mode_is_invalid_request_in_the_query(http, rp):
    _, challenge = pkce_pair()
    query = error_redirect(
        http, rp.client_id, code_challenge=challenge, code_challenge_method="S256", response_mode="web_message"
    )
    assert query["error"] == "invalid_request" and "response_mode" in query["error_description"]


def test_response_mode_survives_the_login_and_consent_pages(http, rp):
    """The mode is part of the stored request: the response after sign-in and consent is a form_post page."""
    _, challenge = pkce_pair()
    response = http.get(
        authorize_url(
            "acme",
            rp.client_id,
            state="st4te",
            code_challenge=challenge,
            code_challenge_method="S256",
            response_mode="form_post",
        )
    )
    login = http.get(response.headers["location"])
    consent_redirect = submit_login(http, "acme", login.text, "alice@example.com", PASSWORD)
    consent = http.get(consent_redirect.headers["location"])
    result_page = http.post(
        "/t/acme/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "flow": hidden(consent.text, "flow"),
            "decision": "approve",
            "scope": ["openid"],
        },
    )
    assert result_page.status_code == 200, result_page.text
    assert '<input type="hidden" name="state" value="st4te">' in result_page.text
    assert "script-src 'self'" in result_page.headers["content-security-policy"]
