"""The seed grants OAuth 2.1 drops, on only where the tenant allows them and the app is opted in: the password
grant (RFC 6749 §4.3) and the OIDC implicit flow (``id_token``, ``id_token token``; OIDC Core §3.2)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlmodel import select

from identity.clients import ClientError
from identity.models.grant import Grant
from tests.api.helpers import audit_rows
from tests.assertions import assertion, form, new_key, public_jwks
from tests.factories import PASSWORD, REDIRECT_URI, inspect_db, make_client, make_tenant, make_user
from tests.flow import authorize_url, fragment_of, hidden, query_of, sign_in

ALL = ["authorization_code", "refresh_token", "client_credentials", "password", "implicit"]


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx, allowed_grant_types=ALL)
    make_user(ctx, tenant)
    return tenant


def claims_of(http, token: str) -> dict:
    keys = KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())
    return jwt.decode(token, keys).claims


def half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


# -- the password grant ----------------------------------------------------------------------------------


@pytest.fixture
def legacy_app(ctx, acme):
    return make_client(ctx, acme, grant_types=["authorization_code", "refresh_token", "password"])


def password_token(http, app, username="alice@example.com", password=PASSWORD, scope="openid profile offline_access"):
    data = {"grant_type": "password", "username": username, "password": password, "scope": scope}
    return http.post("/t/acme/token", data=data, auth=(app.client_id, app.client_secret))


def test_the_password_grant_issues_tokens_an_id_token_and_a_refresh_token(http, ctx, acme, legacy_app):
    response = password_token(http, legacy_app)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid profile offline_access"
    id_token = claims_of(http, tokens["id_token"])
    assert id_token["aud"] == legacy_app.client_id and id_token["amr"] == ["pwd"] and "nonce" not in id_token
    assert id_token["at_hash"] == half_hash(tokens["access_token"])
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == id_token["sub"] and info.json()["name"] == "Alice"
    refreshed = http.post(
        "/t/acme/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(legacy_app.client_id, legacy_app.client_secret),
    )
    assert refreshed.status_code == 200, refreshed.text
    assert claims_of(http, refreshed.json()["id_token"])["auth_time"] == id_token["auth_time"]
    (event,) = audit_rows(ctx, acme.id, "login.succeeded")
    assert event.details == {"client_id": legacy_app.client_id, "grant_type": "password"}
    with inspect_db(ctx) as session:  # a grant of its own: revocation and "sign out everywhere" reach it
        (grant,) = session.exec(select(Grant).where(Grant.tenant_id == acme.id)).all()
    assert grant.client_id == legacy_app.client_id and grant.sid is None


def test_without_offline_access_there_is_no_refresh_token(http, legacy_app):
    tokens = password_token(http, legacy_app, scope="openid").json()
    assert "refresh_token" not in tokens and "id_token" in tokens


@pytest.mark.parametrize(
    ("username", "password"), [("alice@example.com", "wrong password"), ("bob@example.com", PASSWORD)]
)
def test_a_wrong_password_and_an_unknown_user_get_the_same_invalid_grant(
    http, ctx, acme, legacy_app, username, password
):
    response = password_token(http, legacy_app, username=username, password=password)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The email address or password is not correct.",
    }
    (event,) = audit_rows(ctx, acme.id, "login.failed")  # kept although the response is an error
    reason = "bad_password" if username.startswith("alice") else "unknown_user"
    assert event.details == {"reason": reason, "client_id": legacy_app.client_id, "grant_type": "password"}


def test_failures_are_throttled_like_the_hosted_login_even_with_the_right_password(http, ctx, acme, legacy_app):
    for _ in range(ctx.settings.login_max_failures_per_account):
        assert password_token(http, legacy_app, password="wrong").status_code == 400
    response = password_token(http, legacy_app)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "Too many failed sign-in attempts" in response.json()["error_description"]
    assert [e.details["reason"] for e in audit_rows(ctx, acme.id, "login.failed")][-1] == "throttled"


def test_a_disabled_user_cannot_use_the_password_grant(http, ctx, acme, legacy_app):
    from identity.models.user import User

    with inspect_db(ctx) as session:
        user = session.exec(select(User).where(User.tenant_id == acme.id)).one()
        user.disabled = True
        session.add(user)
    response = password_token(http, legacy_app)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_an_app_not_opted_in_is_unauthorized_client(http, ctx, acme):
    app = make_client(ctx, acme)  # the default grants: code and refresh
    response = password_token(http, app)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    assert audit_rows(ctx, acme.id, "login.failed") == []  # refused before any password was looked at


def test_a_tenant_that_does_not_allow_it_says_unsupported_grant_type(http, ctx):
    tenant = make_tenant(ctx)  # the default: the seed grants are not allowed
    make_user(ctx, tenant)
    app = make_client(ctx, tenant)
    response = password_token(http, app)
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_the_client_must_authenticate_and_name_a_scope_it_may_have(http, legacy_app):
    data = {"grant_type": "password", "username": "alice@example.com", "password": PASSWORD, "scope": "openid"}
    wrong = http.post("/t/acme/token", data=data, auth=(legacy_app.client_id, "not the secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert password_token(http, legacy_app, scope="openid admin").json()["error"] == "invalid_scope"
    missing = http.post(
        "/t/acme/token",
        data={"grant_type": "password", "username": "alice@example.com"},
        auth=(legacy_app.client_id, legacy_app.client_secret),
    )
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_a_public_app_cannot_be_given_the_password_grant(ctx, acme):
    with pytest.raises(ClientError, match="public client cannot use the password grant"):
        make_client(ctx, acme, public=True, grant_types=["authorization_code", "password"])


def test_an_app_cannot_be_opted_in_unless_the_tenant_allows_it(ctx):
    tenant = make_tenant(ctx)
    with pytest.raises(ClientError, match="does not allow the password grant"):
        make_client(ctx, tenant, grant_types=["authorization_code", "password"])


# -- the implicit flow ----------------------------------------------------------------------------------


@pytest.fixture
def spa(ctx, acme):
    return make_client(ctx, acme, public=True, grant_types=["implicit"], scopes=["openid", "profile", "email"])


def test_id_token_token_answers_in_the_fragment_with_an_access_token_and_a_bound_id_token(http, ctx, acme, spa):
    result = sign_in(http, "acme", spa.client_id, scope="openid profile", response_type="id_token token")
    assert "code" not in result and result["state"] == result["_state"]
    assert result["iss"] == "http://127.0.0.1:8000/t/acme" and result["token_type"] == "Bearer"
    assert int(result["expires_in"]) > 0 and result["scope"] == "openid profile"
    id_token = claims_of(http, result["id_token"])
    assert id_token["nonce"] == result["_nonce"] and id_token["sid"]
    assert id_token["at_hash"] == half_hash(result["access_token"])
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert info.status_code == 200 and info.json()["name"] == "Alice"
    with inspect_db(ctx) as session:  # logout finds the client through its grant's sid
        (grant,) = session.exec(select(Grant).where(Grant.tenant_id == acme.id)).all()
    assert grant.sid == id_token["sid"]


def test_id_token_alone_carries_the_claims_of_its_scopes(http, spa):
    result = sign_in(http, "acme", spa.client_id, scope="openid email", response_type="id_token")
    assert "access_token" not in result and "token_type" not in result
    id_token = claims_of(http, result["id_token"])
    assert id_token["email"] == "alice@example.com" and "at_hash" not in id_token


def implicit_request(http, client_id: str, **params: str):
    query = {"response_type": "id_token token", "nonce": "n-1", "state": "s-1", **params}
    return http.get(authorize_url("acme", client_id, **query))


def test_the_nonce_is_required_and_the_error_comes_in_the_fragment(http, spa):
    response = implicit_request(http, spa.client_id, nonce="")
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "#") and query_of(location) == {}
    error = fragment_of(location)
    assert error["error"] == "invalid_request" and error["state"] == "s-1" and "iss" in error


def test_response_mode_query_is_refused_for_tokens(http, spa):
    response = implicit_request(http, spa.client_id, response_mode="query")
    error = fragment_of(response.headers["location"])  # where the app's implicit handler reads
    assert error["error"] == "invalid_request" and "cannot carry tokens" in error["error_description"]


def test_form_post_delivers_the_implicit_response(http, spa):
    response = implicit_request(http, spa.client_id, response_mode="form_post")
    login = http.get(response.headers["location"])
    from tests.flow import submit_login

    after = submit_login(http, "acme", login.text, "alice@example.com", PASSWORD)
    consent = http.get(after.headers["location"])
    page = http.post(
        "/t/acme/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "flow": hidden(consent.text, "flow"),
            "decision": "approve",
            "scope": ["openid"],
        },
    )
    assert page.status_code == 200 and f'action="{REDIRECT_URI}"' in page.text
    assert 'name="id_token"' in page.text and 'name="access_token"' in page.text


def test_a_denial_is_access_denied_in_the_fragment(http, spa):
    result = sign_in(http, "acme", spa.client_id, scope="openid", response_type="id_token", approve=False)
    assert result["error"] == "access_denied" and result["state"] == result["_state"]


def test_an_app_not_opted_in_is_unauthorized_client_and_a_tenant_not_allowing_it_unsupported(http, ctx, acme):
    coded = make_client(ctx, acme, public=True, name="Code only")
    refused = fragment_of(implicit_request(http, coded.client_id).headers["location"])
    assert refused["error"] == "unauthorized_client"
    other = make_tenant(ctx, slug="plain")
    app = make_client(ctx, other, public=True)
    response = http.get(authorize_url("plain", app.client_id, response_type="id_token", nonce="n"))
    assert fragment_of(response.headers["location"])["error"] == "unsupported_response_type"


def test_discovery_names_the_seed_grants_only_where_allowed(http, ctx, acme):
    allowed = http.get("/t/acme/.well-known/openid-configuration").json()
    assert allowed["response_types_supported"] == ["code", "id_token", "id_token token"]
    assert {"password", "implicit"} <= set(allowed["grant_types_supported"])
    make_tenant(ctx, slug="plain")
    plain = http.get("/t/plain/.well-known/openid-configuration").json()
    assert plain["response_types_supported"] == ["code"]
    assert not {"password", "implicit"} & set(plain["grant_types_supported"])


def test_a_private_key_jwt_app_uses_the_password_grant_with_one_assertion(http, ctx, acme):
    """The grant runs in two passes around the hash; the client's assertion is checked (and its jti spent)
    once, so the second pass does not see a replay."""
    key = new_key("ES256", kid="k1")
    app = make_client(
        ctx,
        acme,
        grant_types=["authorization_code", "password"],
        token_endpoint_auth_method="private_key_jwt",
        jwks=public_jwks(key),
    )
    signed = assertion(key, app.client_id, "http://127.0.0.1:8000/t/acme/token", alg="ES256")
    data = {"grant_type": "password", "username": "alice@example.com", "password": PASSWORD, "scope": "openid"}
    response = http.post("/t/acme/token", data=form(signed, **data))
    assert response.status_code == 200, response.text
    replayed = http.post("/t/acme/token", data=form(signed, **data))
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client"
