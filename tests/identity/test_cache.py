"""The hot path's in-process cache, and the regression guard for its cost: exact counts of database
statements and key loads per request (counted, not timed, so a noisy machine cannot make it flake)."""

import time

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from identity.app import create_app
from identity.db import session_scope
from identity.models.tenant import SUSPENDED, Tenant
from tests.conftest import PUBLIC_URL, make_settings
from tests.factories import make_client, make_scope, make_tenant


class StatementCounter:
    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: object) -> None:
        self.count += 1


class SessionCounter:
    """Stands for the app's sessionmaker and counts the Sessions made through it."""

    def __init__(self, sessions) -> None:  # type: ignore[no-untyped-def]
        self.sessions, self.made = sessions, 0

    def __call__(self):  # type: ignore[no-untyped-def]
        self.made += 1
        return self.sessions()


@pytest.fixture
def cached_app(database_url):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(database_url, cache_seconds=60))
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        yield app, http
    app.state.ctx.engine.dispose()


def test_warm_discovery_jwks_and_client_credentials_touch_no_database(cached_app):
    app, http = cached_app
    ctx = app.state.ctx
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "api:read", "Read")
    m2m = make_client(ctx, tenant, grant_types=["client_credentials"], scopes=["api:read"], redirect_uris=[])
    auth = (m2m.client_id, m2m.client_secret)
    # Warm up: the first requests load the tenant, the scopes, the key ring and the client.
    assert http.get("/t/acme/.well-known/openid-configuration").status_code == 200
    assert http.get("/t/acme/.well-known/jwks.json").status_code == 200
    assert http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
    statements, key_loads, directory_loads = StatementCounter(ctx.engine), ctx.keys.loads, ctx.directory.loads
    ctx.sessions = sessions = SessionCounter(ctx.sessions)
    for _ in range(5):
        assert http.get("/t/acme/.well-known/openid-configuration").status_code == 200
        assert http.get("/t/acme/.well-known/jwks.json").status_code == 200
        assert http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
    assert statements.count == 0
    assert ctx.keys.loads == key_loads
    assert ctx.directory.loads == directory_loads
    assert sessions.made == 0  # not even an ORM Session is made (its bookkeeping was an eighth of the request)


def test_cached_entries_expire(database_url):
    app = create_app(make_settings(database_url, cache_seconds=0.5))
    ctx = app.state.ctx
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        tenant = make_tenant(ctx)
        assert http.get("/t/acme/.well-known/jwks.json").status_code == 200
        with session_scope(ctx.sessions) as session:
            row = session.get(Tenant, tenant.id)
            row.status = SUSPENDED
            session.add(row)
        # Within the cache lifetime a replica may still serve the old state; after it, never.
        time.sleep(0.6)
        response = http.get("/t/acme/.well-known/jwks.json")
        assert response.status_code == 403 and response.json()["error"] == "tenant_suspended"
    ctx.engine.dispose()


def test_unknown_tenants_are_cached_too(cached_app):
    app, http = cached_app
    ctx = app.state.ctx
    assert http.get("/t/nobody/.well-known/jwks.json").status_code == 404
    loads = ctx.directory.loads
    assert http.get("/t/nobody/.well-known/jwks.json").status_code == 404
    assert ctx.directory.loads == loads


def test_warm_userinfo_touches_no_database_and_a_cold_one_reads_once(cached_app):
    from tests.factories import make_user  # noqa: PLC0415
    from tests.flow import exchange, sign_in  # noqa: PLC0415

    app, http = cached_app
    ctx = app.state.ctx
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    statements = StatementCounter(ctx.engine)
    assert http.get("/t/acme/userinfo", headers=bearer).status_code == 200
    # Cold: two queries, the user of a live (unrevoked) grant and the tenant's revoked access tokens.
    assert statements.count == 2
    verifications = ctx.access_tokens.verifications
    for _ in range(5):
        assert http.get("/t/acme/userinfo", headers=bearer).status_code == 200
    assert statements.count == 2  # warm: from memory, for at most IDENTITY_CACHE_SECONDS
    assert ctx.access_tokens.verifications == verifications  # and its signature is not checked again


def test_userinfo_follows_profile_changes_and_disabled_users_after_the_cache_life(database_url):
    """The fast lane keeps userinfo's JSON body with the cached user snapshot: a new snapshot, a new body."""
    from identity.models.user import User  # noqa: PLC0415
    from tests.factories import make_user  # noqa: PLC0415
    from tests.flow import exchange, sign_in  # noqa: PLC0415

    app = create_app(make_settings(database_url, cache_seconds=0.5))
    ctx = app.state.ctx
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        tenant = make_tenant(ctx)
        user = make_user(ctx, tenant)
        rp = make_client(ctx, tenant)
        result = sign_in(http, "acme", rp.client_id)
        tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert http.get("/t/acme/userinfo", headers=bearer).json()["name"] == "Alice"
        assert http.get("/t/acme/userinfo", headers=bearer).json()["name"] == "Alice"  # from memory

        with session_scope(ctx.sessions) as session:
            row = session.get(User, (tenant.id, user.id))
            row.name = "Alice Liddell"
            session.add(row)
        time.sleep(0.6)
        assert http.get("/t/acme/userinfo", headers=bearer).json()["name"] == "Alice Liddell"
        assert http.get("/t/acme/userinfo", headers=bearer).json()["name"] == "Alice Liddell"

        with session_scope(ctx.sessions) as session:
            row = session.get(User, (tenant.id, user.id))
            row.disabled = True
            session.add(row)
        time.sleep(0.6)
        for _ in range(2):  # cold, then from memory
            refused = http.get("/t/acme/userinfo", headers=bearer)
            assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    ctx.engine.dispose()


def test_expired_entries_are_dropped_so_memory_follows_the_tenants_in_use(database_url, monkeypatch):
    import identity.directory  # noqa: PLC0415

    monkeypatch.setattr(identity.directory, "PURGE_ABOVE", 3)
    app = create_app(make_settings(database_url, cache_seconds=0.2))
    ctx = app.state.ctx
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        for i in range(5):  # unknown tenants are cached too (as "not found")
            assert http.get(f"/t/nobody{i}/.well-known/jwks.json").status_code == 404
        assert len(ctx.directory._tenants) == 5
        time.sleep(0.3)  # all five are past their life
        assert http.get("/t/someone-else/.well-known/jwks.json").status_code == 404
        assert len(ctx.directory._tenants) == 1  # only the live entry is held
    ctx.engine.dispose()


def test_a_password_login_with_remembered_consent_costs_a_fixed_number_of_statements(cached_app):
    """authorize (2: sweep expired requests, store this one), login page (1: the request), POST (3 before
    the hash: request, user, both throttle keys; 8 after: request, user, browser session, audit event,
    consent, request gone, grant, code), token (4: code used, grant, user, refresh token). The tenant and
    the client come from memory, and no throttle row is touched when the account has no failures."""
    from tests.factories import make_user  # noqa: PLC0415
    from tests.flow import exchange, sign_in  # noqa: PLC0415

    app, http = cached_app
    ctx = app.state.ctx
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    first = sign_in(http, "acme", rp.client_id)  # consents; warms the directory and the key ring
    assert exchange(http, "acme", rp.client_id, rp.client_secret, first["code"], first["_verifier"])["status"] == 200
    http.cookies.clear()  # a new browser: signs in again, consent remembered
    statements = StatementCounter(ctx.engine)
    result = sign_in(http, "acme", rp.client_id)
    assert statements.count == 2 + 1 + 3 + 8
    statements.count = 0
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200 and tokens["refresh_token"]
    assert statements.count == 4
