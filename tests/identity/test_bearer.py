"""One bearer-token check for userinfo, introspection and the management API (identity.bearer): the same
token gets the same verdict everywhere, and the RFC 6750 challenge is built one way, its values limited
to the characters §3 allows."""

from __future__ import annotations

import base64
import json
import re

import pytest

from identity.bearer import BearerError, challenge
from identity.clients import delete_client, find_client
from tests.api.helpers import bearer, management_token
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange, sign_in

API_SCOPE = "manage:clients"
# RFC 6750 §3: auth-param values are quoted strings of %x20-21 / %x23-5B / %x5D-7E.
PARAM = re.compile(r'(\w+)="([\x20\x21\x23-\x5b\x5d-\x7e]*)"')


def params(header: str) -> dict[str, str]:
    assert header.startswith("Bearer ")
    rest = header[len("Bearer ") :]
    found = PARAM.findall(rest)
    assert ", ".join(f'{k}="{v}"' for k, v in found) == rest, header  # nothing outside the grammar
    return dict(found)


@pytest.mark.parametrize(
    "description",
    ['quote " and backslash \\ here', "line\r\nInjected: header", "caf\u00e9 \u202e\x00\x7f", "a" * 500],
)
def test_challenge_values_stay_inside_the_rfc_6750_grammar(description):
    header = challenge("api", BearerError("invalid_token", description, 401, scope='openid "x"'))
    values = params(header)
    assert values["error"] == "invalid_token" and values["realm"] == "api" and values["scope"] == "openid x"
    assert "\r" not in header and "\n" not in header


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return tenant


def introspect(http, api_client, token):  # type: ignore[no-untyped-def]
    response = http.post(
        "/t/acme/introspect", data={"token": token}, auth=(api_client.client_id, api_client.client_secret)
    )
    assert response.status_code == 200
    return response.json()["active"]


def test_the_same_bad_tokens_are_refused_the_same_way_at_userinfo_and_the_api(http, acme):
    for value in ["Bearer not-a-jwt", "Bearer eyJhbGciOiJub25lIn0.e30.", 'Bearer "quoted\\"']:
        userinfo = http.get("/t/acme/userinfo", headers={"Authorization": value})
        api = http.get("/t/acme/api/clients", headers={"Authorization": value})
        assert userinfo.status_code == api.status_code == 401
        for response in (userinfo, api):
            assert params(response.headers["www-authenticate"])["error"] == "invalid_token"
    # No credentials at all: the bare challenge (RFC 6750 §3.1), no error code.
    for path in ("/t/acme/userinfo", "/t/acme/api/clients"):
        response = http.get(path)
        assert response.status_code == 401 and "error" not in params(response.headers["www-authenticate"])


def test_a_revoked_grant_and_a_deleted_client_are_refused_everywhere(http, ctx, acme):
    rp = make_client(ctx, acme)
    resource = make_client(ctx, acme, name="Reports API", grant_types=["client_credentials"], scopes=[])
    result = sign_in(http, "acme", rp.client_id, scope="openid email")
    issued = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    user_token, api_token = issued["access_token"], management_token(http, ctx, acme, [API_SCOPE])
    assert http.get("/t/acme/userinfo", headers=bearer(user_token)).status_code == 200
    assert http.get("/t/acme/api/clients", headers=bearer(api_token)).status_code == 200
    assert introspect(http, resource, user_token) and introspect(http, resource, api_token)

    # The code replayed revokes its grant: the user's token is dead at userinfo and introspection.
    replay = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert replay["status"] == 400
    userinfo = http.get("/t/acme/userinfo", headers=bearer(user_token))
    assert userinfo.status_code == 401 and params(userinfo.headers["www-authenticate"])["error"] == "invalid_token"
    assert not introspect(http, resource, user_token)

    # The management app deleted: its token is dead at the API and at introspection.
    with inspect_db(ctx) as session:
        app_id = jwt_client_id(api_token)
        delete_client(session, find_client(session, acme.id, app_id))
        session.commit()
    api = http.get("/t/acme/api/clients", headers=bearer(api_token))
    assert api.status_code == 401 and params(api.headers["www-authenticate"])["error"] == "invalid_token"
    assert not introspect(http, resource, api_token)


def jwt_client_id(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["client_id"]
