"""Dynamic client registration (RFC 7591) at {issuer}/clients and its management protocol (RFC 7592) at
{issuer}/clients/{client_id}: the tenant's setting (off, open, token), initial access tokens, every refusal
with the exact error code, secrets and tokens stored only as HMACs, tenant isolation, a registered client
signing a user in, and third-party clients (pyoidc, Authlib, raw httpx) against the live server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from oic.oic import Client as OicClient
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from sqlmodel import select
from starlette.testclient import TestClient

from identity.app import create_app
from identity.db import session_scope
from identity.models.audit import AuditEvent
from identity.models.client import Client
from identity.models.registration import InitialAccessToken
from identity.models.tenant import Tenant
from tenants.audit import CLI
from tenants.manage import initial_tokens
from tenants.manage.errors import Invalid
from tenants.manage.settings import change_settings
from tests.api.helpers import audit_rows, management_token
from tests.api.helpers import bearer as api_bearer
from tests.assertions import assertion, form, new_key, public_jwks
from tests.conftest import PUBLIC_URL, make_settings
from tests.factories import REDIRECT_URI, inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange, sign_in

ISSUER = f"{PUBLIC_URL}/t/acme"
WEB = {
    "client_name": "Registered Web",
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "scope": "openid profile email offline_access",
}


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx, dynamic_registration="open")
    make_user(ctx, tenant)
    return tenant


def register(http, body, slug="acme", token=None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post(f"/t/{slug}/clients", json=body, headers=headers)


def registered(http, body=WEB, **kwargs) -> dict:  # type: ignore[no-untyped-def]
    response = register(http, body, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored(ctx, client_id: str) -> Client | None:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        return session.exec(select(Client).where(Client.id == client_id)).first()


def set_mode(ctx, tenant: Tenant, mode: str) -> None:  # type: ignore[no-untyped-def]
    with session_scope(ctx.sessions) as session:
        change_settings(session, session.get(Tenant, tenant.id), CLI, dynamic_registration=mode)


def new_initial_token(ctx, tenant: Tenant, days: int = 7, uses: int | None = None, label: str = "Partner"):  # type: ignore[no-untyped-def]
    with session_scope(ctx.sessions) as session:
        new = initial_tokens.create_initial_token(
            session, ctx, session.get(Tenant, tenant.id), CLI, label=label, lifetime_days=days, max_uses=uses
        )
        return new.row, new.token


def expect_error(response, status: int, error: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    return body


# -- the setting ----------------------------------------------------------------------------------------


def test_off_by_default_nothing_is_served_or_advertised(http, ctx):
    tenant = make_tenant(ctx)
    assert tenant.dynamic_registration == "off"
    assert "registration_endpoint" not in http.get("/t/acme/.well-known/openid-configuration").json()
    assert register(http, WEB).status_code == 404
    assert http.get("/t/acme/clients/anything", headers=bearer("x")).status_code == 404
    with inspect_db(ctx) as session:
        assert session.exec(select(Client).where(Client.registered_dynamically == True)).all() == []  # noqa: E712


def test_the_setting_is_one_of_three_modes(ctx):
    tenant = make_tenant(ctx)
    with session_scope(ctx.sessions) as session, pytest.raises(Invalid) as refused:
        change_settings(session, session.get(Tenant, tenant.id), CLI, dynamic_registration="sometimes")
    assert list(refused.value.fields) == ["dynamic_registration"]
    for mode in ("open", "token", "off"):
        set_mode(ctx, tenant, mode)
        with inspect_db(ctx) as session:
            assert session.get(Tenant, tenant.id).dynamic_registration == mode
    with inspect_db(ctx) as session:
        changes = session.exec(select(AuditEvent).where(AuditEvent.action == "tenant.settings_updated")).all()
    assert [event.details["changed"] for event in changes] == [
        {"dynamic_registration": mode} for mode in ("open", "token", "off")
    ]


@pytest.fixture
def cached(database_url) -> Iterator[tuple]:  # type: ignore[type-arg]
    app = create_app(make_settings(database_url, cache_seconds=300))
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        yield app.state.ctx, http
    app.state.ctx.engine.dispose()


def test_discovery_follows_the_setting_at_once_despite_its_cache(cached):
    ctx, http = cached
    tenant = make_tenant(ctx)
    url = "/t/acme/.well-known/openid-configuration"
    for _ in range(2):  # the second answer is the in-memory document
        assert "registration_endpoint" not in http.get(url).json()
    set_mode(ctx, tenant, "token")
    assert http.get(url).json()["registration_endpoint"] == f"{ISSUER}/clients"
    assert http.get("/t/acme/.well-known/oauth-authorization-server").json()["registration_endpoint"] == (
        f"{ISSUER}/clients"
    )
    set_mode(ctx, tenant, "off")
    assert "registration_endpoint" not in http.get(url).json()
    assert register(http, WEB).status_code == 404


# -- open registration ----------------------------------------------------------------------------------


def test_a_confidential_client_registers_and_its_credentials_are_stored_only_as_hmacs(http, ctx, acme):
    response = register(http, {**WEB, "logo_uri": "https://app.example.com/logo.png"})
    assert response.status_code == 201, response.text
    body = response.json()
    client_id, secret, token = body["client_id"], body["client_secret"], body["registration_access_token"]
    assert body["registration_client_uri"] == f"{ISSUER}/clients/{client_id}"
    assert response.headers["location"] == body["registration_client_uri"]
    assert body["client_secret_expires_at"] == 0 and isinstance(body["client_id_issued_at"], int)
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["redirect_uris"] == [REDIRECT_URI] and body["client_name"] == "Registered Web"
    assert body["grant_types"] == ["authorization_code", "refresh_token"] and body["response_types"] == ["code"]
    assert body["scope"] == "openid profile email offline_access" and body["application_type"] == "web"
    assert body["logo_uri"] == "https://app.example.com/logo.png"
    row = stored(ctx, client_id)
    assert row.registered_dynamically and not row.is_public and row.initial_access_token_id is None
    assert ctx.hasher.verify(secret, row.secret_hash) and ctx.hasher.verify(token, row.registration_token_hash)
    in_clear = [str(value) for value in row.model_dump().values()]
    assert not any(secret in value or token in value for value in in_clear)
    with inspect_db(ctx) as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.target == client_id)).all()
    assert (event.action, event.actor, event.details["registered_dynamically"]) == (
        "client.created",
        "dynamic registration",
        True,
    )
    assert "initial_access_token" not in event.details
    assert secret not in str(event.details) and token not in str(event.details)


def test_a_public_native_client_registers_without_a_secret(http, ctx, acme):
    body = registered(
        http,
        {
            "client_name": "Phone app",
            "redirect_uris": ["com.example.app:/callback", "http://127.0.0.1/cb"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        },
    )
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert body["token_endpoint_auth_method"] == "none" and body["application_type"] == "native"
    assert body["grant_types"] == ["authorization_code"]  # RFC 7591's default
    row = stored(ctx, body["client_id"])
    assert row.is_public and row.require_pkce and row.secret_hash is None and row.app_type == "native"


def test_optional_metadata_is_kept_and_unknown_metadata_ignored(http, ctx, acme):
    body = registered(
        http,
        {
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_post",
            "post_logout_redirect_uris": ["https://app.example.com/bye"],
            "backchannel_logout_uri": "https://app.example.com/backchannel",
            "frontchannel_logout_uri": "https://app.example.com/frontchannel",
            "require_pushed_authorization_requests": True,
            "contacts": ["ops@example.com"],
            "x-vendor": {"nested": [1, 2]},
        },
    )
    assert body["client_name"] == "Dynamically registered client"  # optional in RFC 7591
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    assert body["post_logout_redirect_uris"] == ["https://app.example.com/bye"]
    assert body["backchannel_logout_uri"] == "https://app.example.com/backchannel"
    assert body["require_pushed_authorization_requests"] is True
    assert "contacts" not in body and "jwks_uri" not in body and "x-vendor" not in body
    row = stored(ctx, body["client_id"])
    assert row.require_pushed_requests and row.frontchannel_logout_uri == "https://app.example.com/frontchannel"


def test_a_registered_client_signs_a_user_in_and_gets_tokens(http, ctx, acme):
    body = registered(http)
    result = sign_in(http, "acme", body["client_id"])
    tokens = exchange(http, "acme", body["client_id"], body["client_secret"], result["code"], result["_verifier"])
    assert tokens["status"] == 200 and tokens["id_token"] and tokens["refresh_token"]
    info = http.get("/t/acme/userinfo", headers=bearer(tokens["access_token"]))
    assert info.status_code == 200 and info.json()["email"] == "alice@example.com"


REFUSED = [
    ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": ["https://app.example.com/cb#frag"]}, "invalid_redirect_uri", "fragment"),
    ({"redirect_uris": ["https://app.example.com/*"]}, "invalid_redirect_uri", "wildcards"),
    ({"redirect_uris": []}, "invalid_redirect_uri", "at least one redirect URI"),
    ({"redirect_uris": "https://app.example.com/cb"}, "invalid_redirect_uri", "array"),
    ({"redirect_uris": [7]}, "invalid_redirect_uri", "string"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "jwks"),  # no keys
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": ["k"]}, "invalid_client_metadata", "JWK Set"),
    ({"jwks_uri": "https://app.example.com/jwks"}, "invalid_client_metadata", "only for the private_key_jwt"),
    ({"token_endpoint_auth_method": 1}, "invalid_client_metadata", "token_endpoint_auth_method"),
    ({"response_types": ["token"]}, "invalid_client_metadata", "response_types"),
    ({"response_types": []}, "invalid_client_metadata", "response_types"),
    ({"grant_types": ["client_credentials"]}, "invalid_client_metadata", "response_types"),
    ({"grant_types": ["magic_link"], "response_types": []}, "invalid_client_metadata", "not supported"),
    ({"grant_types": []}, "invalid_client_metadata", "grant_types"),
    ({"grant_types": ["refresh_token"], "response_types": []}, "invalid_client_metadata", "refresh_token needs"),
    (
        {"token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "client_credentials"]},
        "invalid_client_metadata",
        "public client cannot use client_credentials",
    ),
    ({"scope": "openid payroll:write"}, "invalid_client_metadata", "scope: scope 'payroll:write'"),
    ({"scope": ["openid"]}, "invalid_client_metadata", "scope"),
    (
        {"grant_types": ["client_credentials"], "response_types": [], "scope": "manage:clients"},
        "invalid_client_metadata",
        "management API",
    ),
    ({"logo_uri": "http://app.example.com/logo.png"}, "invalid_client_metadata", "logo_uri"),
    ({"client_name": ""}, "invalid_client_metadata", "client_name: name is required"),
    ({"client_name": "n" * 201}, "invalid_client_metadata", "client_name"),
    ({"client_name": "bad\u0000name"}, "invalid_client_metadata", "control characters"),
    ({"backchannel_logout_uri": "ftp://app.example.com/bc"}, "invalid_client_metadata", "backchannel_logout_uri"),
    ({"frontchannel_logout_uri": "https://app.example.com/f#x"}, "invalid_client_metadata", "frontchannel"),
    ({"post_logout_redirect_uris": ["javascript:alert(1)"]}, "invalid_client_metadata", "post_logout_redirect_uris"),
    ({"application_type": "desktop"}, "invalid_client_metadata", "application_type"),
    ({"require_pushed_authorization_requests": "yes"}, "invalid_client_metadata", "true or false"),
]


@pytest.mark.parametrize(("change", "error", "described"), REFUSED)
def test_metadata_is_validated_as_strictly_as_the_portal_does(http, ctx, acme, change, error, described):
    body = expect_error(register(http, {**WEB, **change}), 400, error)
    assert described in body["error_description"], body
    with inspect_db(ctx) as session:
        assert session.exec(select(Client).where(Client.registered_dynamically == True)).all() == []  # noqa: E712


def test_a_grant_the_tenant_does_not_allow_is_refused(http, ctx, acme):
    with session_scope(ctx.sessions) as session:
        change_settings(session, session.get(Tenant, acme.id), CLI, allowed_grant_types=["client_credentials"])
    machine = {"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []}
    registered(http, machine)
    body = expect_error(register(http, WEB), 400, "invalid_client_metadata")
    assert "does not allow the authorization_code grant" in body["error_description"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b'"a string"', "application/json"),
        (b"null", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b'{"client_name": "\\ud800", "redirect_uris": ["https://app.example.com/callback"]}', "application/json"),
        (b'{"client_name": "' + b"x" * 70_000 + b'"}', "application/json"),
        (b"client_name=x", "application/x-www-form-urlencoded"),
        (b"", ""),
    ],
)
def test_a_body_that_is_not_a_json_object_is_invalid_client_metadata(http, acme, content, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    expect_error(http.post("/t/acme/clients", content=content, headers=headers), 400, "invalid_client_metadata")


# -- initial access tokens ------------------------------------------------------------------------------


@pytest.fixture
def gated(ctx, acme):
    set_mode(ctx, acme, "token")
    return acme


def refused_token(response) -> None:  # type: ignore[no-untyped-def]
    expect_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_token_mode_needs_a_live_initial_access_token(http, ctx, gated):
    row, token = new_initial_token(ctx, gated)
    refused_token(register(http, WEB))
    refused_token(register(http, WEB, token="not-" + token))
    refused_token(http.post("/t/acme/clients", json=WEB, headers={"Authorization": f"Basic {token}"}))
    refused_token(http.post("/t/acme/clients", content=b"{", headers={"Content-Type": "application/json"}))
    body = registered(http, token=token)
    client = stored(ctx, body["client_id"])
    assert client.initial_access_token_id == row.id
    with inspect_db(ctx) as session:
        kept = session.get(InitialAccessToken, (gated.id, row.id))
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.target == body["client_id"])).all()
    assert kept.uses == 1 and ctx.hasher.verify(token, kept.token_hash) and token not in str(kept.model_dump())
    assert event.actor == "dynamic registration"
    assert (event.details["initial_access_token"], event.details["initial_access_token_label"]) == (row.id, "Partner")


def test_an_initial_token_stops_after_its_uses_and_a_refused_registration_spends_none(http, ctx, gated):
    row, token = new_initial_token(ctx, gated, uses=2)
    expect_error(
        register(http, {**WEB, "redirect_uris": ["http://evil.example/cb"]}, token=token), 400, "invalid_redirect_uri"
    )
    registered(http, token=token)
    registered(http, token=token)
    refused_token(register(http, WEB, token=token))
    with inspect_db(ctx) as session:
        assert session.get(InitialAccessToken, (gated.id, row.id)).uses == 2


def test_an_expired_or_revoked_initial_token_is_refused(http, ctx, gated):
    expiring, expiring_token = new_initial_token(ctx, gated)
    with session_scope(ctx.sessions) as session:
        session.get(InitialAccessToken, (gated.id, expiring.id)).expires_at = 1_000
    refused_token(register(http, WEB, token=expiring_token))
    revoked, revoked_token = new_initial_token(ctx, gated, label="Former partner")
    registered(http, token=revoked_token)
    with session_scope(ctx.sessions) as session:
        tenant = session.get(Tenant, gated.id)
        initial_tokens.revoke(session, tenant, CLI, initial_tokens.get_initial_token(session, tenant, revoked.id))
    refused_token(register(http, WEB, token=revoked_token))


def test_an_initial_token_of_another_tenant_is_refused(http, ctx, gated):
    globex = make_tenant(ctx, "globex", dynamic_registration="token")
    _, foreign = new_initial_token(ctx, globex)
    refused_token(register(http, WEB, token=foreign))
    registered(http, slug="globex", token=foreign)


def test_open_mode_needs_no_token(http, ctx, acme):
    assert registered(http)["client_id"]


# -- RFC 7592: read, replace, delete --------------------------------------------------------------------


def manage(http, method: str, body: dict, token: str | None = None, json=None):  # type: ignore[no-untyped-def]
    uri = body["registration_client_uri"].removeprefix(PUBLIC_URL)
    headers = bearer(token if token is not None else body["registration_access_token"])
    return http.request(method, uri, headers=headers, json=json)


def test_a_client_reads_its_registration(http, acme):
    body = registered(http)
    response = manage(http, "GET", body)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    read = response.json()
    assert "client_secret" not in read  # kept only as an HMAC: shown once, at registration
    assert read == {k: v for k, v in body.items() if k != "client_secret"}


def test_a_client_replaces_its_metadata_as_a_whole(http, ctx, acme):
    body = registered(http, {**WEB, "post_logout_redirect_uris": ["https://app.example.com/bye"]})
    replacement = {
        "client_id": body["client_id"],
        "client_secret": body["client_secret"],  # allowed when it is the current one
        "client_name": "Renamed",
        "redirect_uris": ["https://app.example.com/new-callback"],
        "grant_types": ["authorization_code"],
        "scope": "openid email",
    }
    response = manage(http, "PUT", body, json=replacement)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["client_name"] == "Renamed" and updated["redirect_uris"] == ["https://app.example.com/new-callback"]
    assert updated["post_logout_redirect_uris"] == [] and updated["scope"] == "openid email"
    assert updated["registration_access_token"] == body["registration_access_token"]  # not rotated
    row = stored(ctx, body["client_id"])
    assert (row.name, row.redirect_uris, row.grant_types) == (
        "Renamed",
        ["https://app.example.com/new-callback"],
        ["authorization_code"],
    )
    assert ctx.hasher.verify(body["client_secret"], row.secret_hash)  # the secret did not change
    assert manage(http, "GET", body).json()["client_name"] == "Renamed"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_id": None}, 400, "invalid_request"),
        ({"client_id": "someone-else"}, 400, "invalid_request"),
        ({"client_secret": "my-own-choice"}, 400, "invalid_request"),
        ({"registration_access_token": "x"}, 400, "invalid_request"),
        ({"client_id_issued_at": 1}, 400, "invalid_request"),
        ({"redirect_uris": ["http://evil.example/cb"]}, 400, "invalid_redirect_uri"),
        ({"token_endpoint_auth_method": "none"}, 400, "invalid_client_metadata"),
        ({"scope": "openid payroll:write"}, 400, "invalid_client_metadata"),
    ],
)
def test_a_refused_replacement_changes_nothing(http, ctx, acme, change, status, error):
    body = registered(http)
    replacement = {**WEB, "client_id": body["client_id"], "client_name": "Changed", **change}
    replacement = {k: v for k, v in replacement.items() if v is not None}
    expect_error(manage(http, "PUT", body, json=replacement), status, error)
    assert stored(ctx, body["client_id"]).name == "Registered Web"


def test_a_replacement_body_that_is_not_a_json_object_is_invalid_client_metadata(http, acme):
    body = registered(http)
    uri = body["registration_client_uri"].removeprefix(PUBLIC_URL)
    headers = {**bearer(body["registration_access_token"]), "Content-Type": "application/json"}
    expect_error(http.put(uri, content=b"[1]", headers=headers), 400, "invalid_client_metadata")


def test_a_deleted_client_and_its_tokens_stop_working(http, ctx, acme):
    body = registered(http)
    result = sign_in(http, "acme", body["client_id"])
    tokens = exchange(http, "acme", body["client_id"], body["client_secret"], result["code"], result["_verifier"])
    assert http.get("/t/acme/userinfo", headers=bearer(tokens["access_token"])).status_code == 200
    response = manage(http, "DELETE", body)
    assert response.status_code == 204 and response.content == b""
    assert stored(ctx, body["client_id"]) is None
    assert http.get("/t/acme/userinfo", headers=bearer(tokens["access_token"])).status_code == 401
    refreshed = http.post(
        "/t/acme/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(body["client_id"], body["client_secret"]),
    )
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_client"
    refused_token(manage(http, "GET", body))
    with inspect_db(ctx) as session:
        deleted = session.exec(select(AuditEvent).where(AuditEvent.action == "client.deleted")).one()
    assert (deleted.target, deleted.actor) == (body["client_id"], "dynamic registration")


def test_a_wrong_or_missing_registration_token_is_refused(http, ctx, acme):
    body = registered(http)
    other = registered(http)
    for method in ("GET", "PUT", "DELETE"):
        refused_token(manage(http, method, body, token="wrong", json={**WEB, "client_id": body["client_id"]}))
        refused_token(manage(http, method, body, token=other["registration_access_token"], json=WEB))
        response = http.request(method, body["registration_client_uri"].removeprefix(PUBLIC_URL))
        refused_token(response)
    assert stored(ctx, body["client_id"]) is not None


@pytest.mark.parametrize("client_id", ["%00", "x" * 65, "%F0%9F%98%80"])
def test_a_client_id_that_cannot_be_ours_is_refused_like_a_wrong_token(http, acme, client_id):
    refused_token(http.get(f"/t/acme/clients/{client_id}", headers=bearer("token")))


def test_a_portal_app_cannot_be_managed_with_any_token(http, ctx, acme):
    app = make_client(ctx, acme)
    for token in ("", "x" * 43, app.client_secret):
        refused_token(http.get(f"/t/acme/clients/{app.client_id}", headers=bearer(token) if token else {}))
    refused_token(http.delete(f"/t/acme/clients/{app.client_id}", headers=bearer(app.client_secret)))
    assert stored(ctx, app.client_id) is not None


def test_a_registration_of_one_tenant_never_reaches_another(http, ctx, acme):
    make_tenant(ctx, "globex", dynamic_registration="open")
    body = registered(http)
    foreign = f"/t/globex/clients/{body['client_id']}"
    for method in ("GET", "PUT", "DELETE"):
        refused_token(http.request(method, foreign, headers=bearer(body["registration_access_token"]), json=WEB))
    assert stored(ctx, body["client_id"]) is not None
    token = exchange(http, "globex", body["client_id"], body["client_secret"], "code", "verifier")
    assert token["status"] == 401 and token["error"] == "invalid_client"


def test_management_is_closed_when_the_setting_is_off(http, ctx, acme):
    body = registered(http)
    set_mode(ctx, acme, "off")
    assert manage(http, "GET", body).status_code == 404
    assert manage(http, "DELETE", body).status_code == 404
    assert stored(ctx, body["client_id"]) is not None


# -- third-party clients against the live server ----------------------------------------------------------


@pytest.fixture
def live(live_server):  # type: ignore[no-untyped-def]
    make_tenant(live_server.ctx, dynamic_registration="open")
    return live_server, f"{live_server.url}/t/acme"


def test_pyoidc_registers_through_discovery_and_the_client_gets_a_token(live):
    server, issuer = live
    rp = OicClient(client_authn_method=CLIENT_AUTHN_METHOD)
    rp.provider_config(issuer)
    assert rp.provider_info["registration_endpoint"] == f"{issuer}/clients"
    rp.register(
        rp.provider_info["registration_endpoint"],
        client_name="oic relying party",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "client_credentials"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_basic",
    )  # (oic sends no scope: OIDC registration has none, so the client gets the default user scopes)
    assert rp.client_id and rp.client_secret and rp.registration_access_token
    assert rp.registration_response["registration_client_uri"] == f"{issuer}/clients/{rp.client_id}"
    # (oic derives grant_types through a set: their order varies)
    assert set(rp.registration_response["grant_types"]) == {"authorization_code", "client_credentials"}
    with OAuth2Client(rp.client_id, rp.client_secret) as authlib_client:
        token = authlib_client.fetch_token(f"{issuer}/token", grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer" and token["scope"] == "profile email", token
    row = stored(server.ctx, rp.client_id)
    assert row.registered_dynamically and ctx_verifies(server.ctx, rp.client_secret, row.secret_hash)


def ctx_verifies(ctx, secret: str, stored_hash: str | None) -> bool:  # type: ignore[no-untyped-def]
    return bool(ctx.hasher.verify(secret, stored_hash))


def test_rfc7592_over_raw_http(live):
    server, issuer = live
    with inspect_db(server.ctx) as session:
        acme = session.exec(select(Tenant).where(Tenant.slug == "acme")).one()
    set_mode(server.ctx, acme, "token")
    _, initial = new_initial_token(server.ctx, acme, uses=1)
    with httpx.Client() as raw:
        metadata = {"client_name": "Raw", "redirect_uris": [REDIRECT_URI], "scope": "openid"}
        created = raw.post(f"{issuer}/clients", json=metadata, headers=bearer(initial))
        assert created.status_code == 201, created.text
        info = created.json()
        uri, headers = info["registration_client_uri"], bearer(info["registration_access_token"])
        assert raw.get(uri, headers=headers).json()["client_name"] == "Raw"
        put = raw.put(uri, headers=headers, json={**metadata, "client_id": info["client_id"], "client_name": "Raw 2"})
        assert put.status_code == 200 and put.json()["client_name"] == "Raw 2"
        again = raw.post(f"{issuer}/clients", json=metadata, headers=bearer(initial))
        assert again.status_code == 401 and again.headers["www-authenticate"].startswith("Bearer ")
        assert raw.delete(uri, headers=headers).status_code == 204
        assert raw.get(uri, headers=headers).status_code == 401


# -- the management API ---------------------------------------------------------------------------------


def test_the_management_api_reads_and_changes_the_setting(http, ctx):
    tenant = make_tenant(ctx)
    headers = api_bearer(management_token(http, ctx, tenant, ["manage:clients"]))
    read = http.get("/t/acme/api/settings", headers=headers)
    assert read.status_code == 200 and read.json() == {"dynamic_registration": "off"}
    changed = http.patch(
        "/t/acme/api/settings",
        json={"dynamic_registration": "token"},
        headers={**headers, "If-Match": read.headers["etag"]},
    )
    assert changed.status_code == 200 and changed.json() == {"dynamic_registration": "token"}
    assert http.get("/t/acme/.well-known/openid-configuration").json()["registration_endpoint"] == f"{ISSUER}/clients"
    refused = http.patch("/t/acme/api/settings", json={"dynamic_registration": "sometimes"}, headers=headers)
    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["dynamic_registration"]
    stale = http.patch(
        "/t/acme/api/settings",
        json={"dynamic_registration": "open"},
        headers={**headers, "If-Match": read.headers["etag"]},
    )
    assert stale.status_code == 412
    (event,) = audit_rows(ctx, tenant.id, "tenant.settings_updated")
    assert event.details == {"changed": {"dynamic_registration": "token"}} and event.actor.startswith("client:")
    registered_app = registered(http, token=new_initial_token(ctx, tenant)[1])
    listed = http.get(f"/t/acme/api/clients/{registered_app['client_id']}", headers=headers).json()
    assert listed["registered_dynamically"] is True


@pytest.mark.parametrize("mode", ["open", "token"])
def test_the_advertised_registration_endpoint_is_the_one_served(http, ctx, mode):
    make_tenant(ctx, dynamic_registration=mode)
    advertised = http.get("/t/acme/.well-known/openid-configuration").json()["registration_endpoint"]
    response = http.post(advertised.removeprefix(PUBLIC_URL), json=WEB)
    assert response.status_code == (201 if mode == "open" else 401), response.text


def test_a_client_registers_its_public_keys_and_authenticates_with_private_key_jwt(http, ctx, acme):
    """RFC 7591's jwks with token_endpoint_auth_method private_key_jwt: no secret is issued, the keys are
    checked as the portal checks them, and an assertion signed with the key authenticates the client."""
    key = new_key("ES256", kid="k1")
    body = registered(
        http,
        {
            "grant_types": ["client_credentials"],
            "response_types": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": public_jwks(key),
        },
    )
    assert "client_secret" not in body and body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["jwks"]["keys"][0]["kid"] == "k1" and "d" not in body["jwks"]["keys"][0]
    signed = assertion(key, body["client_id"], "http://127.0.0.1:8000/t/acme/token", alg="ES256")
    token = http.post("/t/acme/token", data=form(signed, grant_type="client_credentials"))
    assert token.status_code == 200, token.text
    leaked = {"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "private"}
    refused = register(
        http,
        {
            "grant_types": ["client_credentials"],
            "response_types": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [leaked]},
        },
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"
