"""Token revocation (RFC 7009) at ``{issuer}/revoke``: a refresh token ends its grant, an access token ends
itself, only the owning client may revoke, and anything unknown is a quiet 200."""

import pytest
from sqlmodel import select

from identity.models.audit import AuditEvent
from identity.models.grant import Grant, RevokedAccessToken
from tests.factories import inspect_db, make_client, make_scope, make_tenant, make_user
from tests.flow import exchange, sign_in

ISSUER = "http://127.0.0.1:8000/t/acme"


@pytest.fixture
def tenant(ctx):
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "read:reports", "Read reports")
    return tenant


@pytest.fixture
def alice(ctx, tenant):
    return make_user(ctx, tenant)


@pytest.fixture
def rp(ctx, tenant):
    return make_client(ctx, tenant, grant_types=["authorization_code", "refresh_token"])


@pytest.fixture
def api(ctx, tenant):
    """A resource server: a confidential client that introspects the tokens sent to it."""
    return make_client(ctx, tenant, name="Reports API", grant_types=["client_credentials"], scopes=["read:reports"])


def tokens_for(http, rp, slug="acme"):
    result = sign_in(http, slug, rp.client_id, scope="openid email offline_access")
    issued = exchange(http, slug, rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert issued["status"] == 200, issued
    return issued


@pytest.fixture
def tokens(http, alice, rp):
    return tokens_for(http, rp)


def revoke(http, token, client, slug="acme", **extra):
    response = http.post(
        f"/t/{slug}/revoke", data={"token": token, **extra}, auth=(client.client_id, client.client_secret)
    )
    assert response.headers["cache-control"] == "no-store"
    return response


def assert_revoked(response):
    assert response.status_code == 200, response.text
    assert response.json() == {}


def active(http, token, api):
    response = http.post("/t/acme/introspect", data={"token": token}, auth=(api.client_id, api.client_secret))
    return response.json()["active"]


def userinfo(http, access_token):
    return http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def refresh(http, rp, token):
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret))


def revocations(ctx):
    with inspect_db(ctx) as session:
        return [
            (e.action, e.actor, e.target, e.details)
            for e in session.exec(select(AuditEvent)).all()
            if e.action == "token.revoked"
        ]


def test_discovery_advertises_the_endpoint(http, tenant):
    metadata = http.get("/t/acme/.well-known/openid-configuration").json()
    assert metadata["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert metadata["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]


def test_revoking_a_refresh_token_ends_its_whole_grant(http, ctx, rp, api, tokens):
    # Rotate once: the grant now has two access tokens and a live refresh token.
    rotated = refresh(http, rp, tokens["refresh_token"]).json()
    assert userinfo(http, rotated["access_token"]).status_code == 200
    assert_revoked(revoke(http, rotated["refresh_token"], rp, token_type_hint="refresh_token"))
    # At once, in this process: no refresh, no userinfo, nothing active at introspection.
    assert refresh(http, rp, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    for access_token in (tokens["access_token"], rotated["access_token"]):
        refused = userinfo(http, access_token)
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
        assert active(http, access_token, api) is False
    with inspect_db(ctx) as session:
        assert session.exec(select(Grant)).one().revoked_at is not None
    [(action, actor, target, details)] = revocations(ctx)
    assert (
        actor == f"client:{rp.client_id}" and target.startswith("grant:") and details == {"token_type": "refresh_token"}
    )


def test_a_rotated_refresh_token_still_ends_its_grant(http, rp, tokens):
    """The client presents the token it has; if that is an old one of the family, the family still ends."""
    rotated = refresh(http, rp, tokens["refresh_token"]).json()
    assert_revoked(revoke(http, tokens["refresh_token"], rp))
    assert refresh(http, rp, rotated["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_an_access_token_ends_only_that_token(http, ctx, rp, api, tokens):
    before = userinfo(http, tokens["access_token"])  # warms the caches the next request would answer from
    assert before.status_code == 200
    assert_revoked(revoke(http, tokens["access_token"], rp, token_type_hint="access_token"))
    for _ in range(2):  # the first loads the tenant's revoked tokens, the second answers from memory
        refused = userinfo(http, tokens["access_token"])
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert active(http, tokens["access_token"], api) is False
    # The grant lives on: its refresh token still works, and the new access token is honoured.
    renewed = refresh(http, rp, tokens["refresh_token"])
    assert renewed.status_code == 200
    assert userinfo(http, renewed.json()["access_token"]).status_code == 200
    with inspect_db(ctx) as session:
        [row] = session.exec(select(RevokedAccessToken)).all()
        assert row.client_id == rp.client_id and row.expires_at > row.revoked_at
    # The hint is only an order of search: a wrong one still finds it; revoking twice is one event.
    assert_revoked(revoke(http, tokens["access_token"], rp, token_type_hint="refresh_token"))
    [(_, actor, target, details)] = revocations(ctx)
    assert actor == f"client:{rp.client_id}" and target.startswith("access_token:")
    assert details == {"token_type": "access_token"}


def test_revoking_a_client_credentials_token(http, api):
    token = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(api.client_id, api.client_secret)
    ).json()["access_token"]
    assert active(http, token, api) is True
    assert_revoked(revoke(http, token, api))
    assert active(http, token, api) is False


def test_only_the_owning_client_may_revoke(http, rp, api, tokens):
    for token in (tokens["access_token"], tokens["refresh_token"]):
        refused = revoke(http, token, api)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        assert refused.json()["error_description"] == "The token was not issued to this client."
        assert active(http, token, rp) is True
    assert userinfo(http, tokens["access_token"]).status_code == 200


def test_public_client_revokes_with_its_client_id(http, ctx, tenant, alice):
    spa = make_client(ctx, tenant, name="SPA", public=True, grant_types=["authorization_code", "refresh_token"])
    result = sign_in(http, "acme", spa.client_id, scope="openid email offline_access")
    issued = exchange(http, "acme", spa.client_id, None, result["code"], result["_verifier"])
    response = http.post("/t/acme/revoke", data={"token": issued["refresh_token"], "client_id": spa.client_id})
    assert_revoked(response)
    again = http.post(
        "/t/acme/token",
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], "client_id": spa.client_id},
    )
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "x" * 5000])
def test_unknown_tokens_are_a_quiet_200(http, ctx, rp, garbage):
    assert_revoked(revoke(http, garbage, rp))
    assert revocations(ctx) == []


def test_id_token_is_not_revocable_as_an_access_token(http, rp, tokens):
    assert_revoked(revoke(http, tokens["id_token"], rp))
    assert userinfo(http, tokens["access_token"]).status_code == 200


def test_another_tenants_tokens_are_untouched(http, ctx, rp, api, tokens):
    globex = make_tenant(ctx, "globex", "Globex")
    theirs = make_client(ctx, globex, grant_types=["authorization_code", "refresh_token"])
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert_revoked(revoke(http, token, theirs, slug="globex"))
        assert active(http, token, rp) is True
    # Acme's client is unknown at globex.
    assert revoke(http, tokens["access_token"], rp, slug="globex").status_code == 401


def test_client_must_authenticate(http, rp, tokens):
    wrong = http.post("/t/acme/revoke", data={"token": tokens["refresh_token"]}, auth=(rp.client_id, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.json()["error_description"] == "Client authentication failed."
    nobody = http.post("/t/acme/revoke", data={"token": tokens["refresh_token"]})
    assert nobody.status_code == 401 and nobody.json()["error"] == "invalid_client"
    assert refresh(http, rp, tokens["refresh_token"]).status_code == 200


def test_malformed_requests(http, rp, tokens):
    auth = (rp.client_id, rp.client_secret)
    missing = http.post("/t/acme/revoke", data={}, auth=auth)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    repeated = http.post(
        "/t/acme/revoke",
        content=f"token={tokens['refresh_token']}&token=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=auth,
    )
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"
    as_json = http.post("/t/acme/revoke", json={"token": tokens["refresh_token"]}, auth=auth)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert http.get("/t/acme/revoke").status_code == 405
    assert refresh(http, rp, tokens["refresh_token"]).status_code == 200  # none of these revoked anything


def test_an_unknown_hint_is_ignored(http, rp, tokens):
    """RFC 7009 §2.1: the server may ignore the hint; it tells its tokens apart itself."""
    assert_revoked(revoke(http, tokens["refresh_token"], rp, token_type_hint="id_token"))
    assert refresh(http, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_expired_revocations_are_swept(http, ctx, rp, tokens, alice):
    assert_revoked(revoke(http, tokens["access_token"], rp))
    with inspect_db(ctx) as session:
        row = session.exec(select(RevokedAccessToken)).one()
        row.expires_at = 1
        session.add(row)
    second = tokens_for(http, rp)
    assert_revoked(revoke(http, second["access_token"], rp))
    with inspect_db(ctx) as session:
        assert [r.expires_at > 1 for r in session.exec(select(RevokedAccessToken)).all()] == [True]
