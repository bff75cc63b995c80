"""Pushed authorization requests (RFC 9126): an authenticated client pushes the request, the browser brings
the reference once, the code that comes back works; every refusal is the error RFC 9126 and RFC 6749 name,
in JSON at /par and never a redirect there."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlmodel import select

from identity.models.interaction import PushedRequest
from tests.factories import REDIRECT_URI, inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange, pkce_pair, query_of, sign_in_and_approve


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return tenant


@pytest.fixture
def rp(ctx, acme):
    return make_client(ctx, acme)


def pushed_params(**extra: str) -> tuple[dict[str, str], str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return params, verifier


def push(http, rp, params: dict[str, str], auth: bool = True):  # type: ignore[no-untyped-def]
    return http.post("/t/acme/par", data=params, auth=(rp.client_id, rp.client_secret) if auth else None)


def follow(http, client_id: str, request_uri: str):  # type: ignore[no-untyped-def]
    return http.get("/t/acme/authorize?" + urlencode({"client_id": client_id, "request_uri": request_uri}))


def test_a_pushed_request_signs_the_user_in_and_its_code_works(http, rp):
    params, verifier = pushed_params()
    answer = push(http, rp, params)
    assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:") and body["expires_in"] == 90

    to_login = follow(http, rp.client_id, body["request_uri"])
    assert to_login.status_code == 302 and "/login?" in to_login.headers["location"]
    back = sign_in_and_approve(http, "acme", to_login.headers["location"])
    assert back["state"] == "s1" and "code" in back  # the pushed state came back
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, back["code"], verifier)
    assert tokens["status"] == 200 and tokens["scope"] == "openid profile"


def test_the_reference_works_once_and_only_for_its_client(http, ctx, acme, rp):
    params, _ = pushed_params()
    request_uri = push(http, rp, params).json()["request_uri"]
    other = make_client(ctx, acme, name="Other")
    refused = follow(http, other.client_id, request_uri)
    assert refused.status_code == 400 and "invalid_request_uri" in refused.text  # an error page, no redirect
    assert follow(http, rp.client_id, request_uri).status_code == 302
    again = follow(http, rp.client_id, request_uri)
    assert again.status_code == 400 and "invalid_request_uri" in again.text
    unknown = follow(http, rp.client_id, "urn:ietf:params:oauth:request_uri:nothing-here")
    assert unknown.status_code == 400


def test_an_expired_reference_is_refused(http, ctx, rp):
    params, _ = pushed_params()
    request_uri = push(http, rp, params).json()["request_uri"]
    with inspect_db(ctx) as session:
        for row in session.exec(select(PushedRequest)).all():
            row.expires_at = 0
            session.add(row)
    assert follow(http, rp.client_id, request_uri).status_code == 400


def test_only_the_pushed_parameters_count(http, rp):
    """RFC 9126 §4: parameters sent beside the reference are not part of the request."""
    params, _ = pushed_params(state="pushed")
    request_uri = push(http, rp, params).json()["request_uri"]
    extra = {"client_id": rp.client_id, "request_uri": request_uri, "state": "added", "scope": "openid"}
    to_login = http.get("/t/acme/authorize?" + urlencode(extra))
    back = sign_in_and_approve(http, "acme", to_login.headers["location"])
    assert back["state"] == "pushed"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, 400, "invalid_request"),
        ({"code_challenge": ""}, 400, "invalid_request"),
        ({"scope": "openid manage:clients"}, 400, "invalid_scope"),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:x"}, 400, "invalid_request"),
        ({"claims": "not json"}, 400, "invalid_request"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
    ],
)
def test_a_bad_pushed_request_is_refused_in_json_never_redirected(http, rp, change, status, error):
    params, _ = pushed_params(**change)
    refused = push(http, rp, {k: v for k, v in params.items() if v != ""})
    assert refused.status_code == status, refused.text
    assert refused.json()["error"] == error and "location" not in refused.headers


def test_the_client_must_authenticate_and_be_the_one_named(http, ctx, acme, rp):
    params, _ = pushed_params()
    assert push(http, rp, params, auth=False).status_code == 401
    wrong = http.post("/t/acme/par", data=params, auth=(rp.client_id, "not the secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    other = make_client(ctx, acme, name="Other")
    mismatch = push(http, rp, {**params, "client_id": other.client_id})
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_request"


def test_a_public_client_pushes_with_its_client_id(http, ctx, acme):
    spa = make_client(ctx, acme, name="SPA", public=True)
    params, _ = pushed_params()
    answer = http.post("/t/acme/par", data={**params, "client_id": spa.client_id})
    assert answer.status_code == 201, answer.text
    assert follow(http, spa.client_id, answer.json()["request_uri"]).status_code == 302


def test_a_client_that_requires_par_is_refused_a_plain_request(http, ctx, acme):
    strict = make_client(ctx, acme, name="Strict", require_pushed_authorization_requests=True)
    params, _ = pushed_params()
    plain = http.get("/t/acme/authorize?" + urlencode({**params, "client_id": strict.client_id}))
    assert plain.status_code == 302
    back = query_of(plain.headers["location"])
    assert back["error"] == "invalid_request" and back["state"] == "s1"
    request_uri = push(http, strict, params).json()["request_uri"]
    assert "/login?" in follow(http, strict.client_id, request_uri).headers["location"]


def test_discovery_names_the_endpoint(http, acme):
    document = http.get("/t/acme/.well-known/openid-configuration").json()
    assert document["pushed_authorization_request_endpoint"].endswith("/t/acme/par")
    assert document["require_pushed_authorization_requests"] is False


def test_the_pages_after_a_pushed_request_speak_its_languages(http, rp):
    """ui_locales pushed with the request sets the language of what /authorize shows (here the form_post
    page of a signed-in user who consented before), not what came beside the request_uri."""
    params, _ = pushed_params()
    first = follow(http, rp.client_id, push(http, rp, params).json()["request_uri"])
    sign_in_and_approve(http, "acme", first.headers["location"])  # signed in, consent remembered
    params, _ = pushed_params(response_mode="form_post", ui_locales="de")
    page = follow(http, rp.client_id, push(http, rp, params).json()["request_uri"])
    assert page.status_code == 200 and '<html lang="de">' in page.text
    assert "Zurück zur Anwendung" in page.text
