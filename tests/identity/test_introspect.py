"""Token introspection (RFC 7662): live tokens described, everything else inactive, clients must authenticate."""

import base64
import json

import pytest
from joserfc import jwt
from sqlmodel import select

from identity.clients import delete_client, find_client
from identity.models.grant import RefreshToken
from identity.models.user import User
from tenants.resolution import find_tenant
from tests.factories import inspect_db, make_client, make_scope, make_tenant, make_user
from tests.flow import exchange, sign_in
from tests.identity.test_tenants import suspend

ISSUER = "http://127.0.0.1:8000/t/acme"
INACTIVE = {"active": False}


@pytest.fixture
def tenant(ctx):
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "read:reports", "Read reports")
    return tenant


@pytest.fixture
def alice(ctx, tenant):
    return make_user(ctx, tenant)


@pytest.fixture
def rp(ctx, tenant):
    return make_client(ctx, tenant, grant_types=["authorization_code", "refresh_token"])


@pytest.fixture
def api(ctx, tenant):
    """A resource server: a confidential client that introspects the tokens sent to it."""
    return make_client(ctx, tenant, name="Reports API", grant_types=["client_credentials"], scopes=["read:reports"])


@pytest.fixture
def tokens(http, alice, rp):
    result = sign_in(http, "acme", rp.client_id, scope="openid email offline_access")
    issued = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert issued["status"] == 200
    return issued


def introspect(http, token, client, slug="acme", **extra):
    response = http.post(
        f"/t/{slug}/introspect", data={"token": token, **extra}, auth=(client.client_id, client.client_secret)
    )
    assert response.headers["cache-control"] == "no-store"
    return response


def body(http, token, client, **extra):
    response = introspect(http, token, client, **extra)
    assert response.status_code == 200, response.text
    return response.json()


def claims_of(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))


def refresh(http, rp, token):
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret))


def test_a_users_access_token(http, alice, rp, api, tokens):
    described = body(http, tokens["access_token"], api)
    claims = claims_of(tokens["access_token"])
    assert described == {
        "active": True,
        "scope": "openid email offline_access",
        "client_id": rp.client_id,
        "sub": alice.id,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": ISSUER,
        "aud": ISSUER,
        "jti": claims["jti"],
        "token_type": "Bearer",
        "token_use": "access_token",
    }
    # The client it was issued to may ask too; a wrong hint does not hide it.
    assert body(http, tokens["access_token"], rp, token_type_hint="refresh_token")["active"] is True


def test_a_client_credentials_token(http, api):
    response = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(api.client_id, api.client_secret)
    )
    described = body(http, response.json()["access_token"], api)
    assert described["active"] is True and described["token_use"] == "access_token"
    assert described["sub"] == described["client_id"] == api.client_id and described["scope"] == "read:reports"


def test_a_deleted_clients_token_is_inactive(http, ctx, tenant, rp, api):
    token = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(api.client_id, api.client_secret)
    ).json()["access_token"]
    with inspect_db(ctx) as session:
        delete_client(session, find_client(session, tenant.id, api.client_id))
    assert body(http, token, rp) == INACTIVE


def test_refresh_token_active_then_inactive_after_rotation(http, alice, rp, tokens):
    described = body(http, tokens["refresh_token"], rp, token_type_hint="refresh_token")
    assert described["active"] is True and described["token_use"] == "refresh_token"
    assert described["client_id"] == rp.client_id and described["sub"] == alice.id and described["iss"] == ISSUER
    assert described["scope"] == "openid email offline_access" and described["exp"] > described["iat"]
    assert body(http, tokens["refresh_token"], rp)["active"] is True  # found without the hint too
    rotated = refresh(http, rp, tokens["refresh_token"]).json()["refresh_token"]
    assert body(http, tokens["refresh_token"], rp) == INACTIVE
    assert body(http, rotated, rp)["active"] is True


def test_refresh_token_is_only_for_its_own_client(http, rp, api, tokens):
    assert body(http, tokens["refresh_token"], api) == INACTIVE


def test_revoked_grant_is_inactive(http, rp, api, tokens):
    # Reusing the rotated refresh token revokes the whole family, access tokens included.
    rotated = refresh(http, rp, tokens["refresh_token"]).json()
    assert refresh(http, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert body(http, tokens["access_token"], api) == INACTIVE
    assert body(http, rotated["access_token"], api) == INACTIVE
    assert body(http, rotated["refresh_token"], rp) == INACTIVE


def test_disabled_user_tokens_are_inactive(http, ctx, rp, api, tokens):
    with inspect_db(ctx) as session:
        user = session.exec(select(User)).one()
        user.disabled = True
        session.add(user)
    assert body(http, tokens["access_token"], api) == INACTIVE
    assert body(http, tokens["refresh_token"], rp) == INACTIVE


def test_expired_tokens_are_inactive(http, ctx, rp, api, tokens):
    claims = claims_of(tokens["access_token"])
    with inspect_db(ctx) as session:
        key = ctx.keys.get(session, find_tenant(session, "acme")).signer("RS256")
        row = session.exec(select(RefreshToken)).one()
        row.expires_at = claims["iat"] - 1
        session.add(row)
    claims["exp"] = claims["iat"] - 120
    expired = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims, key)
    assert body(http, expired, api) == INACTIVE
    assert body(http, tokens["refresh_token"], rp) == INACTIVE


def test_another_tenants_tokens_are_inactive(http, ctx, rp, api, tokens):
    globex = make_tenant(ctx, "globex", "Globex")
    make_scope(ctx, globex, "read:reports", "Read reports")
    theirs = make_client(ctx, globex, grant_types=["client_credentials"], scopes=["read:reports"])
    their_token = http.post(
        "/t/globex/token", data={"grant_type": "client_credentials"}, auth=(theirs.client_id, theirs.client_secret)
    ).json()["access_token"]
    assert body(http, their_token, api) == INACTIVE
    # And the other way round: acme's tokens mean nothing at globex.
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = introspect(http, token, theirs, slug="globex")
        assert response.status_code == 200 and response.json() == INACTIVE
    # Acme's client is unknown at globex.
    assert introspect(http, tokens["access_token"], api, slug="globex").status_code == 401


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "x" * 5000])
def test_garbage_is_inactive(http, api, garbage):
    assert body(http, garbage, api) == INACTIVE


def test_id_token_is_not_an_access_token(http, api, tokens):
    assert body(http, tokens["id_token"], api) == INACTIVE


def test_malformed_requests_are_invalid_request(http, api):
    response = http.post("/t/acme/introspect", data={}, auth=(api.client_id, api.client_secret))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"
    as_json = http.post("/t/acme/introspect", json={"token": "x"}, auth=(api.client_id, api.client_secret))
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


def assert_invalid_client(response):
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.json()["error_description"] == "Client authentication failed."
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["cache-control"] == "no-store"
    assert "active" not in response.json()


def test_client_authentication_is_required(http, ctx, tenant, api, tokens):
    token = tokens["access_token"]
    assert_invalid_client(http.post("/t/acme/introspect", data={"token": token}))
    assert_invalid_client(http.post("/t/acme/introspect", data={"token": token}, auth=(api.client_id, "wrong")))
    posted = {"token": token, "client_id": api.client_id, "client_secret": "wrong"}
    assert_invalid_client(http.post("/t/acme/introspect", data=posted))
    unknown = {"token": token, "client_id": "no-such-client", "client_secret": "whatever"}
    assert_invalid_client(http.post("/t/acme/introspect", data=unknown))
    # Public clients have no secret to prove who they are.
    spa = make_client(ctx, tenant, name="SPA", public=True)
    assert_invalid_client(http.post("/t/acme/introspect", data={"token": token, "client_id": spa.client_id}))


def test_client_secret_post(http, api, tokens):
    data = {"token": tokens["access_token"], "client_id": api.client_id, "client_secret": api.client_secret}
    response = http.post("/t/acme/introspect", data=data)
    assert response.status_code == 200 and response.json()["active"] is True


def test_suspended_tenant_refuses(http, ctx, tenant, api, tokens):
    suspend(ctx, tenant)
    response = introspect(http, tokens["access_token"], api)
    assert response.status_code == 403 and response.json()["error"] == "tenant_suspended"


def test_discovery_lists_the_endpoint(http, tenant):
    doc = http.get("/t/acme/.well-known/openid-configuration").json()
    assert doc["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert doc["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
