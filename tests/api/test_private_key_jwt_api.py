"""The management API's private_key_jwt members: create an app with its keys (no secret comes back), read
them, move it to a jwks_uri or back to a secret method; refused keys are 422 naming the member."""

from __future__ import annotations

import pytest

from tests.api.helpers import ALL_TENANT_SCOPES, bearer, management_token
from tests.assertions import assertion, form, new_key, public_jwks
from tests.factories import make_scope, make_tenant

ISSUER = "http://127.0.0.1:8000/t/acme"


@pytest.fixture
def api(http, ctx):  # type: ignore[no-untyped-def]
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "read:reports", "Read reports")
    http.headers.update(bearer(management_token(http, ctx, tenant, ALL_TENANT_SCOPES)))
    return http


def test_an_app_with_keys_through_the_api(api):
    key = new_key("RS256", kid="api-1")
    created = api.post(
        "/t/acme/api/clients",
        json={
            "name": "Reports",
            "app_type": "m2m",
            "scopes": ["read:reports"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": public_jwks(key),
        },
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["client_secret"] is None
    assert (app["token_endpoint_auth_method"], app["jwks"], app["jwks_uri"]) == (
        "private_key_jwt",
        public_jwks(key),
        "",
    )
    token = api.post(
        "/t/acme/token", data=form(assertion(key, app["client_id"], ISSUER), grant_type="client_credentials")
    )
    assert token.status_code == 200, token.text

    path = f"/t/acme/api/clients/{app['client_id']}"
    moved = api.patch(path, json={"jwks_uri": "https://keys.example.com/jwks.json"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["jwks"], moved.json()["jwks_uri"]) == (None, "https://keys.example.com/jwks.json")
    # Back to a secret method: the keys go; the app has no secret until one is rotated in.
    back = api.patch(path, json={"token_endpoint_auth_method": "client_secret_basic"})
    assert back.status_code == 200, back.text
    assert (back.json()["token_endpoint_auth_method"], back.json()["jwks"], back.json()["jwks_uri"]) == (
        "client_secret_basic",
        None,
        "",
    )
    secret = api.post(f"{path}/secret", json={}).json()["client_secret"]
    auth = (app["client_id"], secret)
    assert api.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
    # A private_key_jwt app has no secret to rotate.
    api.patch(path, json={"token_endpoint_auth_method": "private_key_jwt", "jwks": public_jwks(key)})
    refused = api.post(f"{path}/secret", json={})
    assert refused.status_code == 422 and "has no secret" in refused.text


def test_refused_keys_are_422_naming_the_member(api):
    key = new_key("ES256")
    body = {"name": "Reports", "app_type": "m2m", "token_endpoint_auth_method": "private_key_jwt"}
    private = api.post("/t/acme/api/clients", json={**body, "jwks": {"keys": [key.as_dict(private=True)]}})
    assert private.status_code == 422
    assert private.json()["errors"] == {
        "jwks": ["the JWK Set key 1 contains private key material: register the public key only"]
    }
    plain = api.post("/t/acme/api/clients", json={**body, "jwks_uri": "http://keys.example.com/jwks"})
    assert plain.status_code == 422 and list(plain.json()["errors"]) == ["jwks_uri"]
    unknown = api.post("/t/acme/api/clients", json={**body, "token_endpoint_auth_method": "tls_client_auth"})
    assert unknown.status_code == 422 and list(unknown.json()["errors"]) == ["token_endpoint_auth_method"]
    public = api.post(
        "/t/acme/api/clients",
        json={
            "name": "SPA",
            "app_type": "spa",
            "redirect_uris": ["https://a.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": public_jwks(key),
        },
    )
    assert public.status_code == 422 and "token_endpoint_auth_method" in public.json()["errors"]
