from tests.factories import make_client, make_tenant, make_user
from tests.flow import exchange, sign_in


def test_full_code_flow_over_http(http, ctx):
    tenant = make_tenant(ctx)
    app = make_client(ctx, tenant)
    make_user(ctx, tenant)
    result = sign_in(http, "acme", app.client_id)
    assert result["state"] == result["_state"]
    assert result["iss"] == "http://127.0.0.1:8000/t/acme"
    tokens = exchange(http, "acme", app.client_id, app.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200, tokens
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens)
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json()["email"] == "alice@example.com"
