"""Signing keys: encrypted at rest, next key published before it signs, old keys kept until tokens expire."""

import time

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlmodel import select

from identity.keys import rotate
from identity.models.client import Client
from identity.models.key import SigningKey
from tenants.resolution import find_tenant
from tests.factories import inspect_db, make_scope, make_tenant
from tests.factories import make_client as make_app


def cc_token(http, m2m):
    response = http.post(
        "/t/acme/token", data={"grant_type": "client_credentials"}, auth=(m2m.client_id, m2m.client_secret)
    )
    assert response.status_code == 200
    return response.json()["access_token"]


def published(http):
    return {k["kid"] for k in http.get("/t/acme/.well-known/jwks.json").json()["keys"]}


def test_private_keys_are_encrypted_at_rest(ctx):
    make_tenant(ctx)
    with inspect_db(ctx) as session:
        rows = session.exec(select(SigningKey)).all()
    assert rows
    for row in rows:
        assert '"d"' not in row.private_jwk_encrypted and row.private_jwk_encrypted.startswith("gAAAAA")
        assert "d" not in row.public_jwk


def test_rotation_publishes_next_key_first_and_keeps_the_old_one(http, ctx):
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "api", "Use the API")
    m2m = make_app(ctx, tenant, grant_types=["client_credentials"], scopes=["api"], redirect_uris=[])
    before = cc_token(http, m2m)
    old_kid = jwt.decode(before, KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())).header["kid"]
    kids_before = published(http)

    with inspect_db(ctx) as session:
        promoted = rotate(session, find_tenant(session, "acme"), ctx.encryptor)
    new_rs256 = next(k.kid for k in promoted if k.alg == "RS256")
    assert new_rs256 in kids_before, "the key that now signs was already published before rotation"

    after = cc_token(http, m2m)
    assert (
        jwt.decode(after, KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())).header["kid"]
        == new_rs256
    )
    kids_after = published(http)
    assert old_kid in kids_after, "the retired key stays published while its tokens may be alive"
    assert len(kids_after - kids_before) == 2  # a fresh next key per algorithm
    # Tokens signed by the retired key still verify (here: at userinfo, via the key ring).
    with inspect_db(ctx) as session:
        ring = ctx.keys.get(session, find_tenant(session, "acme"))
    assert jwt.decode(before, ring.verification).header["kid"] == old_kid


def test_retired_keys_leave_jwks_after_their_tokens_expire(http, ctx):
    make_tenant(ctx)
    with inspect_db(ctx) as session:
        rotate(session, find_tenant(session, "acme"), ctx.encryptor)
        for row in session.exec(select(SigningKey).where(SigningKey.status == "retired")).all():
            row.remove_after = 1  # long past
            session.add(row)
    kids = published(http)
    with inspect_db(ctx) as session:
        retired = session.exec(select(SigningKey).where(SigningKey.status == "retired")).all()
        rotate(session, find_tenant(session, "acme"), ctx.encryptor)
        remaining = {row.kid for row in session.exec(select(SigningKey)).all()}
    assert all(row.kid not in kids for row in retired)
    assert all(row.kid not in remaining for row in retired), "expired retired keys are deleted at the next rotation"


def test_a_retired_key_stays_published_for_the_longest_app_token_lifetime(http, ctx, monkeypatch):
    """The tenant issues 1 h tokens, one app 24 h ones: its token must still verify after a rotation and
    once the tenant's own lifetime has passed (and a later rotation has cleaned up expired keys)."""
    tenant = make_tenant(ctx)
    make_scope(ctx, tenant, "api", "Use the API")
    m2m = make_app(ctx, tenant, grant_types=["client_credentials"], scopes=["api"], redirect_uris=[])
    with inspect_db(ctx) as session:
        app = session.get(Client, (tenant.id, m2m.client.id))
        app.access_token_ttl = 86400
        session.add(app)
    token = cc_token(http, m2m)
    with inspect_db(ctx) as session:
        rotate(session, find_tenant(session, "acme"), ctx.encryptor)

    later = time.time() + 3 * 3600  # past the tenant's 1 h (+ skew), well within the app's 24 h
    monkeypatch.setattr(time, "time", lambda: later)
    with inspect_db(ctx) as session:
        rotate(session, find_tenant(session, "acme"), ctx.encryptor)  # deletes retired keys that expired
    jwks = KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())
    claims = jwt.decode(token, jwks).claims
    jwt.JWTClaimsRegistry(exp={"essential": True}).validate(claims)  # not expired at the moved clock
    introspected = http.post("/t/acme/introspect", data={"token": token}, auth=(m2m.client_id, m2m.client_secret))
    assert introspected.json()["active"] is True


def test_jwks_alone_never_decrypts_a_private_key_and_the_cache_is_bounded(ctx):
    from identity.keys import KeyCache  # noqa: PLC0415

    make_tenant(ctx)
    make_tenant(ctx, "globex", "Globex")
    cache = KeyCache(ctx.encryptor, max_entries=1)
    with inspect_db(ctx) as session:
        acme, globex = find_tenant(session, "acme"), find_tenant(session, "globex")
        ring = cache.get(session, acme)
        assert ring.jwks_bytes and ring._signing == {}  # nothing decrypted to serve JWKS
        assert ring.signer("ES256").kid and set(ring._signing) == {"ES256"}
        cache.get(session, globex)  # over the bound: the least recently used ring goes
        assert cache.cached(acme) is None and cache.cached(globex) is not None
        assert cache.loads == 2
