from identity.db import session_scope
from identity.models.tenant import SUSPENDED, Tenant
from tests.factories import make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, sign_in


def suspend(ctx, tenant):
    with session_scope(ctx.sessions) as session:
        row = session.get(Tenant, tenant.id)
        row.status = SUSPENDED
        session.add(row)


def test_suspended_tenant_refuses_every_endpoint(http, ctx):
    tenant = make_tenant(ctx)
    app = make_client(ctx, tenant, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    make_user(ctx, tenant)
    result = sign_in(http, "acme", app.client_id)
    tokens = exchange(http, "acme", app.client_id, app.client_secret, result["code"], result["_verifier"])
    suspend(ctx, tenant)

    for path in ("/t/acme/.well-known/openid-configuration", "/t/acme/.well-known/jwks.json"):
        response = http.get(path)
        assert response.status_code == 403 and response.json()["error"] == "tenant_suspended"
    token = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(app.client_id, app.client_secret)
    )
    assert token.status_code == 403 and token.json()["error"] == "tenant_suspended"
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 403
    page = http.get(authorize_url("acme", app.client_id))
    assert page.status_code == 403 and "suspended" in page.text and "location" not in page.headers
