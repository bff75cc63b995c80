"""private_key_jwt with third-party clients against the live server: Authlib's httpx ``OAuth2Client`` with
``authlib.oauth2.rfc7523.PrivateKeyJWT`` (client_credentials, and a code flow's exchange and refresh), and
pyoidc's ``oic`` with its ``private_key_jwt`` client authentication (a code flow). The clients build and
sign the assertions themselves, each as it does by default (Authlib: aud = the token endpoint, one hour;
oic: aud = the token endpoint, ten minutes); nothing is mocked."""

from __future__ import annotations

import secrets

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from jwkest.jwk import RSAKey as JwkestRSAKey
from jwkest.jwk import import_rsa_key
from oic.oic.message import AccessTokenResponse
from oic.utils.keyio import KeyBundle

from tests.assertions import new_key, public_jwks
from tests.factories import REDIRECT_URI, make_client, make_scope, make_tenant, make_user
from tests.flow import query_of
from tests.interop.helpers import context as context  # the fixture: a fresh browser profile per test
from tests.interop.helpers import sign_in_in_browser
from tests.interop.test_oic_client import authorization, callback, relying_party

USER_SCOPE = "openid profile email offline_access"


@pytest.fixture
def issuer(live_server) -> str:  # type: ignore[no-untyped-def]
    tenant = make_tenant(live_server.ctx)
    make_user(live_server.ctx, tenant)
    make_scope(live_server.ctx, tenant, "read:reports", "Read reports")
    return f"{live_server.url}/t/acme"


def metadata(issuer: str) -> dict:
    document = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert "RS256" in document["token_endpoint_auth_signing_alg_values_supported"]
    return document


def tenant_of(live_server):  # type: ignore[no-untyped-def]
    from identity.db import session_scope  # noqa: PLC0415
    from tenants.resolution import find_tenant  # noqa: PLC0415

    with session_scope(live_server.ctx.sessions) as session:
        return find_tenant(session, "acme")


def test_authlib_client_credentials_with_private_key_jwt(live_server, issuer):
    key = new_key("RS256", kid="svc-1")
    app = make_client(
        live_server.ctx,
        tenant_of(live_server),
        grant_types=["client_credentials"],
        scopes=["read:reports"],
        redirect_uris=[],
        token_endpoint_auth_method="private_key_jwt",
        jwks=public_jwks(key),
    )
    token_endpoint = metadata(issuer)["token_endpoint"]
    with OAuth2Client(app.client_id, key, token_endpoint_auth_method="private_key_jwt") as client:
        client.register_client_auth_method(PrivateKeyJWT(token_endpoint))
        token = client.fetch_token(token_endpoint, grant_type="client_credentials", scope="read:reports")
        assert token["token_type"].lower() == "bearer" and token["scope"] == "read:reports"
        again = client.fetch_token(token_endpoint, grant_type="client_credentials")  # a new assertion, new jti
        assert again["access_token"] != token["access_token"]
    # Signed by a key the client did not register: Authlib surfaces our invalid_client.
    with OAuth2Client(
        app.client_id, new_key("RS256", kid="svc-1"), token_endpoint_auth_method="private_key_jwt"
    ) as bad:
        bad.register_client_auth_method(PrivateKeyJWT(token_endpoint))
        with pytest.raises(OAuthError) as refused:
            bad.fetch_token(token_endpoint, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


@pytest.mark.browser
def test_authlib_code_flow_with_private_key_jwt(live_server, issuer, context):
    key = new_key("RS256", kid="web-1")
    app = make_client(
        live_server.ctx, tenant_of(live_server), token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(key)
    )
    meta = metadata(issuer)
    client = OAuth2Client(
        app.client_id,
        key,
        scope=USER_SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="private_key_jwt",
    )
    client.register_client_auth_method(PrivateKeyJWT(meta["token_endpoint"]))
    with client:
        verifier = generate_token(48)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=secrets.token_urlsafe(16)
        )
        returned = sign_in_in_browser(context, url)
        assert query_of(returned)["state"] == state
        token = client.fetch_token(
            meta["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
        )
        assert {"access_token", "id_token", "refresh_token"} <= set(token)
        refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert client.get(meta["userinfo_endpoint"]).status_code == 200


@pytest.mark.browser
def test_oic_code_flow_with_private_key_jwt(live_server, issuer, context):
    key = new_key("RS256", kid="rp-1")
    app = make_client(
        live_server.ctx, tenant_of(live_server), token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(key)
    )
    client = relying_party(issuer, app, "private_key_jwt")
    bundle = KeyBundle()
    bundle.append(JwkestRSAKey(key=import_rsa_key(key.as_pem(private=True)), kid="rp-1", use="sig"))
    client.keyjar.add_kb("", bundle)  # the RP's own signing key, as oic keeps it

    auth = authorization(client)
    callback(client, sign_in_in_browser(context, auth.url), auth)
    tokens = client.do_access_token_request(
        state=auth.state, request_args={"code_verifier": auth.verifier}, authn_method="private_key_jwt"
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert tokens["id_token"]["sub"] and tokens["refresh_token"]
    # (Not oic's refresh: its do_access_token_refresh drops the authn_endpoint its own private_key_jwt
    # needs, a KeyError inside oic before any request is sent.)
