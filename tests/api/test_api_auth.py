"""Who may call the management API: real tokens from our token endpoint, each scope exactly its operations."""

import pytest

from identity.db import session_scope
from identity.tokens import Signer
from tenants.manage.errors import Missing
from tests.api.helpers import ALL_TENANT_SCOPES, bearer, management_token, platform_token
from tests.factories import make_client, make_scope, make_tenant, make_user

# scope -> one read and one write of its own
OPERATIONS = {
    "manage:clients": [
        ("GET", "/t/acme/api/clients", None),
        ("POST", "/t/acme/api/clients", {"name": "M2M", "app_type": "m2m"}),
    ],
    "manage:users": [
        ("GET", "/t/acme/api/users", None),
        ("POST", "/t/acme/api/users", {"email": "new@example.com", "password": "correct horse battery"}),
    ],
    "manage:members": [
        ("GET", "/t/acme/api/members", None),
        ("POST", "/t/acme/api/members", {"email": "dev@example.com", "role": "developer"}),
    ],
    "manage:scopes": [
        ("GET", "/t/acme/api/scopes", None),
        ("POST", "/t/acme/api/scopes", {"name": "orders:read", "description": "Read orders"}),
    ],
    "read:audit": [("GET", "/t/acme/api/audit-events", None)],
}


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return tenant


def call(http, method, path, body, token):
    return http.request(method, path, json=body, headers=bearer(token))


@pytest.mark.parametrize("scope", sorted(OPERATIONS))
def test_each_scope_allows_exactly_its_operations(http, ctx, acme, scope):
    token = management_token(http, ctx, acme, [scope])
    for other, operations in OPERATIONS.items():
        for method, path, body in operations:
            response = call(http, method, path, body, token)
            if other == scope:
                assert response.status_code in (200, 201), (method, path, response.text)
            else:
                assert response.status_code == 403, (scope, method, path)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"].endswith("/insufficient_scope")
                assert f'scope="{other}"' in response.headers["www-authenticate"]


def test_a_tenant_token_never_reaches_another_tenant_or_the_platform(http, ctx, acme):
    make_tenant(ctx, "globex", "Globex")
    token = management_token(http, ctx, acme, ALL_TENANT_SCOPES)
    for path in ("/t/globex/api/clients", "/t/globex/api/users", "/api/admin/tenants", "/api/admin/audit-events"):
        response = http.get(path, headers=bearer(token))
        assert response.status_code == 401, path
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_platform_token_is_not_a_tenant_token(http, ctx, acme):
    token = platform_token(http, ctx)
    assert http.get("/t/acme/api/clients", headers=bearer(token)).status_code == 401
    assert http.get("/api/admin/tenants", headers=bearer(token)).status_code == 200


def test_missing_malformed_and_other_schemes_are_401(http, acme):
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer x.y.z"},
    ):
        response = http.get("/t/acme/api/clients", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer realm="api"')
        assert response.json()["status"] == 401


def test_expired_token_is_401(http, ctx, acme):
    app = make_client(
        ctx, acme, name="Ops", redirect_uris=[], grant_types=["client_credentials"], scopes=["manage:users"]
    )
    with session_scope(ctx.sessions) as session:
        ring = ctx.keys.get(session, acme)
    issuer = "http://127.0.0.1:8000/t/acme"
    signer = Signer(issuer, ring, "RS256", "RS256")
    expired = signer.access_token(
        client_id=app.client_id,
        scope="manage:users",
        ttl=-120,
        subject=None,
        grant_id=None,
        auth_time=None,
        audience=f"{issuer}/api",
    )
    response = http.get("/t/acme/api/users", headers=bearer(expired))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_wrong_audience_is_401(http, ctx, acme):
    """A token for the tenant's own resource servers (a custom scope: audience = the issuer) is not an API token."""
    make_scope(ctx, acme, "orders:read", "Read orders")
    token = management_token(http, ctx, acme, ["orders:read"])
    response = http.get("/t/acme/api/clients", headers=bearer(token))
    assert response.status_code == 401
    assert "audience" in response.json()["detail"]


def test_management_scopes_are_requested_on_their_own(http, ctx, acme):
    make_scope(ctx, acme, "orders:read", "Read orders")
    app = make_client(
        ctx,
        acme,
        name="Mixed",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=["orders:read", "manage:users"],
    )
    response = http.post(
        "/t/acme/token",
        data={"grant_type": "client_credentials", "scope": "orders:read manage:users"},
        auth=(app.client_id, app.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_management_scopes_only_for_machine_to_machine_apps(ctx, acme):
    from identity.clients import ClientError  # noqa: PLC0415

    with pytest.raises(ClientError, match="machine-to-machine"):
        make_client(ctx, acme, name="Web", scopes=["openid", "manage:users"])


def test_a_deleted_apps_token_is_401(http, ctx, acme):
    token = management_token(http, ctx, acme, ["manage:clients"])
    own_id = http.get("/t/acme/api/clients", headers=bearer(token)).json()["items"][0]["client_id"]
    assert http.delete(f"/t/acme/api/clients/{own_id}", headers=bearer(token)).status_code == 204
    assert http.get("/t/acme/api/clients", headers=bearer(token)).status_code == 401


def test_suspended_tenant_refuses_its_api(http, ctx, acme):
    from tenants.audit import CLI  # noqa: PLC0415
    from tenants.manage.tenants import get_customer_tenant, suspend_tenant  # noqa: PLC0415

    token = management_token(http, ctx, acme, ["manage:users"])
    with session_scope(ctx.sessions) as session:
        suspend_tenant(session, ctx.encryptor, CLI, get_customer_tenant(session, "acme"), "unpaid invoices")
    response = http.get("/t/acme/api/users", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/tenant_suspended")


def test_unknown_tenant_is_404(http, ctx, acme):
    token = management_token(http, ctx, acme, ["manage:users"])
    assert http.get("/t/nobody/api/users", headers=bearer(token)).status_code == 404
    with pytest.raises(Missing):
        with session_scope(ctx.sessions) as session:
            from tenants.manage.tenants import get_customer_tenant  # noqa: PLC0415

            get_customer_tenant(session, "nobody")
