"""DPoP with the grants that came beside it: the device grant (a public TV app's tokens bound to its key,
its refresh token too) and the password grant (the proof checked once across its two passes)."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey

from identity.clock import now
from identity.models.tenant import ALL_GRANT_TYPES, DEVICE_CODE
from tests.device import approve, started
from tests.factories import PASSWORD, make_client, make_tenant, make_user
from tests.identity.test_device_flow import set_row
from tests.identity.test_dpop import claims_of, proof


@pytest.fixture
def tenant(ctx):
    tenant = make_tenant(ctx, allowed_grant_types=list(ALL_GRANT_TYPES))
    make_user(ctx, tenant)
    return tenant


def test_a_device_gets_tokens_bound_to_its_key_and_its_refresh_token_needs_the_key(http, ctx, tenant):
    tv = make_client(ctx, tenant, public=True, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"])
    key = ECKey.generate_key("P-256")
    device = started(http, tv)
    approve(http, device["user_code"])
    set_row(ctx, device["device_code"], last_polled_at=now() - 10)
    data = {"grant_type": DEVICE_CODE, "device_code": device["device_code"], "client_id": tv.client_id}
    tokens = http.post("/t/acme/token", data=data, headers={"DPoP": proof(key)})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "DPoP" and claims_of(body["access_token"])["cnf"]["jkt"]
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": tv.client_id}
    other = http.post("/t/acme/token", data=refresh, headers={"DPoP": proof(ECKey.generate_key("P-256"))})
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    same = http.post("/t/acme/token", data=refresh, headers={"DPoP": proof(key)})
    assert same.status_code == 200 and same.json()["token_type"] == "DPoP"


def test_a_dpop_bound_device_app_without_a_proof_is_refused_and_its_code_survives(http, ctx, tenant):
    tv = make_client(
        ctx, tenant, public=True, redirect_uris=[], grant_types=[DEVICE_CODE], dpop_bound_access_tokens=True
    )
    device = started(http, tv, scope="openid profile")
    approve(http, device["user_code"], scopes=("profile",))
    set_row(ctx, device["device_code"], last_polled_at=now() - 10)
    data = {"grant_type": DEVICE_CODE, "device_code": device["device_code"], "client_id": tv.client_id}
    refused = http.post("/t/acme/token", data=data)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
    set_row(ctx, device["device_code"], last_polled_at=now() - 10)
    key = ECKey.generate_key("P-256")
    assert http.post("/t/acme/token", data=data, headers={"DPoP": proof(key)}).status_code == 200


def test_the_password_grant_binds_to_the_proof_checked_once(http, ctx, tenant):
    app = make_client(ctx, tenant, grant_types=["authorization_code", "password"])
    key = ECKey.generate_key("P-256")
    data = {"grant_type": "password", "username": "alice@example.com", "password": PASSWORD, "scope": "openid"}
    response = http.post(
        "/t/acme/token", data=data, auth=(app.client_id, app.client_secret), headers={"DPoP": proof(key)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP" and claims_of(response.json()["access_token"])["cnf"]["jkt"]
    bound = make_client(ctx, tenant, name="Bound", grant_types=["password"], dpop_bound_access_tokens=True)
    refused = http.post("/t/acme/token", data=data, auth=(bound.client_id, bound.client_secret))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof"
