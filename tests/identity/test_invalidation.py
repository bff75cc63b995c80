"""Revocation takes effect at once in the process that cached it, even with a long cache life
(identity.invalidation): the very next request after the change commits is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from identity.app import create_app
from identity.consents import revoke_consent
from identity.db import session_scope, tenant_query
from identity.models.client import Client
from identity.models.tenant import Tenant
from identity.models.user import User
from tenants.audit import CLI
from tenants.manage import apps, users
from tenants.manage.tenants import suspend_tenant
from tests.conftest import PUBLIC_URL, make_settings
from tests.factories import make_client, make_tenant, make_user
from tests.flow import exchange, sign_in

LONG = 300  # seconds: without invalidation every refusal below would wait this long


@pytest.fixture
def cached(database_url) -> Iterator[tuple]:  # type: ignore[type-arg]
    app = create_app(make_settings(database_url, cache_seconds=LONG))
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        yield app.state.ctx, http
    app.state.ctx.engine.dispose()


@pytest.fixture
def signed_in(cached):  # type: ignore[no-untyped-def]
    ctx, http = cached
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    resource = make_client(ctx, tenant, name="Reports API", grant_types=["client_credentials"], scopes=[])
    result = sign_in(http, "acme", rp.client_id, scope="openid email offline_access")
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    for _ in range(2):  # the second answer is from memory
        assert http.get("/t/acme/userinfo", headers=headers).status_code == 200
        assert introspect(http, resource, tokens["access_token"])
    return ctx, http, tenant, rp, resource, result, tokens, headers


def introspect(http, resource, token) -> bool:  # type: ignore[no-untyped-def]
    response = http.post("/t/acme/introspect", data={"token": token}, auth=(resource.client_id, resource.client_secret))
    return bool(response.json()["active"])


def test_a_replayed_code_kills_the_first_access_token_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    assert exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])["status"] == 400
    assert http.get("/t/acme/userinfo", headers=headers).status_code == 401
    assert not introspect(http, resource, tokens["access_token"])


def test_a_reused_refresh_token_kills_the_family_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret)).status_code == 200
    assert http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret)).status_code == 400
    assert http.get("/t/acme/userinfo", headers=headers).status_code == 401


def _revoke(http, rp, token):  # type: ignore[no-untyped-def]
    response = http.post("/t/acme/revoke", data={"token": token}, auth=(rp.client_id, rp.client_secret))
    assert response.status_code == 200


def test_a_revoked_access_token_is_refused_at_once_and_its_grant_lives_on(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    _revoke(http, rp, tokens["access_token"])
    for _ in range(3):  # the first reloads the tenant's revoked tokens; the others answer from memory
        assert http.get("/t/acme/userinfo", headers=headers).status_code == 401
        assert not introspect(http, resource, tokens["access_token"])
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    renewed = http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret)).json()
    for _ in range(2):
        assert (
            http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {renewed['access_token']}"}).status_code
            == 200
        )


def test_a_revoked_refresh_token_kills_its_access_tokens_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    _revoke(http, rp, tokens["refresh_token"])
    assert http.get("/t/acme/userinfo", headers=headers).status_code == 401
    assert not introspect(http, resource, tokens["access_token"])


def test_a_revoked_client_credentials_token_is_refused_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    token = _client_credentials(http, resource.client_id, resource.client_secret).json()["access_token"]
    for _ in range(2):
        assert introspect(http, resource, token)
    _revoke(http, resource, token)
    for _ in range(2):
        assert not introspect(http, resource, token)


def test_revoked_consent_and_disabled_user_are_refused_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    with session_scope(ctx.sessions) as session:
        user = session.exec(tenant_query(User, tenant.id)).one()
        assert revoke_consent(session, tenant.id, user.id, rp.client_id, CLI)
    assert http.get("/t/acme/userinfo", headers=headers).status_code == 401
    assert not introspect(http, resource, tokens["access_token"])


def test_a_disabled_user_is_refused_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    with session_scope(ctx.sessions) as session:
        user = session.exec(tenant_query(User, tenant.id)).one()
        users.set_end_user_disabled(session, tenant, CLI, user, True)
    assert http.get("/t/acme/userinfo", headers=headers).status_code == 401


def _client_credentials(http, client_id, secret):  # type: ignore[no-untyped-def]
    return http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def test_a_deleted_client_and_a_rotated_secret_are_refused_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    for _ in range(2):  # warm: the client is in memory
        assert _client_credentials(http, resource.client_id, resource.client_secret).status_code == 200
    with session_scope(ctx.sessions) as session:
        client = session.exec(tenant_query(Client, tenant.id).where(Client.id == resource.client_id)).one()
        apps.rotate_app_secret(session, ctx, tenant, CLI, client, 0)
    assert _client_credentials(http, resource.client_id, resource.client_secret).status_code == 401
    # The app that holds the user's token is deleted: the token dies with its grants, at once.
    with session_scope(ctx.sessions) as session:
        client = session.exec(tenant_query(Client, tenant.id).where(Client.id == rp.client_id)).one()
        apps.delete_app(session, tenant, CLI, client)
    assert http.get("/t/acme/userinfo", headers=headers).status_code == 401
    assert _client_credentials(http, rp.client_id, rp.client_secret).status_code == 401


def test_a_suspended_tenant_is_refused_at_once(signed_in):
    ctx, http, tenant, rp, resource, result, tokens, headers = signed_in
    for _ in range(2):
        assert http.get("/t/acme/.well-known/openid-configuration").status_code == 200
    with session_scope(ctx.sessions) as session:
        suspend_tenant(session, ctx.encryptor, CLI, session.get(Tenant, tenant.id), "test")
    assert http.get("/t/acme/.well-known/openid-configuration").status_code == 403
    assert http.get("/t/acme/userinfo", headers=headers).status_code == 403
