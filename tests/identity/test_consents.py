"""Remembered consents as a service: listing them, and revoking one (the app's tokens stop working too)."""

import pytest
from sqlmodel import col

from identity.consents import list_consents, revoke_consent
from identity.db import session_scope, tenant_query
from identity.models.audit import AuditEvent
from tenants import audit
from tests.factories import make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, pkce_pair, sign_in

ACTOR = audit.Actor("user:someone alice@example.com", "10.0.0.9")


@pytest.fixture
def tenant(ctx):
    return make_tenant(ctx)


@pytest.fixture
def alice(ctx, tenant):
    return make_user(ctx, tenant)


@pytest.fixture
def rp(ctx, tenant):
    return make_client(ctx, tenant, name="Reports")


def tokens_for(http, rp, **kwargs):
    result = sign_in(http, "acme", rp.client_id, **kwargs)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200
    return tokens


def refresh(http, rp, token):
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return http.post("/t/acme/token", data=data, auth=(rp.client_id, rp.client_secret))


def userinfo(http, token):
    return http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {token}"})


def revoke(ctx, tenant_id, user_id, client_id):
    with session_scope(ctx.sessions) as session:
        return revoke_consent(session, tenant_id, user_id, client_id, ACTOR)


def revoked_events(ctx, tenant):
    with session_scope(ctx.sessions) as session:
        query = tenant_query(AuditEvent, tenant.id).where(col(AuditEvent.action) == "consent.revoked")
        return session.exec(query).all()


def test_list_names_each_app_its_scopes_and_when(http, ctx, tenant, alice, rp):
    other = make_client(ctx, tenant, name="Billing")
    tokens_for(http, rp, scope="openid email profile", untick=("profile",))
    tokens_for(http, other, scope="openid")
    with session_scope(ctx.sessions) as session:
        consents = list_consents(session, tenant.id, alice.id)
    by_client = {c.client_id: c for c in consents}
    assert set(by_client) == {rp.client_id, other.client_id}
    assert by_client[rp.client_id].client_name == "Reports" and by_client[rp.client_id].scopes == ["openid", "email"]
    assert by_client[other.client_id].client_name == "Billing" and by_client[other.client_id].scopes == ["openid"]
    assert all(c.updated_at > 0 for c in consents)
    assert consents[0].updated_at >= consents[1].updated_at  # most recent first


def test_revoking_stops_the_apps_tokens_and_asks_again(http, ctx, tenant, alice, rp):
    other = make_client(ctx, tenant, name="Billing")
    tokens = tokens_for(http, rp)
    kept = tokens_for(http, other)
    assert revoke(ctx, tenant.id, alice.id, rp.client_id) is True

    assert refresh(http, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert userinfo(http, tokens["access_token"]).status_code == 401
    # The other app keeps working.
    assert userinfo(http, kept["access_token"]).status_code == 200
    assert refresh(http, other, kept["refresh_token"]).status_code == 200
    with session_scope(ctx.sessions) as session:
        assert [c.client_id for c in list_consents(session, tenant.id, alice.id)] == [other.client_id]
    # The browser is still signed in: the next authorization asks for consent again.
    _, challenge = pkce_pair()
    url = authorize_url("acme", rp.client_id, code_challenge=challenge, code_challenge_method="S256")
    assert "/consent?" in http.get(url).headers["location"]


def test_revoking_twice_is_false_and_audited_once(http, ctx, tenant, alice, rp):
    tokens_for(http, rp)
    assert revoke(ctx, tenant.id, alice.id, rp.client_id) is True
    assert revoke(ctx, tenant.id, alice.id, rp.client_id) is False
    [event] = revoked_events(ctx, tenant)
    assert (event.actor, event.ip, event.target) == (ACTOR.label, ACTOR.ip, f"client:{rp.client_id}")
    assert event.details == {"user": alice.id}


def test_nothing_to_revoke_is_false_and_not_audited(ctx, tenant, alice, rp):
    assert revoke(ctx, tenant.id, alice.id, rp.client_id) is False
    assert revoked_events(ctx, tenant) == []


def test_another_tenants_ids_revoke_nothing(http, ctx, tenant, alice, rp):
    globex = make_tenant(ctx, "globex", "Globex")
    bob = make_user(ctx, globex, email="bob@example.com")
    globex_app = make_client(ctx, globex)
    tokens = tokens_for(http, rp)
    # Alice's and acme's app ids, under globex; globex's ids under acme.
    assert revoke(ctx, globex.id, alice.id, rp.client_id) is False
    assert revoke(ctx, tenant.id, bob.id, globex_app.client_id) is False
    assert revoke(ctx, tenant.id, alice.id, globex_app.client_id) is False
    assert revoked_events(ctx, tenant) == [] and revoked_events(ctx, globex) == []
    assert userinfo(http, tokens["access_token"]).status_code == 200
    assert refresh(http, rp, tokens["refresh_token"]).status_code == 200
    with session_scope(ctx.sessions) as session:
        assert len(list_consents(session, tenant.id, alice.id)) == 1
        assert list_consents(session, globex.id, alice.id) == []
