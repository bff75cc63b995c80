"""Audit events of protocol activity: sign-in, consent, replays, key rotation; each with its change, no secrets."""

import hashlib
import json

import pytest
from sqlmodel import col

from identity import cli
from identity.db import session_scope, tenant_query
from identity.keys import rotate
from identity.models.audit import AuditEvent
from identity.models.grant import Grant
from identity.models.tenant import DEVICE_CODE, Tenant
from identity.models.user import User
from tenants import audit
from tests.device import approve, consent, enter_code, poll, started
from tests.factories import PASSWORD, make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, hidden, pkce_pair, sign_in

WRONG_PASSWORD = "wrong password 1234"


@pytest.fixture
def tenant(ctx):
    return make_tenant(ctx)


@pytest.fixture
def alice(ctx, tenant):
    return make_user(ctx, tenant)


@pytest.fixture
def rp(ctx, tenant):
    return make_client(ctx, tenant)


def events(ctx, tenant, action=None):
    with session_scope(ctx.sessions) as session:
        rows = session.exec(tenant_query(AuditEvent, tenant.id).order_by(col(AuditEvent.created_at))).all()
    return [row for row in rows if action is None or row.action == action]


def only(ctx, tenant, action):
    found = events(ctx, tenant, action)
    assert len(found) == 1, [(e.action, e.target, e.details) for e in events(ctx, tenant)]
    return found[0]


def label(user):
    return f"user:{user.id} {user.email}"


def assert_no_secret(ctx, tenant, *secrets):
    """Neither a secret nor its SHA-256 appears in any event of the tenant."""
    text = json.dumps([[e.actor, e.target, e.details] for e in events(ctx, tenant)])
    for secret in secrets:
        assert secret not in text and hashlib.sha256(secret.encode()).hexdigest() not in text


def login_page(http, rp):
    _, challenge = pkce_pair()
    url = authorize_url("acme", rp.client_id, code_challenge=challenge, code_challenge_method="S256")
    return http.get(http.get(url).headers["location"])


def post_login(http, page, email="alice@example.com", password=WRONG_PASSWORD):
    data = {"csrf_token": hidden(page.text, "csrf_token"), "flow": hidden(page.text, "flow")}
    return http.post("/t/acme/login", data={**data, "email": email, "password": password})


# -- sign-in ----------------------------------------------------------------------------------------


def test_login_and_consent_are_audited(http, ctx, tenant, alice, rp):
    sign_in(http, "acme", rp.client_id, scope="openid email offline_access")
    login = only(ctx, tenant, "login.succeeded")
    assert (login.actor, login.target, login.details) == (label(alice), f"user:{alice.id}", {"client_id": rp.client_id})
    assert login.ip == "testclient"
    consent = only(ctx, tenant, "consent.granted")
    assert (consent.actor, consent.target) == (label(alice), f"client:{rp.client_id}")
    assert consent.details == {"scopes": ["openid", "email", "offline_access"]}
    assert events(ctx, tenant, "login.failed") == [] and events(ctx, tenant, "consent.denied") == []
    assert_no_secret(ctx, tenant, PASSWORD)


def test_unticked_scopes_are_not_in_the_granted_list(http, ctx, tenant, alice, rp):
    sign_in(http, "acme", rp.client_id, scope="openid email profile", untick=("profile",))
    assert only(ctx, tenant, "consent.granted").details == {"scopes": ["openid", "email"]}


def test_consent_denied(http, ctx, tenant, alice, rp):
    result = sign_in(http, "acme", rp.client_id, approve=False)
    assert result["error"] == "access_denied"
    denied = only(ctx, tenant, "consent.denied")
    assert (denied.actor, denied.target, denied.details) == (label(alice), f"client:{rp.client_id}", {})
    assert events(ctx, tenant, "consent.granted") == []


def test_wrong_password(http, ctx, tenant, alice, rp):
    assert post_login(http, login_page(http, rp)).status_code == 401
    failed = only(ctx, tenant, "login.failed")
    assert (failed.actor, failed.target) == (label(alice), "alice@example.com")
    assert failed.details == {"reason": "bad_password", "client_id": rp.client_id}
    assert events(ctx, tenant, "login.succeeded") == []
    assert_no_secret(ctx, tenant, WRONG_PASSWORD)


def test_unknown_email_is_anonymous_and_normalized(http, ctx, tenant, alice, rp):
    assert post_login(http, login_page(http, rp), email="  Nobody@Example.COM ").status_code == 401
    failed = only(ctx, tenant, "login.failed")
    assert (failed.actor, failed.target) == ("anonymous", "nobody@example.com")
    assert failed.details == {"reason": "unknown_user", "client_id": rp.client_id}


def test_what_is_not_an_email_address_is_not_recorded(http, ctx, tenant, alice, rp):
    """A password typed into the email field (or anything else that is no address) stays out of the log."""
    for typed in ("x" * 400 + "@example.com", "my secret passphrase"):
        post_login(http, login_page(http, rp), email=typed)
    assert {e.target for e in events(ctx, tenant, "login.failed")} == {"(not an email address)"}
    assert_no_secret(ctx, tenant, "my secret passphrase")


def test_disabled_user(http, ctx, tenant, alice, rp):
    with session_scope(ctx.sessions) as session:
        user = session.get(User, (tenant.id, alice.id))
        user.disabled = True
        session.add(user)
    assert post_login(http, login_page(http, rp), password=PASSWORD).status_code == 401
    failed = only(ctx, tenant, "login.failed")
    assert (failed.actor, failed.details["reason"]) == (label(alice), "disabled")
    assert_no_secret(ctx, tenant, PASSWORD)


def test_throttled_attempt_is_audited_once(http, ctx, tenant, alice, rp):
    page = login_page(http, rp)
    for _ in range(ctx.settings.login_max_failures_per_account):
        assert post_login(http, page).status_code == 401
    assert post_login(http, page, password=PASSWORD).status_code == 429
    failed = events(ctx, tenant, "login.failed")
    assert [e.details["reason"] for e in failed].count("bad_password") == ctx.settings.login_max_failures_per_account
    throttled = [e for e in failed if e.details["reason"] == "throttled"]
    assert len(throttled) == 1
    assert (throttled[0].actor, throttled[0].target) == (label(alice), "alice@example.com")
    assert throttled[0].details == {"reason": "throttled", "client_id": rp.client_id}
    assert_no_secret(ctx, tenant, PASSWORD, WRONG_PASSWORD)


# -- replays ----------------------------------------------------------------------------------------


def grant_of(ctx, tenant):
    with session_scope(ctx.sessions) as session:
        return session.exec(tenant_query(Grant, tenant.id)).one()


def test_code_replay(http, ctx, tenant, alice, rp):
    result = sign_in(http, "acme", rp.client_id)
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200 and events(ctx, tenant, "code.replay_detected") == []
    replay = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert replay["error"] == "invalid_grant"
    grant = grant_of(ctx, tenant)
    assert grant.revoked_at is not None  # committed with the event, despite the error response
    event = only(ctx, tenant, "code.replay_detected")
    assert (event.actor, event.target) == (f"client:{rp.client_id}", f"grant:{grant.id}")
    assert event.details == {"client_id": rp.client_id, "user": alice.id}
    assert_no_secret(ctx, tenant, result["code"], tokens["access_token"], tokens["refresh_token"], rp.client_secret)


def test_failed_redemption_leaves_no_event(http, ctx, tenant, alice, rp):
    result = sign_in(http, "acme", rp.client_id)
    wrong = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], "wrong-" + "v" * 50)
    assert wrong["error"] == "invalid_grant"
    assert [e.action for e in events(ctx, tenant)] == ["login.succeeded", "consent.granted"]


def test_refresh_token_reuse(http, ctx, tenant, alice, rp):
    result = sign_in(http, "acme", rp.client_id)
    first = exchange(http, "acme", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    auth = (rp.client_id, rp.client_secret)
    old = first["refresh_token"]
    rotated = http.post("/t/acme/token", data={"grant_type": "refresh_token", "refresh_token": old}, auth=auth)
    assert rotated.status_code == 200 and events(ctx, tenant, "token.reuse_detected") == []
    reused = http.post("/t/acme/token", data={"grant_type": "refresh_token", "refresh_token": old}, auth=auth)
    assert reused.json()["error"] == "invalid_grant"
    grant = grant_of(ctx, tenant)
    assert grant.revoked_at is not None
    event = only(ctx, tenant, "token.reuse_detected")
    assert (event.actor, event.target) == (f"client:{rp.client_id}", f"grant:{grant.id}")
    assert event.details == {"client_id": rp.client_id, "user": alice.id}
    assert_no_secret(ctx, tenant, old, rotated.json()["refresh_token"], rotated.json()["access_token"])


def test_device_approval_denial_and_replay(http, ctx, tenant, alice):
    """The device grant (RFC 8628) leaves the sign-in's events, ``device.approved`` / ``device.denied`` for the
    answer and ``device_code.replay_detected`` for a spent code polled again; no code appears in any event."""
    tv = make_client(ctx, tenant, name="Acme TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE])
    approved, denied = started(http, tv), started(http, tv)
    assert approve(http, approved["user_code"]).status_code == 200
    tokens = poll(http, tv, approved["device_code"]).json()
    assert poll(http, tv, approved["device_code"]).json()["error"] == "invalid_grant"
    entered = enter_code(http, denied["user_code"])  # signed in already: straight to consent
    assert consent(http, entered.headers["location"], decision="deny")[1].status_code == 200
    grant = grant_of(ctx, tenant)
    assert [e.action for e in events(ctx, tenant)] == [
        "login.succeeded",
        "consent.granted",
        "device.approved",
        "device_code.replay_detected",
        "consent.denied",
        "device.denied",
    ]
    event = only(ctx, tenant, "device.approved")
    assert (event.actor, event.target) == (label(alice), f"client:{tv.client_id}")
    replay = only(ctx, tenant, "device_code.replay_detected")
    assert (replay.actor, replay.target) == (f"client:{tv.client_id}", f"grant:{grant.id}")
    assert replay.details == {"client_id": tv.client_id, "user": alice.id}
    assert grant.revoked_at is None  # a device polling twice is not a theft: its sign-in stays
    codes = [approved["device_code"], approved["user_code"], denied["device_code"], denied["user_code"]]
    assert_no_secret(ctx, tenant, *codes, tokens["access_token"])


# -- keys -------------------------------------------------------------------------------------------


def test_rotation_through_the_service(ctx, tenant):
    actor = audit.Actor("admin:ops@example.com", "10.0.0.1")
    with session_scope(ctx.sessions) as session:
        promoted = rotate(session, session.get(Tenant, tenant.id), ctx.encryptor, actor=actor)
        signing = {key.alg: key.kid for key in promoted}
    event = only(ctx, tenant, "keys.rotated")
    assert (event.actor, event.ip, event.target, event.details) == (actor.label, "10.0.0.1", "tenant:acme", signing)
    assert set(signing) == {"RS256", "ES256"}


def test_rotation_defaults_to_the_cli_actor(ctx, tenant):
    with session_scope(ctx.sessions) as session:
        rotate(session, session.get(Tenant, tenant.id), ctx.encryptor)
    assert only(ctx, tenant, "keys.rotated").actor == "cli"


def test_rotation_through_the_cli(ctx, settings, tenant, capsys):
    assert cli.main(["keys", "rotate", "--tenant", "acme", "--json"], settings=settings) == 0
    printed = json.loads(capsys.readouterr().out)
    event = only(ctx, tenant, "keys.rotated")
    assert (event.actor, event.target, event.details) == ("cli", "tenant:acme", printed["signing"])
    # No private key material either.
    assert "private" not in json.dumps(event.details) and '"d"' not in json.dumps(event.details)
