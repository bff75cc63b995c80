"""Access tokens verified once per key ring (identity.tokens.VerifiedTokens): a token presented again skips
the signature check, and nothing a full verification would refuse is let through."""

import pytest

import identity.tokens
from identity.consents import revoke_consent
from identity.db import session_scope
from identity.keys import rotate
from identity.tokens import CLOCK_SKEW, InvalidAccessToken, VerifiedTokens
from tenants.audit import Actor
from tenants.resolution import find_tenant
from tests.factories import make_client, make_tenant, make_user
from tests.flow import exchange, sign_in


def user_token(http, ctx, slug="acme"):  # type: ignore[no-untyped-def]
    tenant = make_tenant(ctx, slug)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    result = sign_in(http, slug, rp.client_id)
    return exchange(http, slug, rp.client_id, rp.client_secret, result["code"], result["_verifier"])["access_token"]


def userinfo(http, token, slug="acme"):  # type: ignore[no-untyped-def]
    return http.get(f"/t/{slug}/userinfo", headers={"Authorization": f"Bearer {token}"})


def ring_of(ctx, slug="acme"):  # type: ignore[no-untyped-def]
    with session_scope(ctx.sessions) as session:
        return ctx.keys.get(session, find_tenant(session, slug))


def test_a_token_presented_again_is_not_verified_again(http, ctx):
    token = user_token(http, ctx)
    before = ctx.access_tokens.verifications
    for _ in range(4):
        assert userinfo(http, token).status_code == 200
    assert ctx.access_tokens.verifications == before + 1


def test_a_verified_token_is_still_refused_once_it_expires(http, ctx, monkeypatch):
    token = user_token(http, ctx)
    assert userinfo(http, token).status_code == 200
    exp = ctx.access_tokens.verify(token, ctx.settings.issuer("acme"), ring_of(ctx))["exp"]
    monkeypatch.setattr(identity.tokens, "now", lambda: exp + CLOCK_SKEW + 1)
    response = userinfo(http, token)
    assert response.status_code == 401 and "expired" in response.json()["error_description"]


def test_a_revoked_grant_is_refused_though_its_token_was_verified(http, ctx):
    token = user_token(http, ctx)
    assert userinfo(http, token).status_code == 200
    claims = ctx.access_tokens.verify(token, ctx.settings.issuer("acme"), ring_of(ctx))
    with session_scope(ctx.sessions) as session:
        tenant = find_tenant(session, "acme")
        assert revoke_consent(session, tenant.id, claims["sub"], claims["client_id"], Actor("user:test", "127.0.0.1"))
    response = userinfo(http, token)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_a_rotation_makes_tokens_verify_against_the_new_key_set(http, ctx):
    token = user_token(http, ctx)
    assert userinfo(http, token).status_code == 200
    before = ctx.access_tokens.verifications
    with session_scope(ctx.sessions) as session:
        rotate(session, find_tenant(session, "acme"), ctx.encryptor)
    # The old key is still published (its tokens are alive), so the token is valid: checked once more.
    assert userinfo(http, token).status_code == 200
    assert userinfo(http, token).status_code == 200
    assert ctx.access_tokens.verifications == before + 1


def test_a_token_verified_at_one_tenant_is_refused_at_another(http, ctx):
    token = user_token(http, ctx, "acme")
    make_tenant(ctx, "globex")
    assert userinfo(http, token, "acme").status_code == 200
    response = userinfo(http, token, "globex")
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_only_valid_tokens_are_kept_and_the_least_recently_used_goes_first(http, ctx):
    token = user_token(http, ctx)
    ring, issuer = ring_of(ctx), ctx.settings.issuer("acme")
    memo = VerifiedTokens(max_entries=1)
    with pytest.raises(InvalidAccessToken):
        memo.verify(token[:-4] + "AAAA", issuer, ring)
    with pytest.raises(InvalidAccessToken):
        memo.verify(token[:-4] + "AAAA", issuer, ring)
    assert memo.verifications == 0  # failures are never counted as verified, nor remembered
    memo.verify(token, issuer, ring)
    memo.verify(token, issuer, ring)
    assert memo.verifications == 1
    with pytest.raises(InvalidAccessToken):  # the same token under another issuer is a full (failing) check
        memo.verify(token, "http://127.0.0.1:8000/t/globex", ring)
    other = user_token(http, ctx, "initech")
    memo.verify(other, ctx.settings.issuer("initech"), ring_of(ctx, "initech"))
    memo.verify(token, issuer, ring)  # evicted by the other one: verified again
    assert memo.verifications == 3


def test_the_callers_view_of_a_token_is_made_once_per_remembered_token(http, ctx):
    """``verify_as`` builds the view (userinfo's ``AccessToken``) once per token and key ring, not per request;
    after a rotation the token is checked against the new ring and its view made again."""
    from identity.bearer import AccessToken  # noqa: PLC0415

    token = user_token(http, ctx)
    issuer, ring = ctx.settings.issuer("acme"), ring_of(ctx)
    first = ctx.access_tokens.verify_as(token, issuer, ring, AccessToken)
    assert ctx.access_tokens.verify_as(token, issuer, ring, AccessToken) is first
    assert first.scopes == ["openid", "profile", "email", "offline_access"]
    with session_scope(ctx.sessions) as session:
        rotate(session, find_tenant(session, "acme"), ctx.encryptor)
    again = ctx.access_tokens.verify_as(token, issuer, ring_of(ctx), AccessToken)
    assert again is not first and again.claims == first.claims
