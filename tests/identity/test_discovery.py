import pytest

from tests.factories import make_scope, make_tenant

ISSUER = "http://127.0.0.1:8000/t/acme"


def test_discovery_is_complete_and_truthful(http, ctx):
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "read:reports", "Read your reports")
    response = http.get("/t/acme/.well-known/openid-configuration")
    assert response.status_code == 200
    assert "max-age=" in response.headers["cache-control"]
    doc = response.json()
    assert doc["issuer"] == ISSUER
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert doc[endpoint].startswith(ISSUER + "/")
    assert set(doc["scopes_supported"]) == {
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "offline_access",
        "read:reports",
    }
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
    assert doc["device_authorization_endpoint"] == ISSUER + "/device_authorization"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]
    assert doc["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]
    for endpoint in ("token", "introspection", "revocation"):  # what private_key_jwt assertions may be signed with
        assert doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == ["RS256", "PS256", "ES256", "EdDSA"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["public"]
    assert {"sub", "email", "name", "nonce", "at_hash"} <= set(doc["claims_supported"])
    assert doc["authorization_response_iss_parameter_supported"] is True
    # Every advertised endpoint is served: it answers GET or POST with something other than 404 / 405.
    advertised = [key for key in doc if key.endswith("_endpoint") or key == "jwks_uri"]
    assert {"introspection_endpoint", "revocation_endpoint", "device_authorization_endpoint"} <= set(advertised)
    for key in advertised:
        path = doc[key].removeprefix("http://127.0.0.1:8000")
        response = http.get(path)
        if response.status_code == 405:
            response = http.post(path)
        assert response.status_code not in (404, 405), key
    assert http.get(doc["jwks_uri"].removeprefix("http://127.0.0.1:8000")).status_code == 200
    assert doc["revocation_endpoint_auth_methods_supported"] == doc["token_endpoint_auth_methods_supported"]


def test_rfc8414_metadata_at_both_locations(http, ctx):
    make_tenant(ctx)
    inserted = http.get("/.well-known/oauth-authorization-server/t/acme")
    appended = http.get("/t/acme/.well-known/oauth-authorization-server")
    assert inserted.status_code == appended.status_code == 200
    assert inserted.json()["issuer"] == appended.json()["issuer"] == ISSUER


def test_discovery_etag_revalidation(http, ctx):
    make_tenant(ctx)
    first = http.get("/t/acme/.well-known/openid-configuration")
    again = http.get("/t/acme/.well-known/openid-configuration", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_jwks_publishes_current_and_next_keys_with_kid(http, ctx):
    make_tenant(ctx)
    keys = http.get("/t/acme/.well-known/jwks.json").json()["keys"]
    # RS256 and ES256, each current + next; public parts only.
    assert sorted(k["alg"] for k in keys) == ["ES256", "ES256", "RS256", "RS256"]
    assert all(k["kid"] and k["use"] == "sig" for k in keys)
    assert not any("d" in k or "p" in k for k in keys)


@pytest.mark.parametrize(
    "path",
    [
        "/t/nope/.well-known/openid-configuration",
        "/t/nope/.well-known/jwks.json",
        "/t/NOT_A_SLUG/.well-known/openid-configuration",
    ],
)
def test_unknown_tenant_is_404(http, ctx, path):
    response = http.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
