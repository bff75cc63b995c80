"""The token endpoint: single-use codes bound to client, redirect URI and PKCE; rotation; client credentials."""

import base64
import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import REDIRECT_URI, inspect_db, make_client, make_scope, make_tenant, make_user
from tests.flow import exchange, sign_in

ISSUER = "http://127.0.0.1:8000/t/acme"


@pytest.fixture
def tenant(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return tenant


@pytest.fixture
def rp(ctx, tenant):
    return make_client(ctx, tenant, grant_types=["authorization_code", "refresh_token", "client_credentials"])


def post_token(http, data, auth=None):
    response = http.post("/t/acme/token", data=data, auth=auth)
    assert response.headers["cache-control"] == "no-store"
    return response


def jwks(http):
    return KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())


def test_tokens_and_claims(http, rp):
    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200 and tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    keys = jwks(http)
    access = jwt.decode(tokens["access_token"], keys, algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt" and access.header["kid"]
    claims = access.claims
    assert claims["iss"] == ISSUER and claims["client_id"] == rp.client_id and claims["jti"]
    assert claims["scope"] == "openid profile email offline_access" and claims["exp"] > claims["iat"]
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    assert id_token["iss"] == ISSUER and id_token["aud"] == rp.client_id and id_token["azp"] == rp.client_id
    assert id_token["nonce"] == result["_nonce"] and id_token["sub"] == claims["sub"]
    assert id_token["email"] == "alice@example.com" and id_token["name"] == "Alice"
    assert {"exp", "iat", "auth_time", "at_hash"} <= set(id_token)
    # The refresh token is opaque, not a JWT.
    assert tokens["refresh_token"].count(".") == 0


def test_sub_is_stable_and_opaque(http, rp):
    first = sign_in(http, "acme", rp.client_id)
    t1 = exchange(http, "acme", rp.client_id, rp.client_secret, first["code"], first["_verifier"])
    second = sign_in(http, "acme", rp.client_id)
    t2 = exchange(http, "acme", rp.client_id, rp.client_secret, second["code"], second["_verifier"])
    sub1 = json.loads(base64.urlsafe_b64decode(t1["id_token"].split(".")[1] + "==="))["sub"]
    sub2 = json.loads(base64.urlsafe_b64decode(t2["id_token"].split(".")[1] + "==="))["sub"]
    assert sub1 == sub2 and "alice" not in sub1 and "@" not in sub1


def test_code_is_single_use_and_replay_revokes_issued_tokens(http, rp):
    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200
    replay = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert replay["status"] == 400 and replay["error"] == "invalid_grant"
    # What the code issued is revoked: the refresh token and the access token stop working.
    refresh = post_token(
        http,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        (rp.client_id, rp.client_secret),
    )
    assert refresh.json()["error"] == "invalid_grant"
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


@pytest.mark.parametrize("verifier", [None, "wrong-" + "x" * 50])
def test_missing_or_wrong_code_verifier(http, rp, verifier):
    result = sign_in(http, "acme", rp.client_id)
    data = {"grant_type": "authorization_code", "code": result["code"], "redirect_uri": REDIRECT_URI}
    if verifier:
        data["code_verifier"] = verifier
    response = post_token(http, data, (rp.client_id, rp.client_secret))
    assert response.status_code == 400
    assert response.json()["error"] == ("invalid_grant" if verifier else "invalid_request")
    # A failed attempt does not burn the code: the right verifier still redeems it (once).
    assert exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])["status"] == 200


def test_code_redeemed_by_another_client(http, ctx, tenant, rp):
    other = make_client(ctx, tenant, name="Other app")
    result = sign_in(http, "acme", rp.client_id)
    stolen = exchange(http, "acme", other.client_id, other.client_secret, result["code"], result["_verifier"])
    assert stolen["status"] == 400 and stolen["error"] == "invalid_grant"
    # The rightful client can still redeem it: the thief did not burn it.
    assert exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])["status"] == 200


def test_redirect_uri_must_match_the_authorization_request(http, ctx, tenant):
    rp2 = make_client(ctx, tenant, redirect_uris=[REDIRECT_URI, "https://app.example.com/other"])
    result = sign_in(http, "acme", rp2.client_id)
    response = post_token(
        http,
        {
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": "https://app.example.com/other",
            "code_verifier": result["_verifier"],
        },
        (rp2.client_id, rp2.client_secret),
    )
    assert response.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_401_with_www_authenticate(http, rp):
    response = post_token(http, {"grant_type": "client_credentials"}, (rp.client_id, "not-the-secret"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_client_secret_post_is_accepted(http, ctx, tenant):
    make_scope(ctx, tenant, "read:reports", "Read reports")
    m2m = make_client(ctx, tenant, grant_types=["client_credentials"], scopes=["read:reports"], redirect_uris=[])
    response = post_token(
        http, {"grant_type": "client_credentials", "client_id": m2m.client_id, "client_secret": m2m.client_secret}
    )
    assert response.status_code == 200 and response.json()["scope"] == "read:reports"


def test_unsupported_grant_type(http, rp):
    response = post_token(
        http, {"grant_type": "password", "username": "a", "password": "b"}, (rp.client_id, rp.client_secret)
    )
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_client_credentials_only_allowed_scopes(http, ctx, tenant):
    make_scope(ctx, tenant, "read:reports", "Read reports")
    make_scope(ctx, tenant, "write:reports", "Write reports")
    m2m = make_client(ctx, tenant, grant_types=["client_credentials"], scopes=["read:reports"], redirect_uris=[])
    auth = (m2m.client_id, m2m.client_secret)
    ok = post_token(http, {"grant_type": "client_credentials", "scope": "read:reports"}, auth)
    assert ok.status_code == 200
    claims = jwt.decode(ok.json()["access_token"], jwks(http), algorithms=["RS256"]).claims
    assert claims["sub"] == m2m.client_id and claims["scope"] == "read:reports" and "refresh_token" not in ok.json()
    wider = post_token(http, {"grant_type": "client_credentials", "scope": "read:reports write:reports"}, auth)
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    assert (
        post_token(http, {"grant_type": "client_credentials", "scope": "openid"}, auth).json()["error"]
        == "invalid_scope"
    )


def test_client_not_allowed_the_grant_type(http, ctx, tenant):
    web = make_client(ctx, tenant, name="Web only")  # authorization_code + refresh_token
    response = post_token(http, {"grant_type": "client_credentials"}, (web.client_id, web.client_secret))
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


def test_malformed_token_requests_are_spec_shaped(http, rp):
    assert http.post("/t/acme/token", json={"grant_type": "client_credentials"}).json()["error"] == "invalid_request"
    repeated = http.post(
        "/t/acme/token",
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"
    assert post_token(http, {"x": "y"}, (rp.client_id, rp.client_secret)).json()["error"] == "unsupported_grant_type"
    missing_code = post_token(http, {"grant_type": "authorization_code"}, (rp.client_id, rp.client_secret))
    assert missing_code.json()["error"] == "invalid_request"


@pytest.mark.parametrize("name", ["grant_type", "code", "redirect_uri", "code_verifier", "scope", "client_id", "x"])
def test_a_repeated_token_parameter_is_invalid_request_whatever_the_values(http, rp, name):
    # RFC 6749 §3.2: request and response parameters MUST NOT be included more than once.
    form = [
        ("grant_type", "authorization_code"),
        ("code", "c"),
        ("redirect_uri", REDIRECT_URI),
        (name, "v"),
        (name, "w"),
    ]
    response = http.post(
        "/t/acme/token",
        content="&".join(f"{k}={v}" for k, v in form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(rp.client_id, rp.client_secret),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert "more than once" in response.json()["error_description"] and "zq9" not in response.text


@pytest.mark.parametrize("value", ['client_"credentials', "client\\credentials", "client\x01", "cl\u00efent"])
def test_a_hostile_grant_type_or_scope_is_invalid_request_without_echo(http, rp, value):
    for data in ({"grant_type": value}, {"grant_type": "client_credentials", "scope": value}):
        response = post_token(http, data, (rp.client_id, rp.client_secret))
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"
        assert value not in response.text


def refresh(http, rp, token, **extra):
    return post_token(
        http, {"grant_type": "refresh_token", "refresh_token": token, **extra}, (rp.client_id, rp.client_secret)
    )


def test_refresh_rotates_and_reuse_revokes_the_family(http, rp):
    result = sign_in(http, "acme", rp.client_id)
    first = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    second = refresh(http, rp, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and "id_token" in rotated
    # Reusing the first (rotated) token is theft: it fails, and so does the newest one of the family.
    assert refresh(http, rp, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(http, rp, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert info.status_code == 401 and "revoked" in info.json()["error_description"]


def test_refresh_scope_may_narrow_never_widen(http, rp):
    result = sign_in(http, "acme", rp.client_id, scope="openid email offline_access")
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    wider = refresh(http, rp, tokens["refresh_token"], scope="openid email profile offline_access")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrower = refresh(http, rp, tokens["refresh_token"], scope="openid")
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid"
    # The rotated refresh token keeps the full grant: the next refresh may ask for email again.
    again = refresh(http, rp, narrower.json()["refresh_token"], scope="openid email")
    assert again.status_code == 200 and again.json()["scope"] == "openid email"


def test_no_refresh_token_without_offline_access(http, rp):
    result = sign_in(http, "acme", rp.client_id, scope="openid profile")
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200 and "refresh_token" not in tokens


def test_refresh_token_of_another_client_is_refused(http, ctx, tenant, rp):
    other = make_client(ctx, tenant, name="Other app")
    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert refresh(http, other, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(http, rp, tokens["refresh_token"]).status_code == 200


def test_public_client_code_flow_with_pkce(http, ctx, tenant):
    spa = make_client(ctx, tenant, name="SPA", public=True)
    result = sign_in(http, "acme", spa.client_id)
    tokens = exchange(http, "acme", spa.client_id, None, result["code"], result["_verifier"])
    assert tokens["status"] == 200 and "refresh_token" in tokens
    # A public client cannot pretend to be confidential, nor use client_credentials.
    response = post_token(http, {"grant_type": "client_credentials", "client_id": spa.client_id})
    assert response.status_code in (400, 401) and response.json()["error"] in {"invalid_client", "unauthorized_client"}


def test_disabled_user_cannot_refresh(http, ctx, rp):
    from identity.models.user import User  # noqa: PLC0415

    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    with inspect_db(ctx) as session:
        from sqlmodel import select  # noqa: PLC0415

        user = session.exec(select(User)).one()
        user.disabled = True
        session.add(user)
    assert refresh(http, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_es256_access_tokens_when_the_tenant_chooses_them(http, ctx, tenant):
    from identity.models.tenant import Tenant  # noqa: PLC0415

    with inspect_db(ctx) as session:
        row = session.get(Tenant, tenant.id)
        row.access_token_alg = "ES256"
        session.add(row)
    rp = make_client(ctx, tenant)
    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    keys = jwks(http)
    assert jwt.decode(tokens["access_token"], keys, algorithms=["ES256"]).header["alg"] == "ES256"
    assert jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).header["alg"] == "RS256"
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
