"""The ``claims`` request parameter (OIDC Core §5.5), ``acr_values`` and the ``acr``/``amr`` claims: what a
relying party asks for, what the user is asked, and what comes back (or which error)."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from identity.db import session_scope
from identity.models.user import User
from tests.conftest import PUBLIC_URL
from tests.factories import PASSWORD, REDIRECT_URI, make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, hidden, pkce_pair, query_of, sign_in, sign_in_and_approve, submit_login


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx)
    alice = make_user(ctx, tenant)
    with session_scope(ctx.sessions) as session:
        user = session.get(User, (tenant.id, alice.id))
        user.claims = {"given_name": "Alice", "phone_number": "+14155552671"}
        session.add(user)
    return tenant


@pytest.fixture
def rp(ctx, acme):
    return make_client(ctx, acme, scopes=["openid", "profile", "email", "offline_access"])


def id_token(http, rp, result) -> dict:
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200, tokens
    keys = KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())
    return {"tokens": tokens, **jwt.decode(tokens["id_token"], keys).claims}


def authorize(http, rp, **params):  # type: ignore[no-untyped-def]
    _, challenge = pkce_pair()
    query = {"state": "s1", "code_challenge": challenge, "code_challenge_method": "S256", **params}
    return http.get(authorize_url("acme", rp.client_id, **query))


def test_a_claim_asked_for_brings_its_scope_to_the_consent_page_and_then_the_answer(http, rp):
    claims = json.dumps({"userinfo": {"given_name": {"essential": True}}, "id_token": {"auth_time": None}})
    verifier, challenge = pkce_pair()
    start = http.get(
        authorize_url(
            "acme", rp.client_id, scope="openid", claims=claims, code_challenge=challenge, code_challenge_method="S256"
        )
    )
    # The consent page asks for profile, the scope the claim request adds; the user keeps it ticked.
    result = {**sign_in_and_approve(http, "acme", start.headers["location"]), "_verifier": verifier}
    answer = id_token(http, rp, result)
    assert answer["tokens"]["scope"] == "openid profile"
    assert "auth_time" in answer and answer["given_name"] == "Alice"
    bearer = {"Authorization": f"Bearer {answer['tokens']['access_token']}"}
    assert http.get("/t/acme/userinfo", headers=bearer).json()["given_name"] == "Alice"


def test_a_user_who_unticks_the_scope_does_not_release_the_claim(http, rp):
    claims = json.dumps({"userinfo": {"given_name": None}})
    result = sign_in(http, "acme", rp.client_id, scope="openid", claims=claims)  # approves openid only
    answer = id_token(http, rp, result)
    assert answer["tokens"]["scope"] == "openid" and "given_name" not in answer


def test_a_claim_the_client_may_not_ask_for_is_left_out_without_an_error(http, rp):
    claims = json.dumps({"userinfo": {"phone_number": None}})  # phone is not among the client's scopes
    result = sign_in(http, "acme", rp.client_id, scope="openid", claims=claims)
    claims_out = id_token(http, rp, result)
    assert claims_out["tokens"]["scope"] == "openid"
    assert "phone_number" not in claims_out


@pytest.mark.parametrize(
    "value",
    ["not json", "[]", '{"userinfo": []}', '{"id_token": {"acr": "1"}}', '{"id_token": {"acr": {"values": "1"}}}'],
)
def test_a_malformed_claims_parameter_is_invalid_request_at_the_client(http, rp, value):
    response = authorize(http, rp, scope="openid", claims=value)
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT_URI)
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request" and query["state"] == "s1"
    assert "claims parameter" in query["error_description"]


def test_an_essential_acr_we_cannot_meet_is_refused(http, rp):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["2"]}}})
    response = authorize(http, rp, scope="openid", claims=claims)
    query = query_of(response.headers["location"])
    assert query["error"] == "unmet_authentication_requirements" and query["state"] == "s1"


def test_an_essential_acr_we_meet_and_voluntary_acr_values_are_answered_with_the_acr_achieved(http, rp):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["2", "1"]}}})
    first = id_token(http, rp, sign_in(http, "acme", rp.client_id, scope="openid", claims=claims))
    assert first["acr"] == "1" and first["amr"] == ["pwd"]
    voluntary = id_token(http, rp, sign_in(http, "acme", rp.client_id, scope="openid", acr_values="2 1"))
    assert voluntary["acr"] == "1"


def test_a_request_for_another_user_signs_in_again_and_refuses_the_wrong_one(http, ctx, acme, rp):
    sign_in(http, "acme", rp.client_id, scope="openid")  # alice is signed in
    bob = make_user(ctx, acme, email="bob@example.com", name="Bob")
    for_bob = json.dumps({"id_token": {"sub": {"value": bob.id}}})
    silent = authorize(http, rp, scope="openid", claims=for_bob, prompt="none")
    assert query_of(silent.headers["location"])["error"] == "login_required"

    asked = authorize(http, rp, scope="openid", claims=for_bob)
    assert "/login?" in asked.headers["location"]
    login = http.get(asked.headers["location"])
    as_alice = submit_login(http, "acme", login.text, "alice@example.com", PASSWORD)
    assert query_of(as_alice.headers["location"])["error"] == "access_denied"

    asked = authorize(http, rp, scope="openid", claims=for_bob)
    login = http.get(asked.headers["location"])
    as_bob = submit_login(http, "acme", login.text, "bob@example.com", PASSWORD)
    location = as_bob.headers["location"]
    if "/consent?" in location:  # bob has not used this app before
        consent = http.get(location)
        location = http.post(
            "/t/acme/consent",
            data={
                "csrf_token": hidden(consent.text, "csrf_token"),
                "flow": hidden(consent.text, "flow"),
                "decision": "approve",
            },
        ).headers["location"]
    assert "code" in query_of(location)


def test_discovery_says_what_is_supported(http, acme):
    document = http.get("/t/acme/.well-known/openid-configuration").json()
    assert document["claims_parameter_supported"] is True
    assert document["acr_values_supported"] == ["1"]
    assert {"acr", "amr"} <= set(document["claims_supported"])


# -- id_token_hint at /authorize (OIDC Core §3.1.2.1): the request names its user --------------------------


def an_id_token(http, rp, email: str = "alice@example.com") -> str:
    result = sign_in(http, "acme", rp.client_id, scope="openid", email=email)
    return id_token(http, rp, result)["tokens"]["id_token"]


def test_a_hint_for_the_signed_in_user_passes_silently(http, rp):
    hint = an_id_token(http, rp)
    silent = authorize(http, rp, scope="openid", prompt="none", id_token_hint=hint)
    assert "code" in query_of(silent.headers["location"])


def test_a_hint_for_someone_else_needs_a_sign_in(http, app, ctx, acme, rp):
    make_user(ctx, acme, email="bob@example.com", name="Bob")
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as bobs_browser:
        bobs_hint = an_id_token(bobs_browser, rp, "bob@example.com")
    an_id_token(http, rp)  # alice is signed in here
    silent = authorize(http, rp, scope="openid", prompt="none", id_token_hint=bobs_hint)
    assert query_of(silent.headers["location"])["error"] == "login_required"
    asked = authorize(http, rp, scope="openid", id_token_hint=bobs_hint)
    assert "/login?" in asked.headers["location"]


@pytest.mark.parametrize("which", ["garbage", "another client's"])
def test_a_hint_we_did_not_issue_to_this_client_is_invalid_request(http, ctx, acme, rp, which):
    if which == "garbage":
        hint = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    else:
        other = make_client(ctx, acme, name="Other")
        hint = an_id_token(http, other)
    response = authorize(http, rp, scope="openid", id_token_hint=hint)
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request" and query["state"] == "s1"
    assert "id_token_hint" in query["error_description"]
