"""UserInfo: signature, issuer, expiry, revocation; claims by scope; RFC 6750 errors."""

import base64
import json

import pytest
from joserfc import jwt

from identity.db import session_scope
from identity.keys import generate_key
from tenants.resolution import find_tenant
from tests.factories import make_client, make_scope, make_tenant, make_user
from tests.flow import exchange, sign_in


@pytest.fixture
def tokens(http, ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    result = sign_in(http, "acme", rp.client_id, scope="openid email")
    return exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_get_and_post_return_the_granted_claims(http, tokens):
    got = http.get("/t/acme/userinfo", headers=bearer(tokens["access_token"]))
    posted = http.post("/t/acme/userinfo", headers=bearer(tokens["access_token"]))
    form = http.post("/t/acme/userinfo", data={"access_token": tokens["access_token"]})
    assert got.status_code == posted.status_code == form.status_code == 200
    assert got.json() == posted.json() == form.json()
    claims = got.json()
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is False
    assert "name" not in claims  # profile was not granted
    assert got.headers["cache-control"] == "no-store"


def test_missing_token_is_401_with_bearer_challenge(http, tokens):
    response = http.get("/t/acme/userinfo")
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "==="))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def alg_none(token: str) -> str:
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    return f"{header}.{payload}."


def self_signed(token: str) -> str:
    """Same claims, signed with a key the attacker made (and names in the header)."""
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))
    key = generate_key("RS256")
    return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims, key)


@pytest.mark.parametrize("forge", [tamper, alg_none, self_signed, lambda t: "not-a-jwt", lambda t: t[:-5]])
def test_forged_tokens_are_invalid_token(http, tokens, forge):
    response = http.get("/t/acme/userinfo", headers=bearer(forge(tokens["access_token"])))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_id_token_is_not_an_access_token(http, tokens):
    response = http.get("/t/acme/userinfo", headers=bearer(tokens["id_token"]))
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_expired_token_is_refused(http, ctx, tokens):
    claims = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[1] + "==="))
    with session_scope(ctx.sessions) as session:
        ring = ctx.keys.get(session, find_tenant(session, "acme"))
    key = ring.signer("RS256")
    claims["exp"] = claims["iat"] - 120
    expired = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims, key)
    response = http.get("/t/acme/userinfo", headers=bearer(expired))
    assert response.status_code == 401 and "expired" in response.json()["error_description"]


def test_client_credentials_token_has_no_userinfo(http, ctx):
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "read:reports", "Read reports")
    m2m = make_client(ctx, tenant, grant_types=["client_credentials"], scopes=["read:reports"], redirect_uris=[])
    token = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(m2m.client_id, m2m.client_secret)
    ).json()["access_token"]
    response = http.get("/t/acme/userinfo", headers=bearer(token))
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
