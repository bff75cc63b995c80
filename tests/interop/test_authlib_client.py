"""A real third-party relying party end to end: Authlib's httpx OAuth2Client against the live server,
with the hosted login and consent pages driven in headless Chromium. Nothing is mocked: discovery,
JWKS, the token endpoint and userinfo are called over real HTTP, the pages are clicked through."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken, ImplicitIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from identity.db import session_scope
from identity.models.tenant import Tenant
from identity.models.user import User
from tests.factories import PASSWORD, REDIRECT_URI, make_client, make_scope, make_tenant, make_user
from tests.flow import query_of
from tests.interop.helpers import allow_seed_grants, sign_in_in_browser
from tests.interop.helpers import context as context  # the fixture: a fresh browser profile per test

pytestmark = pytest.mark.browser

USER_SCOPE = "openid profile email offline_access"


# -- fixtures: the provider's published metadata --------------------------------------------------


@dataclass
class Provider:
    tenant: Tenant
    issuer: str
    metadata: dict[str, Any]
    jwks: dict[str, Any]

    @property
    def keys(self) -> KeySet:
        return KeySet.import_key_set(self.jwks)  # type: ignore[arg-type]


@pytest.fixture
def provider(live_server) -> Provider:  # type: ignore[no-untyped-def]
    """The tenant, then what any RP would fetch first: discovery and the JWKS it points to."""
    tenant = make_tenant(live_server.ctx)
    issuer = f"{live_server.url}/t/acme"
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration")
    assert discovery.status_code == 200, discovery.text
    metadata = discovery.json()
    assert metadata["issuer"] == issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    keys = httpx.get(metadata["jwks_uri"])
    assert keys.status_code == 200, keys.text
    return Provider(tenant, issuer, metadata, keys.json())


# -- helpers ---------------------------------------------------------------------------------------


def validated_id_token(
    provider: Provider, id_token: str, *, client_id: str, nonce: str, access_token: str
) -> CodeIDToken:
    """What an RP does with an ID token: signature with the published JWKS, then Authlib's OIDC checks."""
    algorithms = provider.metadata["id_token_signing_alg_values_supported"]
    decoded = jwt.decode(id_token, provider.keys, algorithms=algorithms)
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] in {key["kid"] for key in provider.jwks["keys"]}
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate()  # iss, aud, exp, iat, nonce, azp, at_hash (against the access token)
    assert "at_hash" in claims, "the ID token of the code flow must carry at_hash"
    assert claims["nonce"] == nonce
    return claims


def decoded_access_token(provider: Provider, access_token: str) -> jwt.Token:
    algorithms = sorted({key["alg"] for key in provider.jwks["keys"] if "alg" in key}) or ["RS256"]
    return jwt.decode(access_token, provider.keys, algorithms=algorithms)


# -- tests -----------------------------------------------------------------------------------------


def test_confidential_client_code_flow_userinfo_refresh_and_reuse_detection(live_server, provider, context):
    ctx = live_server.ctx
    tenant = provider.tenant
    app = make_client(ctx, tenant)
    user = make_user(ctx, tenant)
    meta = provider.metadata

    client = OAuth2Client(
        app.client_id,
        app.client_secret,
        scope=USER_SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    with client:
        verifier, nonce = generate_token(48), secrets.token_urlsafe(16)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        assert "code_challenge_method=S256" in url

        returned = sign_in_in_browser(context, url)
        params = query_of(returned)
        assert params["state"] == state
        assert params["iss"] == provider.issuer  # RFC 9207: the RP can check who answered
        assert "code" in params

        token = client.fetch_token(
            meta["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
        )
        assert token["token_type"].lower() == "bearer"
        assert set(token["scope"].split()) == set(USER_SCOPE.split())
        assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(token)

        id_token = validated_id_token(
            provider,
            token["id_token"],
            client_id=app.client_id,
            nonce=nonce,
            access_token=token["access_token"],
        )
        assert id_token["sub"] == user.id
        assert id_token["email"] == "alice@example.com"
        assert "auth_time" in id_token

        access = decoded_access_token(provider, token["access_token"])
        assert access.header["typ"] == "at+jwt"
        assert access.claims["client_id"] == app.client_id
        assert access.claims["sub"] == user.id

        info = client.get(meta["userinfo_endpoint"])
        assert info.status_code == 200, info.text
        claims = info.json()
        assert claims["sub"] == id_token["sub"]
        assert claims["email"] == "alice@example.com"
        assert claims["name"] == "Alice"

        # Refresh: rotation gives a new refresh token (and a new access token) on every use.
        first_refresh = token["refresh_token"]
        refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
        assert refreshed["refresh_token"] != first_refresh
        assert refreshed["access_token"] != token["access_token"]
        assert client.get(meta["userinfo_endpoint"]).status_code == 200

        # Reuse of the rotated token is refused, and it revokes the whole family.
        with pytest.raises(OAuthError) as reused:
            client.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
        assert reused.value.error == "invalid_grant"
        with pytest.raises(OAuthError) as newest:
            client.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])
        assert newest.value.error == "invalid_grant"

        # ... and the family's access tokens stop working at userinfo.
        client.token = refreshed
        revoked = client.get(meta["userinfo_endpoint"])
        assert revoked.status_code == 401, revoked.text
        assert 'error="invalid_token"' in revoked.headers["www-authenticate"]


def test_public_client_with_pkce_and_no_client_authentication(live_server, provider, context):
    ctx = live_server.ctx
    tenant = provider.tenant
    app = make_client(ctx, tenant, name="Acme Mobile", public=True)
    make_user(ctx, tenant)
    assert app.client_secret is None
    meta = provider.metadata

    with OAuth2Client(
        app.client_id,
        scope=USER_SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    ) as client:
        # Without PKCE a public client is turned away before anyone signs in (back to the app, with iss).
        no_pkce, _ = client.create_authorization_url(meta["authorization_endpoint"], nonce="n")
        refused = httpx.get(no_pkce, follow_redirects=False)
        assert refused.status_code == 302, refused.text
        assert refused.headers["location"].startswith(REDIRECT_URI)
        refusal = query_of(refused.headers["location"])
        assert refusal["error"] == "invalid_request"
        assert refusal["iss"] == provider.issuer

        verifier, nonce = generate_token(48), secrets.token_urlsafe(16)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        returned = sign_in_in_browser(context, url)
        assert query_of(returned)["iss"] == provider.issuer

        token = client.fetch_token(
            meta["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
        )
        validated_id_token(
            provider,
            token["id_token"],
            client_id=app.client_id,
            nonce=nonce,
            access_token=token["access_token"],
        )
        info = client.get(meta["userinfo_endpoint"])
        assert info.status_code == 200, info.text
        assert info.json()["email"] == "alice@example.com"

        # The public client refreshes without a secret, too.
        refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]

        # Sign-out: the public client revokes its refresh token with its client_id alone (RFC 7009).
        ended = client.revoke_token(
            meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
        )
        assert ended.status_code == 200, ended.text
        with pytest.raises(OAuthError) as after_sign_out:
            client.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])
        assert after_sign_out.value.error == "invalid_grant"

        # The code was single use.
        with pytest.raises(OAuthError) as replay:
            client.fetch_token(
                meta["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
            )
        assert replay.value.error == "invalid_grant"


def test_revocation_of_an_access_token_then_of_the_grant(live_server, provider, context):
    """RFC 7009 through Authlib's ``revoke_token``: an access token alone, then the refresh token and with it
    the grant, each refused at once by userinfo and the token endpoint."""
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant)
    make_user(ctx, provider.tenant)
    meta = provider.metadata
    assert meta["revocation_endpoint"] == f"{provider.issuer}/revoke"
    assert "client_secret_basic" in meta["revocation_endpoint_auth_methods_supported"]

    with OAuth2Client(
        app.client_id, app.client_secret, scope=USER_SCOPE, redirect_uri=REDIRECT_URI, code_challenge_method="S256"
    ) as client:
        verifier = generate_token(48)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce="n-1"
        )
        returned = sign_in_in_browser(context, url)
        token = client.fetch_token(
            meta["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
        )
        assert client.get(meta["userinfo_endpoint"]).status_code == 200

        revoked = client.revoke_token(
            meta["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
        )
        assert revoked.status_code == 200, revoked.text
        refused = client.get(meta["userinfo_endpoint"])
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]

        # The grant lives on: the refresh token still works, and its new access token is honoured.
        refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert client.get(meta["userinfo_endpoint"]).status_code == 200

        ended = client.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"])
        assert ended.status_code == 200, ended.text
        assert client.get(meta["userinfo_endpoint"]).status_code == 401  # the grant's access tokens went with it
        with pytest.raises(OAuthError) as after:
            client.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])
        assert after.value.error == "invalid_grant"

        # Unknown tokens are a quiet 200 (RFC 7009 §2.2).
        assert client.revoke_token(meta["revocation_endpoint"], token="not-a-token").status_code == 200


def test_client_credentials_access_token_claims(live_server, provider):
    ctx = live_server.ctx
    tenant = provider.tenant
    make_scope(ctx, tenant, "read:reports", "Read reports")
    service = make_client(ctx, tenant, name="Reports job", grant_types=["client_credentials"], scopes=["read:reports"])

    with OAuth2Client(service.client_id, service.client_secret) as client:
        token = client.fetch_token(
            provider.metadata["token_endpoint"], grant_type="client_credentials", scope="read:reports"
        )
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "read:reports"
    assert "refresh_token" not in token and "id_token" not in token

    access = decoded_access_token(provider, token["access_token"])
    assert access.header["typ"] == "at+jwt"
    assert access.header["kid"] in {key["kid"] for key in provider.jwks["keys"]}
    assert access.claims["iss"] == provider.issuer
    assert access.claims["client_id"] == service.client_id
    assert access.claims["sub"] == service.client_id
    assert access.claims["scope"] == "read:reports"
    assert access.claims["exp"] > access.claims["iat"]


def test_the_claims_parameter_and_acr_as_authlib_sends_and_checks_them(live_server, provider, context):
    """Authlib's client sends a ``claims`` request (a profile claim for userinfo, an essential ``acr`` for the
    ID token); its ID token validation checks the ``acr`` we return against the values it asked for."""
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant)
    user = make_user(ctx, provider.tenant)
    with session_scope(ctx.sessions) as session:  # standard claims on the user (the portal or the API set them)
        row = session.get(User, (provider.tenant.id, user.id))
        row.claims = {"given_name": "Alice", "zoneinfo": "Europe/Berlin"}
        session.add(row)
    meta = provider.metadata
    assert meta["claims_parameter_supported"] is True and "1" in meta["acr_values_supported"]
    claims_request = {"userinfo": {"given_name": None}, "id_token": {"acr": {"essential": True, "values": ["1"]}}}

    client = OAuth2Client(
        app.client_id, app.client_secret, scope="openid email", redirect_uri=REDIRECT_URI, code_challenge_method="S256"
    )
    with client:
        verifier, nonce = generate_token(48), secrets.token_urlsafe(16)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"],
            code_verifier=verifier,
            nonce=nonce,
            claims=json.dumps(claims_request),
            ui_locales="de",
        )
        returned = sign_in_in_browser(context, url)  # the consent page shows the profile scope the claim brings
        token = client.fetch_token(
            meta["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
        )
        assert set(token["scope"].split()) == {"openid", "email", "profile"}
        decoded = jwt.decode(token["id_token"], provider.keys, algorithms=["RS256"])
        id_token = CodeIDToken(
            decoded.claims,
            decoded.header,
            options={"iss": {"essential": True, "value": provider.issuer}, **claims_request["id_token"]},
            params={"nonce": nonce, "client_id": app.client_id, "access_token": token["access_token"]},
        )
        id_token.validate()  # Authlib raises if acr is missing or not one of the values asked for
        assert id_token["acr"] == "1" and id_token["amr"] == ["pwd"]
        info = client.get(meta["userinfo_endpoint"]).json()
        assert info["given_name"] == "Alice" and info["zoneinfo"] == "Europe/Berlin"


def test_a_pushed_authorization_request_with_authlibs_client_authentication(live_server, provider, context):
    """RFC 9126 with Authlib's client: the request is pushed with Authlib's own client authentication
    (client_secret_basic), the authorization URL carries the request_uri, and the code comes back to it."""
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant, require_pushed_authorization_requests=True)
    make_user(ctx, provider.tenant)
    meta = provider.metadata
    client = OAuth2Client(
        app.client_id, app.client_secret, scope="openid email", redirect_uri=REDIRECT_URI, code_challenge_method="S256"
    )
    with client:
        verifier, state, nonce = generate_token(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        plain, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
        pushed = client.post(
            meta["pushed_authorization_request_endpoint"],
            data=dict(query_of(plain)),  # what Authlib would have put in the URL
            auth=client.client_auth("client_secret_basic"),
        )
        assert pushed.status_code == 201, pushed.text
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, request_uri=pushed.json()["request_uri"]
        )
        returned = sign_in_in_browser(context, url)
        assert query_of(returned)["state"] == state
        token = client.fetch_token(
            meta["token_endpoint"], authorization_response=returned, state=state, code_verifier=verifier
        )
        assert set(token["scope"].split()) == {"openid", "email"} and "id_token" in token


def test_the_implicit_flow_as_authlib_reads_the_fragment_and_validates_the_id_token(live_server, provider, context):
    """OIDC implicit for an opted-in single-page app: Authlib builds the request (response_type
    ``id_token token``), reads the response from the fragment (``token_from_fragment``, which checks the
    state), and its ImplicitIDToken validates iss, aud, exp, the nonce and at_hash."""
    ctx = live_server.ctx
    allow_seed_grants(ctx, provider.tenant)
    app = make_client(ctx, provider.tenant, public=True, grant_types=["implicit"], scopes=["openid", "email"])
    user = make_user(ctx, provider.tenant)
    meta = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    assert "id_token token" in meta["response_types_supported"] and "implicit" in meta["grant_types_supported"]
    with OAuth2Client(app.client_id, scope="openid email", redirect_uri=REDIRECT_URI) as client:
        nonce = secrets.token_urlsafe(16)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], response_type="id_token token", nonce=nonce
        )
        returned = sign_in_in_browser(context, url)
        token = client.token_from_fragment(returned, state)
        assert token["token_type"] == "Bearer" and "refresh_token" not in token
        decoded = jwt.decode(token["id_token"], provider.keys, algorithms=["RS256"])
        id_token = ImplicitIDToken(
            decoded.claims,
            decoded.header,
            options={"iss": {"essential": True, "value": provider.issuer}},
            params={"nonce": nonce, "client_id": app.client_id, "access_token": token["access_token"]},
        )
        id_token.validate()
        assert id_token["sub"] == user.id and id_token["email"] == user.email
        assert client.get(meta["userinfo_endpoint"]).json()["sub"] == user.id


def test_the_password_grant_as_authlibs_client_sends_it(live_server, provider):
    """RFC 6749 §4.3 with Authlib's ``fetch_token(username=, password=)`` for an opted-in confidential app:
    tokens, a refresh that Authlib performs itself, and invalid_grant for a wrong password."""
    ctx = live_server.ctx
    allow_seed_grants(ctx, provider.tenant)
    app = make_client(ctx, provider.tenant, grant_types=["authorization_code", "refresh_token", "password"])
    user = make_user(ctx, provider.tenant)
    endpoint = provider.metadata["token_endpoint"]
    with OAuth2Client(app.client_id, app.client_secret, scope="openid offline_access") as client:
        token = client.fetch_token(endpoint, username=user.email, password=PASSWORD)
        assert {"access_token", "refresh_token", "id_token"} <= set(token)
        assert jwt.decode(token["id_token"], provider.keys, algorithms=["RS256"]).claims["sub"] == user.id
        refreshed = client.refresh_token(endpoint)
        assert refreshed["refresh_token"] != token["refresh_token"]
        with pytest.raises(OAuthError) as refused:
            client.fetch_token(endpoint, username=user.email, password="not it")
        assert refused.value.error == "invalid_grant"
