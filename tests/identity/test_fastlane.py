"""The fast lane (identity.fastlane) answers warm requests exactly as the endpoints do, and hands on
everything it cannot answer from memory."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from identity.app import create_app
from tests.conftest import PUBLIC_URL, make_settings
from tests.factories import make_client, make_scope, make_tenant, make_user
from tests.flow import exchange, sign_in

VOLATILE = {"date", "content-length", "x-request-id"}  # (the request id: each response its own)
FORM = "application/x-www-form-urlencoded"


def _shape(response):  # type: ignore[no-untyped-def]
    return response.status_code, {k: v for k, v in response.headers.items() if k not in VOLATILE}


@pytest.fixture
def warm(database_url):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(database_url, cache_seconds=60))
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as http:
        yield app.state.ctx, http
    app.state.ctx.engine.dispose()


def test_cold_and_warm_public_documents_are_the_same_bytes_and_headers(warm):
    ctx, http = warm
    make_tenant(ctx)
    for path in ("/t/acme/.well-known/openid-configuration", "/t/acme/.well-known/jwks.json"):
        cold, hot = http.get(path), http.get(path)  # the first is the app's, the second the lane's
        assert _shape(cold) == _shape(hot) and cold.content == hot.content
        again = http.get(path, headers={"If-None-Match": hot.headers["etag"]})
        assert again.status_code == 304 and again.headers["etag"] == hot.headers["etag"]


def test_warm_token_requests_and_their_errors(warm):
    ctx, http = warm
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "api:read", "Read")
    m2m = make_client(ctx, tenant, grant_types=["client_credentials"], scopes=["api:read"], redirect_uris=[])
    auth = (m2m.client_id, m2m.client_secret)
    cold = http.post("/t/acme/token", data={"grant_type": "client_credentials", "scope": "api:read"}, auth=auth)
    hot = http.post("/t/acme/token", data={"grant_type": "client_credentials", "scope": "api:read"}, auth=auth)
    assert _shape(cold) == _shape(hot) and cold.status_code == 200
    assert hot.json()["scope"] == "api:read" and hot.headers["cache-control"] == "no-store"
    # Refusals from the lane are the endpoint's refusals.
    wrong = http.post("/t/acme/token", data={"grant_type": "client_credentials"}, auth=(m2m.client_id, "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    bad_scope = http.post("/t/acme/token", data={"grant_type": "client_credentials", "scope": "x"}, auth=auth)
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"
    # Out-of-the-ordinary bodies go to the app, body intact: a repeated parameter, a non-ASCII one.
    repeated = http.post(
        "/t/acme/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=auth,
    )
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"
    odd = http.post(
        "/t/acme/token",
        content="grant_type=client_credentials&scope=api:read&x=é".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=auth,
    )
    assert odd.status_code == 200 and odd.json()["scope"] == "api:read"


def test_unknown_and_cold_tenants_go_to_the_app(warm):
    _ctx, http = warm
    assert http.get("/t/nobody/.well-known/jwks.json").status_code == 404
    assert http.get("/t/nobody/.well-known/jwks.json").status_code == 404  # cached absence: still the app's page
    assert http.get("/t/nobody/userinfo", headers={"Authorization": "Bearer x"}).status_code == 404


def test_ready_documents_give_each_response_its_own_headers(database_url):
    """Discovery, JWKS and warm userinfo headers are encoded once per document (or cached user); a proxy-like middleware that adds a header
    in place must not add it to the next response too."""
    app = create_app(make_settings(database_url, cache_seconds=60))

    async def stamping(scope, receive, send):  # type: ignore[no-untyped-def]
        async def stamped(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                message["headers"].append((b"x-served-by", b"edge"))
            await send(message)

        await app(scope, receive, stamped)

    with TestClient(stamping, base_url=PUBLIC_URL, follow_redirects=False) as http:
        tenant = make_tenant(app.state.ctx)
        make_user(app.state.ctx, tenant)
        rp = make_client(app.state.ctx, tenant)
        signed_in = sign_in(http, "acme", rp.client_id)
        tokens = exchange(http, "acme", rp.client_id, rp.client_secret, signed_in["code"], signed_in["_verifier"])
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        for path in ("/t/acme/.well-known/openid-configuration", "/t/acme/.well-known/jwks.json", "/t/acme/userinfo"):
            for _ in range(3):
                response = http.get(path, headers=bearer if path.endswith("userinfo") else {})
                assert response.status_code == 200
                assert response.headers.get_list("x-served-by") == ["edge"]
    app.state.ctx.engine.dispose()


def test_the_lanes_are_the_route_tables(warm):
    """No second list of paths: the lanes are the routes of the table marked ``fast``."""
    from identity.fastlane import Endpoint, lanes_of
    from identity.routes import tenant_routes

    marked = {(r.path, r.fast) for r in tenant_routes if isinstance(r, Endpoint) and r.fast is not None}
    assert {(path, lane) for (_, path), lane in lanes_of(tenant_routes).items()} == marked
    assert ("POST", "/token") in lanes_of(tenant_routes) and ("GET", "/userinfo") in lanes_of(tenant_routes)


def test_a_tenant_suspended_while_its_token_request_is_read_is_a_403_not_a_500(warm):
    """The lane has the tenant in memory when the request starts; the tenant is suspended (through the
    service, committed) before the body arrives. The answer is the app's: 403, never a 500."""
    import anyio

    from identity.db import session_scope
    from tenants.audit import CLI
    from tenants.manage.tenants import suspend_tenant
    from tenants.resolution import find_tenant

    ctx, http = warm
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "api:read", "Read")
    m2m = make_client(ctx, tenant, grant_types=["client_credentials"], scopes=["api:read"], redirect_uris=[])
    auth = (m2m.client_id, m2m.client_secret)
    body = b"grant_type=client_credentials&scope=api%3Aread"
    assert http.post("/t/acme/token", content=body, headers={"Content-Type": FORM}, auth=auth).status_code == 200

    import base64

    basic = base64.b64encode(f"{m2m.client_id}:{m2m.client_secret}".encode())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/t/acme/token",
        "raw_path": b"/t/acme/token",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", FORM.encode()),
            (b"authorization", b"Basic " + basic),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        with session_scope(ctx.sessions) as session:
            row = find_tenant(session, "acme")
            assert row is not None
            suspend_tenant(session, ctx.encryptor, CLI, row, "mid-request")
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    anyio.run(http.app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 403
