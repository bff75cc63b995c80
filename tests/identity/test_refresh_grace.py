"""The refresh-token reuse grace (per client, off by default): the token just rotated, presented again within
the grace, gets the rotation's own response (a client that lost it keeps its user signed in); any other
reuse still revokes the family. Both outcomes are audit events; what is kept for the retry is sealed."""

from __future__ import annotations

import pytest
from sqlmodel import select

from identity.clock import now
from identity.crypto import sha256_hex
from identity.models.client import Client
from identity.models.grant import RefreshToken
from tests.api.helpers import ALL_TENANT_SCOPES, audit_rows, bearer, management_token
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import exchange, sign_in
from tests.tenants.portal_helpers import create_app, portal_form, sign_up


@pytest.fixture
def acme(ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    return tenant


def first_tokens(http, rp) -> dict:
    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200, tokens
    return tokens


def refresh(http, rp, token: str):  # type: ignore[no-untyped-def]
    return http.post(
        "/t/acme/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(rp.client_id, rp.client_secret),
    )


def stored(ctx, token: str) -> RefreshToken:
    with inspect_db(ctx) as session:
        return session.exec(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(token))).one()


def test_a_retry_within_the_grace_gets_the_same_response_and_the_family_lives(http, ctx, acme):
    rp = make_client(ctx, acme, refresh_token_grace=30)
    first = first_tokens(http, rp)
    rotated = refresh(http, rp, first["refresh_token"])
    assert rotated.status_code == 200
    retried = refresh(http, rp, first["refresh_token"])  # the response was lost: the client sends it again
    assert retried.status_code == 200
    assert retried.json() == rotated.json()  # the very same tokens, not a second family member
    assert retried.headers["cache-control"] == "no-store"
    info = http.get("/t/acme/userinfo", headers=bearer(rotated.json()["access_token"]))
    assert info.status_code == 200
    (event,) = audit_rows(ctx, acme.id, "token.refresh_retried")
    assert event.actor == f"client:{rp.client_id}" and event.target.startswith("grant:")
    assert audit_rows(ctx, acme.id, "token.reuse_detected") == []

    # What is kept for the retry is encrypted; once the successor is used, it is wiped.
    sealed = stored(ctx, first["refresh_token"]).successor_sealed
    assert sealed and rotated.json()["refresh_token"] not in sealed and rotated.json()["access_token"] not in sealed
    newer = refresh(http, rp, rotated.json()["refresh_token"])
    assert newer.status_code == 200
    assert stored(ctx, first["refresh_token"]).successor_sealed is None

    # The first token is no longer the one just rotated: presenting it now is reuse, and ends the family.
    assert refresh(http, rp, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(http, rp, newer.json()["refresh_token"]).json()["error"] == "invalid_grant"
    assert len(audit_rows(ctx, acme.id, "token.reuse_detected")) == 1


def test_after_the_grace_a_retry_is_reuse(http, ctx, acme):
    rp = make_client(ctx, acme, refresh_token_grace=30)
    first = first_tokens(http, rp)
    rotated = refresh(http, rp, first["refresh_token"]).json()
    with inspect_db(ctx) as session:  # the rotation happened 31 seconds ago
        row = session.exec(
            select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(first["refresh_token"]))
        ).one()
        row.rotated_at = now() - 31
        session.add(row)
    assert refresh(http, rp, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(http, rp, rotated["refresh_token"]).json()["error"] == "invalid_grant"  # the family is revoked
    assert len(audit_rows(ctx, acme.id, "token.reuse_detected")) == 1


def test_without_a_grace_every_reuse_revokes_and_nothing_is_kept(http, ctx, acme):
    rp = make_client(ctx, acme)  # the default: off
    first = first_tokens(http, rp)
    rotated = refresh(http, rp, first["refresh_token"]).json()
    assert stored(ctx, first["refresh_token"]).successor_sealed is None
    assert refresh(http, rp, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(http, rp, rotated["refresh_token"]).json()["error"] == "invalid_grant"


def test_another_client_presenting_the_token_gets_nothing(http, ctx, acme):
    rp = make_client(ctx, acme, refresh_token_grace=30)
    other = make_client(ctx, acme, name="Other", refresh_token_grace=30)
    first = first_tokens(http, rp)
    assert refresh(http, rp, first["refresh_token"]).status_code == 200
    stolen = refresh(http, other, first["refresh_token"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert "access_token" not in stolen.text


def test_the_grace_is_set_and_bounded_in_the_api(http, ctx, acme):
    headers = bearer(management_token(http, ctx, acme, ALL_TENANT_SCOPES))
    rp = make_client(ctx, acme)
    path = f"/t/acme/api/clients/{rp.client_id}"
    assert http.get(path, headers=headers).json()["refresh_token_grace"] == 0
    assert http.patch(path, json={"refresh_token_grace": 301}, headers=headers).status_code == 422
    changed = http.patch(path, json={"refresh_token_grace": 20}, headers=headers)
    assert changed.status_code == 200 and changed.json()["refresh_token_grace"] == 20


def test_the_grace_is_set_in_the_portal_and_a_bad_value_is_refused(http, ctx):
    sign_up(http)
    client_id, _, page = create_app(http, "globex", refresh_token_grace="15")
    assert 'id="refresh_token_grace"' in page
    with inspect_db(ctx) as session:
        assert session.exec(select(Client).where(Client.id == client_id)).one().refresh_token_grace == 15
    token = portal_form(http, "/t/globex/portal/apps/new")
    refused = http.post(
        "/t/globex/portal/apps/new",
        data={
            "csrf_token": token,
            "app_type": "web",
            "name": "Shop 2",
            "redirect_uris": "https://shop.example.com/cb",
            "refresh_token_grace": "3600",
        },
    )
    assert refused.status_code == 400 and "between 0 (off) and 300 seconds" in refused.text
