"""A second third-party relying party end to end: pyoidc's ``oic.oic.Client`` (PyPI ``oic``) against the live
server, with the hosted login and consent pages driven in headless Chromium. Nothing is mocked: oic fetches
discovery and the JWKS itself, checks the discovery issuer and the authorization response's ``iss``
(RFC 9207), verifies the ID token (signature with the keys it fetched, iss, aud, exp, iat) and its nonce,
and calls the token and userinfo endpoints over real HTTP.

What oic leaves to the RP, and these tests therefore do themselves: comparing the returned ``state`` with
the one sent (oic files the response under whatever state it carries), ``at_hash`` of the token response's
ID token, and keeping the PKCE verifier (``add_code_challenge`` returns it, stores nothing)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from jwkest import BadSignature, jws
from oic import rndstr
from oic.exception import NotForMe, ParameterError, PyoidcError
from oic.extension.device_flow import AuthorizationRequest as DeviceAuthorizationRequest
from oic.extension.device_flow import AuthorizationResponse as DeviceAuthorizationResponse
from oic.extension.device_flow import TokenRequest as DeviceTokenRequest
from oic.oauth2.exception import GrantError, VerificationError
from oic.oauth2.grant import Token
from oic.oauth2.message import AccessTokenResponse as OAuth2AccessTokenResponse
from oic.oauth2.message import ErrorResponse, Message, ROPCAccessTokenRequest
from oic.oic import Client
from oic.oic.message import (
    AccessTokenResponse,
    AuthorizationErrorResponse,
    AuthorizationRequest,
    AuthorizationResponse,
    Claims,
    ClaimsRequest,
    IdToken,
    OpenIDSchema,
    RegistrationResponse,
    TokenErrorResponse,
    verify_id_token,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD, ClientSecretBasic
from playwright.sync_api import BrowserContext

from identity.db import session_scope
from identity.models.tenant import DEVICE_CODE, Tenant
from identity.models.user import User
from tests.factories import PASSWORD, REDIRECT_URI, AppCredentials, make_client, make_tenant, make_user
from tests.flow import query_of
from tests.interop.helpers import allow_seed_grants, sign_in_in_browser
from tests.interop.helpers import context as context  # the fixture: a fresh browser profile per test

pytestmark = pytest.mark.browser

USER_SCOPE = ["openid", "profile", "email", "offline_access"]


# -- the relying party, as an oic application sets one up --------------------------------------------


@dataclass
class Provider:
    tenant: Tenant
    issuer: str


@pytest.fixture
def provider(live_server) -> Provider:  # type: ignore[no-untyped-def]
    return Provider(make_tenant(live_server.ctx), f"{live_server.url}/t/acme")


def relying_party(issuer: str, app: AppCredentials, auth_method: str) -> Client:
    """An oic Client that found the provider by discovery (oic raises if the document names another
    issuer, and loads the JWKS from its ``jwks_uri``) and holds the registration it was given out of band."""
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(issuer)
    registration = {
        "client_id": app.client_id,
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": auth_method,
    }
    if app.client_secret is not None:
        registration["client_secret"] = app.client_secret
    client.store_registration_info(RegistrationResponse(**registration))
    client.redirect_uris = [REDIRECT_URI]
    return client


def token_auth(client: Client) -> str:
    """oic's name for the registered token endpoint authentication. oic has no "none" method: an empty name
    sends no credentials, and the client_id in the form body (RFC 6749 §4.1.3)."""
    method: str = client.registration_response["token_endpoint_auth_method"]
    return "" if method == "none" else method


@dataclass
class Authorization:
    url: str
    state: str
    nonce: str
    verifier: str


def authorization(
    client: Client, *, pkce: bool = True, scope: list[str] | None = None, **extra: object
) -> Authorization:
    """The authorization request as oic builds it: state, nonce (oic remembers it by state), PKCE S256."""
    state, nonce = rndstr(32), rndstr(32)
    args = {
        "response_type": "code",
        "scope": scope or USER_SCOPE,
        "state": state,
        "nonce": nonce,
        "redirect_uri": REDIRECT_URI,
        **extra,
    }
    verifier = ""
    if pkce:
        challenge, verifier = client.add_code_challenge()
        assert challenge["code_challenge_method"] == "S256"
        args.update(challenge)
    url, body, _, request = client.request_info(AuthorizationRequest, method="GET", request_args=args)
    assert not body
    assert url.startswith(client.authorization_endpoint + "?")
    assert request["state"] == state and client.state2nonce[state] == nonce
    return Authorization(url, state, nonce, verifier)


def with_param(url: str, name: str, value: str) -> str:
    """The URL with one query parameter's value replaced."""
    parts = urlsplit(url)
    query = [(k, value if k == name else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def callback(client: Client, returned: str, auth: Authorization) -> AuthorizationResponse:
    """oic parses the redirect (and checks ``iss`` against the discovered issuer); the state is ours to check."""
    response = client.parse_response(AuthorizationResponse, info=returned, sformat="urlencoded")
    assert isinstance(response, AuthorizationResponse), response.to_dict()
    assert response["state"] == auth.state
    return response


def exchange(client: Client, auth: Authorization) -> AccessTokenResponse | TokenErrorResponse:
    """The code for tokens; oic verifies the ID token in the response and compares its nonce with the one it
    sent for this state."""
    request_args = {"code_verifier": auth.verifier} if auth.verifier else {}
    response: AccessTokenResponse | TokenErrorResponse = client.do_access_token_request(
        state=auth.state, request_args=request_args, authn_method=token_auth(client)
    )
    return response


def signed_in(client: Client, context: BrowserContext) -> tuple[Authorization, AccessTokenResponse]:
    auth = authorization(client)
    callback(client, sign_in_in_browser(context, auth.url), auth)
    tokens = exchange(client, auth)
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    return auth, tokens


def refresh(
    client: Client, auth: Authorization, token: Token | None = None
) -> AccessTokenResponse | TokenErrorResponse:
    """oic's refresh: the grant's current token unless one is named; on success oic files the new token in
    the grant and drops the one it replaced."""
    extra = {"token": token} if token is not None else {}
    response: AccessTokenResponse | TokenErrorResponse = client.do_access_token_refresh(
        state=auth.state, authn_method=token_auth(client), **extra
    )
    return response


def assert_id_token(client: Client, tokens: AccessTokenResponse, *, sub: str, nonce: str) -> IdToken:
    """What oic verified, read back: oic replaced the JWT with the checked claims (and kept the JWT)."""
    id_token = tokens["id_token"]
    assert isinstance(id_token, IdToken)
    assert id_token["iss"] == client.issuer
    assert id_token["aud"] == [client.client_id]
    assert id_token["sub"] == sub
    assert id_token["nonce"] == nonce
    assert id_token["exp"] > id_token["iat"]
    assert "auth_time" in id_token
    assert id_token.jws_header["alg"] == "RS256"
    assert id_token.jws_header["kid"] in {key.kid for key in client.keyjar.get_verify_key(owner=client.issuer)}
    # at_hash (OIDC Core §3.1.3.6): oic checks it only in front-channel responses, so the RP does, with jwkest.
    assert id_token["at_hash"] == jws.left_hash(tokens["access_token"], "HS256")
    assert tokens["id_token_jwt"].count(".") == 2
    return id_token


# -- tests -----------------------------------------------------------------------------------------


def test_discovery_as_oic_reads_it_and_the_issuer_is_pinned(live_server, provider):
    issuer = provider.issuer
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    config = client.provider_config(issuer)
    assert config["issuer"] == issuer == client.issuer
    # oic sets each *_endpoint of the document on the client.
    assert client.authorization_endpoint == f"{issuer}/authorize"
    assert client.token_endpoint == f"{issuer}/token"
    assert client.userinfo_endpoint == f"{issuer}/userinfo"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "none"} <= set(config["token_endpoint_auth_methods_supported"])
    # The JWKS was fetched from jwks_uri and filed under the issuer: the keys oic verifies ID tokens with.
    published = httpx.get(config["jwks_uri"]).json()["keys"]
    loaded = client.keyjar.get_verify_key(owner=issuer)
    assert loaded and {key.kid for key in loaded} == {key["kid"] for key in published}

    # The same tenant reached by another name (localhost for 127.0.0.1) still says its one issuer, which is
    # not the one this RP asked for: oic refuses the document (OIDC Discovery §4.3).
    alias = issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(PyoidcError, match="issuer mismatch"):
        Client(client_authn_method=CLIENT_AUTHN_METHOD).provider_config(alias)


def test_confidential_client_code_flow_userinfo_refresh_rotation_and_reuse(live_server, provider, context):
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant)
    user = make_user(ctx, provider.tenant)
    assert app.client_secret
    client = relying_party(provider.issuer, app, "client_secret_basic")

    auth = authorization(client)
    assert "code_challenge_method=S256" in auth.url
    returned = sign_in_in_browser(context, auth.url)
    assert query_of(returned)["iss"] == provider.issuer  # RFC 9207
    response = callback(client, returned, auth)
    assert response["code"] == query_of(returned)["code"]

    tokens = exchange(client, auth)  # client_secret_basic, with the PKCE verifier
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert tokens["token_type"].lower() == "bearer"
    assert set(tokens["scope"]) == set(USER_SCOPE)
    assert tokens["expires_in"] > 0 and tokens["refresh_token"]
    id_token = assert_id_token(client, tokens, sub=user.id, nonce=auth.nonce)
    assert id_token["email"] == "alice@example.com"

    # UserInfo as oic sends it by default (POST, the token in the form body, RFC 6750 §2.2), then with GET
    # and the Authorization header (§2.1); oic checks that sub is the ID token's.
    info = client.do_user_info_request(state=auth.state)
    assert isinstance(info, OpenIDSchema), info.to_dict()
    assert info["sub"] == user.id
    assert info["email"] == "alice@example.com"
    assert info["name"] == "Alice"
    assert client.do_user_info_request(method="GET", state=auth.state).to_dict() == info.to_dict()

    # Refresh: rotation gives a new refresh token and a new access token.
    first = client.get_token(state=auth.state)
    assert first.refresh_token == tokens["refresh_token"]
    refreshed = refresh(client, auth)
    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    assert refreshed["refresh_token"] != first.refresh_token
    assert refreshed["access_token"] != first.access_token
    assert client.get_token(state=auth.state).refresh_token == refreshed["refresh_token"]
    # The refresh response carries a new ID token, which oic verified like the first (OIDC Core §12.2: same
    # iss, sub, aud and auth_time, a new iat, and no nonce).
    renewed = refreshed["id_token"]
    assert isinstance(renewed, IdToken)
    for claim in ("iss", "sub", "aud", "auth_time"):
        assert renewed[claim] == id_token[claim], claim
    assert renewed["iat"] >= id_token["iat"]
    assert "nonce" not in renewed
    assert renewed["at_hash"] == jws.left_hash(refreshed["access_token"], "HS256")
    assert client.do_user_info_request(state=auth.state)["sub"] == user.id  # the new access token works

    # The rotated-out refresh token is refused (oic hands back the error response, it does not raise) ...
    reused = refresh(client, auth, token=first)
    assert isinstance(reused, TokenErrorResponse), reused.to_dict()
    assert reused["error"] == "invalid_grant"
    # ... and its reuse revoked the family: the newest refresh token and its access token are dead too.
    newest = refresh(client, auth)
    assert isinstance(newest, TokenErrorResponse), newest.to_dict()
    assert newest["error"] == "invalid_grant"
    revoked = client.do_user_info_request(method="GET", state=auth.state)
    assert isinstance(revoked, ErrorResponse), revoked.to_dict()
    assert revoked["error"] == "invalid_token"


def test_public_client_with_pkce_and_no_client_authentication(live_server, provider, context):
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant, name="Acme Mobile", public=True)
    user = make_user(ctx, provider.tenant)
    assert app.client_secret is None
    client = relying_party(provider.issuer, app, "none")

    # Without PKCE a public client is sent back before anyone signs in; oic reads the error redirect.
    no_pkce = authorization(client, pkce=False)
    refused = httpx.get(no_pkce.url, follow_redirects=False)
    assert refused.status_code == 302, refused.text
    location = refused.headers["location"]
    assert location.startswith(f"{REDIRECT_URI}?")
    assert query_of(location)["iss"] == provider.issuer
    error = client.parse_response(AuthorizationResponse, info=location, sformat="urlencoded")
    assert isinstance(error, AuthorizationErrorResponse), error.to_dict()
    assert error["error"] == "invalid_request"
    assert error["state"] == no_pkce.state

    auth, tokens = signed_in(client, context)
    assert_id_token(client, tokens, sub=user.id, nonce=auth.nonce)
    info = client.do_user_info_request(state=auth.state)
    assert isinstance(info, OpenIDSchema), info.to_dict()
    assert info["email"] == "alice@example.com"

    # The public client refreshes with its client_id alone, and rotation applies to it too.
    refreshed = refresh(client, auth)
    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert client.do_user_info_request(state=auth.state)["sub"] == user.id

    # The code was single use: oic's grant still holds it, and the server refuses it the second time.
    replay = exchange(client, auth)
    assert isinstance(replay, TokenErrorResponse), replay.to_dict()
    assert replay["error"] == "invalid_grant"


def test_oic_refuses_an_id_token_for_a_nonce_it_did_not_send(live_server, provider, context):
    """The authorization request is altered on its way (another nonce): the server issues the ID token for
    the nonce it was given, and oic, comparing it with the one it sent for this state, raises."""
    app = make_client(live_server.ctx, provider.tenant)
    make_user(live_server.ctx, provider.tenant)
    client = relying_party(provider.issuer, app, "client_secret_basic")
    auth = authorization(client)
    injected = rndstr(32)
    returned = sign_in_in_browser(context, with_param(auth.url, "nonce", injected))
    callback(client, returned, auth)
    with pytest.raises(ParameterError, match="nonce"):
        exchange(client, auth)


def test_oic_checks_the_callback_iss_and_the_id_token_signature_and_audience(live_server, provider, context):
    app = make_client(live_server.ctx, provider.tenant)
    user = make_user(live_server.ctx, provider.tenant)
    client = relying_party(provider.issuer, app, "client_secret_basic")
    auth = authorization(client)
    returned = sign_in_in_browser(context, auth.url)

    # RFC 9207: a callback that names another issuer is refused (the mix-up defence); oic keeps no grant.
    with pytest.raises(VerificationError, match="Issuer mismatch"):
        client.parse_response(
            AuthorizationResponse, info=with_param(returned, "iss", "https://evil.example"), sformat="urlencoded"
        )
    # A callback with another state: oic parses it and files the code under that state (it does not compare
    # it with the state it sent: the RP's job), so the exchange under the RP's own state finds no grant.
    forged = client.parse_response(
        AuthorizationResponse, info=with_param(returned, "state", "forged"), sformat="urlencoded"
    )
    assert forged["state"] == "forged" != auth.state
    with pytest.raises(GrantError):
        exchange(client, auth)

    callback(client, returned, auth)
    tokens = exchange(client, auth)
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert_id_token(client, tokens, sub=user.id, nonce=auth.nonce)

    # The same ID token JWT through oic's own verification: as issued it passes; with its signature altered,
    # or checked by another client, it is refused.
    raw = tokens["id_token_jwt"]
    kwargs = {"keyjar": client.keyjar, "iss": provider.issuer, "client_id": app.client_id}
    assert verify_id_token(AccessTokenResponse(id_token=raw), **kwargs)["sub"] == user.id
    header, payload, signature = raw.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(BadSignature):
        verify_id_token(AccessTokenResponse(id_token=f"{header}.{payload}.{flipped}"), **kwargs)
    with pytest.raises(NotForMe):
        verify_id_token(AccessTokenResponse(id_token=raw), **{**kwargs, "client_id": "another-client"})


def test_oic_logs_out_and_verifies_our_back_channel_logout_token(live_server, provider, context):
    """oic builds the RP-initiated logout request (id_token_hint, post_logout_redirect_uri, state) from the
    discovered ``end_session_endpoint``; the browser returns to the registered URI with the state; oic's
    own ``BackChannelLogoutRequest`` verifies the logout token we POSTed (signature with the keys it
    fetched, iss, aud, events, no nonce) and it names the ID token's ``sid``."""
    from oic.oic.message import BackChannelLogoutRequest, EndSessionRequest  # noqa: PLC0415

    from tests.identity.test_logout import Receiver  # noqa: PLC0415

    receiver = Receiver()
    try:
        after = "https://app.example.com/signed-out"
        user = make_user(live_server.ctx, provider.tenant)
        app = make_client(
            live_server.ctx, provider.tenant, post_logout_redirect_uris=[after], backchannel_logout_uri=receiver.uri
        )
        client = relying_party(provider.issuer, app, "client_secret_basic")
        assert client.provider_info["end_session_endpoint"] == f"{provider.issuer}/logout"
        assert client.provider_info["backchannel_logout_supported"] is True
        _auth, tokens = signed_in(client, context)
        sid = tokens["id_token"]["sid"]
        state = rndstr(16)
        url, _body, _headers, _request = client.request_info(
            EndSessionRequest,
            method="GET",
            request_args={"id_token_hint": tokens["id_token_jwt"], "post_logout_redirect_uri": after, "state": state},
        )
        assert url.startswith(f"{provider.issuer}/logout?")
        page = context.new_page()
        link = f'<!doctype html><title>app</title><a id="sign-out" href="{escape(url)}">Sign out</a>'
        page.route("https://app.example.com/**", lambda route: route.fulfill(status=200, body=link))
        page.goto("https://app.example.com/")  # the app's own "Sign out" link (see sign_in_in_browser)
        page.click("#sign-out")
        page.wait_for_url(f"{after}?**")
        assert query_of(page.url) == {"state": state}

        receiver.wait(1)
        request = BackChannelLogoutRequest(logout_token=receiver.received[0])
        assert request.verify(keyjar=client.keyjar, iss=provider.issuer, aud=app.client_id)
        logout_token = request["logout_token"]
        assert (logout_token["sub"], logout_token["sid"]) == (user.id, sid)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_claims_request_as_oic_builds_it(live_server, provider, context):
    """oic's ClaimsRequest (a profile claim for userinfo, an essential acr for the ID token) and ui_locales;
    the claim's scope is added to the grant, and both places answer."""
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant)
    user = make_user(ctx, provider.tenant)
    with session_scope(ctx.sessions) as session:
        row = session.get(User, (provider.tenant.id, user.id))
        row.claims = {"family_name": "Liddell"}
        session.add(row)
    client = relying_party(provider.issuer, app, "client_secret_basic")
    claims = ClaimsRequest(userinfo=Claims(family_name=None), id_token=Claims(acr={"essential": True, "values": ["1"]}))
    auth = authorization(client, scope=["openid"], claims=claims, ui_locales="de")
    assert "claims=" in auth.url
    callback(client, sign_in_in_browser(context, auth.url), auth)
    tokens = exchange(client, auth)
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert set(tokens["scope"]) == {"openid", "profile"}
    assert tokens["id_token"]["acr"] == "1" and tokens["id_token"]["family_name"] == "Liddell"
    info = client.do_user_info_request(state=auth.state)
    assert isinstance(info, OpenIDSchema) and info["family_name"] == "Liddell" and info["sub"] == user.id


def test_a_pushed_authorization_request_built_and_authenticated_by_oic(live_server, provider, context):
    """RFC 9126 with oic: oic builds the authorization request and the client_secret_basic header; the
    request is pushed, and oic's authorization URL carries the returned request_uri (with the same state, so
    oic finds its nonce when the response comes back)."""
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant, require_pushed_authorization_requests=True)
    user = make_user(ctx, provider.tenant)
    client = relying_party(provider.issuer, app, "client_secret_basic")
    auth = authorization(client, scope=["openid", "email"])
    request = client.construct_AuthorizationRequest(request_args=dict(parse_qsl(urlsplit(auth.url).query)))
    http_args = ClientSecretBasic(client).construct(request, http_args={})
    pushed = httpx.post(
        client.provider_info["pushed_authorization_request_endpoint"],
        content=request.to_urlencoded(),
        headers={**http_args["headers"], "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert pushed.status_code == 201, pushed.text
    by_reference = {
        "response_type": "code",
        "scope": ["openid"],
        "state": auth.state,
        "redirect_uri": REDIRECT_URI,
        "request_uri": pushed.json()["request_uri"],
    }
    url, _, _, _ = client.request_info(AuthorizationRequest, method="GET", request_args=by_reference)
    callback(client, sign_in_in_browser(context, url), auth)
    tokens = exchange(client, auth)
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert set(tokens["scope"]) == {"openid", "email"}  # the pushed scope, not the one beside request_uri
    assert tokens["id_token"]["sub"] == user.id and tokens["id_token"]["nonce"] == auth.nonce


def test_the_implicit_flow_as_oic_parses_and_verifies_it(live_server, provider, context):
    """OIDC implicit (``id_token token``) for an app the tenant opted in: oic reads the response from the
    fragment and verifies the ID token (signature, iss, aud, the nonce it sent, and at_hash against the access
    token, which oic checks in front-channel responses); the access token then calls userinfo."""
    ctx = live_server.ctx
    allow_seed_grants(ctx, provider.tenant)
    app = make_client(ctx, provider.tenant, public=True, grant_types=["implicit"], scopes=["openid", "profile"])
    user = make_user(ctx, provider.tenant)
    client = relying_party(provider.issuer, app, "none")
    assert {"id_token", "id_token token"} <= set(client.provider_info["response_types_supported"])
    auth = authorization(client, pkce=False, scope=["openid", "profile"], response_type="id_token token")
    returned = sign_in_in_browser(context, auth.url)
    assert "#" in returned and not urlsplit(returned).query  # the tokens never travel in the query
    response = client.parse_response(AuthorizationResponse, info=returned, sformat="urlencoded", state=auth.state)
    assert isinstance(response, AuthorizationResponse), response.to_dict()
    assert response["state"] == auth.state and "code" not in response
    id_token = response["id_token"]
    assert isinstance(id_token, IdToken) and id_token["sub"] == user.id and id_token["nonce"] == auth.nonce
    assert id_token["at_hash"] == jws.left_hash(response["access_token"], "HS256")
    info = client.do_user_info_request(state=auth.state)
    assert isinstance(info, OpenIDSchema) and info["sub"] == user.id and info["name"] == "Alice"


def test_the_password_grant_as_oic_requests_it(live_server, provider):
    """RFC 6749 §4.3 with oic's ROPC request type, for a confidential app the tenant opted in; a wrong
    password is oic's TokenErrorResponse with invalid_grant."""
    ctx = live_server.ctx
    allow_seed_grants(ctx, provider.tenant)
    app = make_client(ctx, provider.tenant, grant_types=["authorization_code", "password"])
    user = make_user(ctx, provider.tenant)
    client = relying_party(provider.issuer, app, "client_secret_basic")
    args = {"grant_type": "password", "username": user.email, "password": PASSWORD, "scope": ["openid", "email"]}

    def request(**changes: str) -> Message:
        return client.do_any(
            ROPCAccessTokenRequest,
            endpoint=client.token_endpoint,  # (discovered)
            request_args={**args, **changes},
            response=AccessTokenResponse,
            authn_method="client_secret_basic",
        )

    tokens = request()
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    assert tokens["id_token"]["sub"] == user.id and tokens["id_token"]["email"] == user.email  # verified by oic
    wrong = request(password="not it")
    assert isinstance(wrong, ErrorResponse) and wrong["error"] == "invalid_grant"


def test_the_device_flow_with_oics_device_flow_messages(live_server, provider, context):
    """RFC 8628 with oic's device-flow messages (``oic.extension.device_flow``) sent and parsed by oic's own
    client transport (``do_any``), for a public TV app: the device asks for a code and polls, the user
    approves in Chromium, oic verifies the ID token it gets. (oic's ``DeviceFlowClient`` itself calls its
    host's ``http_request`` with a signature that host no longer has, and follows an early draft that sent
    ``response_type=device_code``; its messages still carry that member, which RFC 8628 §3.1 lets us ignore.)"""
    ctx = live_server.ctx
    app = make_client(ctx, provider.tenant, name="Acme TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE])
    user = make_user(ctx, provider.tenant)
    client = relying_party(provider.issuer, app, "none")
    started = client.do_any(
        DeviceAuthorizationRequest,
        endpoint=client.provider_info["device_authorization_endpoint"],
        request_args={"client_id": app.client_id, "response_type": "device_code", "scope": "openid profile"},
        response=DeviceAuthorizationResponse,
    )
    assert isinstance(started, DeviceAuthorizationResponse), started.to_dict()

    def poll(expect: type[Message] = OAuth2AccessTokenResponse) -> Message:
        """oic's token error type knows only RFC 6749's codes: an RFC 8628 answer is parsed as an error."""
        return client.do_any(
            DeviceTokenRequest,
            endpoint=client.token_endpoint,
            request_args={"grant_type": DEVICE_CODE, "device_code": started["device_code"], "client_id": app.client_id},
            response=expect,
        )

    first_poll = time.monotonic()
    pending = poll(ErrorResponse)
    assert isinstance(pending, ErrorResponse) and pending["error"] == "authorization_pending"

    page = context.new_page()
    page.goto(f"{started['verification_uri']}?user_code={started['user_code']}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{provider.issuer}/login?**")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{provider.issuer}/consent?**")
    page.click("button[name=decision][value=approve]")
    page.wait_for_selector("text=Device connected")

    time.sleep(max(0.0, started["interval"] + 0.2 - (time.monotonic() - first_poll)))  # not faster than asked
    tokens = poll()
    assert isinstance(tokens, OAuth2AccessTokenResponse) and tokens["token_type"] == "Bearer", tokens.to_dict()
    kwargs = {"keyjar": client.keyjar, "iss": provider.issuer, "client_id": app.client_id}
    assert verify_id_token(AccessTokenResponse(id_token=tokens["id_token"]), **kwargs)["sub"] == user.id
    again = poll(ErrorResponse)
    assert isinstance(again, ErrorResponse) and again["error"] == "invalid_grant"
