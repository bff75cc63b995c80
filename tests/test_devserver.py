"""Dev mode's demo tenant: provisioned at every start, with working printed credentials."""

from identity.devserver import provision_demo
from tests.flow import exchange, sign_in


def test_demo_credentials_work_and_restarts_replace_them(http, ctx):
    first = provision_demo(ctx)
    demo = provision_demo(ctx)  # a restart: same tenant, fresh secret and password
    assert demo["client_secret"] != first["client_secret"]
    assert demo["discovery"].endswith("/t/demo/.well-known/openid-configuration")
    old = http.post(
        "/t/demo/token", data={"grant_type": "client_credentials"}, auth=(first["client_id"], first["client_secret"])
    )
    assert old.status_code == 401
    redirect = demo["redirect_uri"]
    result = sign_in(
        http, "demo", demo["client_id"], email=demo["user_email"], password=demo["user_password"], redirect_uri=redirect
    )
    tokens = exchange(
        http,
        "demo",
        demo["client_id"],
        demo["client_secret"],
        result["code"],
        result["_verifier"],
        redirect_uri=redirect,
    )
    assert tokens["status"] == 200
    # The demo user owns the demo tenant's developer portal.
    assert http.get("/t/demo/portal").status_code == 200
