"""The device authorization grant (RFC 8628) over HTTP: /device_authorization, the hosted /device page through
login and consent, and the token endpoint's polling answers, each error by its exact code."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlmodel import col, select
from starlette.testclient import TestClient

import identity.oauth.device
from identity.app import create_app
from identity.clock import now
from identity.db import session_scope, tenant_query
from identity.models.audit import AuditEvent
from identity.models.device import DeviceAuthorization
from identity.models.grant import Grant
from identity.models.interaction import AuthorizationRequest
from identity.models.tenant import DEVICE_CODE, Tenant
from tests.conftest import PUBLIC_URL, make_settings
from tests.device import SCOPE, approve, authorize_device, consent, enter_code, error_of, poll, started
from tests.factories import PASSWORD, inspect_db, make_client, make_tenant, make_user
from tests.flow import hidden, submit_login

ISSUER = f"{PUBLIC_URL}/t/acme"
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


@pytest.fixture
def tenant(ctx):
    return make_tenant(ctx)


@pytest.fixture
def alice(ctx, tenant):
    return make_user(ctx, tenant)


@pytest.fixture
def tv(ctx, tenant):
    """A public TV app: no secret, no redirect URI, only the device grant and refresh tokens."""
    return make_client(
        ctx, tenant, name="Acme TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE, "refresh_token"]
    )


@pytest.fixture
def cli_app(ctx, tenant):
    """A confidential app with the code grant and the device grant."""
    return make_client(ctx, tenant, name="Acme CLI", grant_types=["authorization_code", "refresh_token", DEVICE_CODE])


def row_of(ctx, device_code) -> DeviceAuthorization:
    with inspect_db(ctx) as session:
        digest = hashlib.sha256(device_code.encode()).hexdigest()
        return session.exec(select(DeviceAuthorization).where(DeviceAuthorization.device_code_hash == digest)).one()


def set_row(ctx, device_code, **values):
    with inspect_db(ctx) as session:
        row = row_of(ctx, device_code)
        row = session.get(DeviceAuthorization, (row.tenant_id, row.id))
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


def actions(ctx, tenant):
    with session_scope(ctx.sessions) as session:
        rows = session.exec(tenant_query(AuditEvent, tenant.id).order_by(col(AuditEvent.created_at))).all()
        return [(row.action, row.target, row.details) for row in rows]


# -- the device authorization endpoint -------------------------------------------------------------


def test_the_device_authorization_response(http, ctx, tenant, tv):
    response = authorize_device(http, tv)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert len(body["device_code"]) >= 43  # 256 bits
    assert USER_CODE.match(body["user_code"])
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={body['user_code']}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    row = row_of(ctx, body["device_code"])
    # Stored only as digests: neither code appears in the row.
    stored = " ".join(str(v) for v in row.model_dump().values())
    assert body["device_code"] not in stored and body["user_code"].replace("-", "") not in stored
    assert (row.status, row.scope, row.client_id, row.interval) == ("pending", SCOPE, tv.client_id, 5)
    assert row.expires_at - now() in range(598, 601)


def test_a_confidential_client_authenticates(http, tenant, cli_app):
    assert authorize_device(http, cli_app).status_code == 200
    wrong = http.post("/t/acme/device_authorization", data={"scope": SCOPE}, auth=(cli_app.client_id, "wrong"))
    assert wrong.status_code == 401 and error_of(wrong) == "invalid_client"
    # client_id alone does not authenticate a confidential client
    bare = http.post("/t/acme/device_authorization", data={"scope": SCOPE, "client_id": cli_app.client_id})
    assert bare.status_code == 401 and error_of(bare) == "invalid_client"


def test_unknown_client_is_invalid_client(http, tenant):
    response = http.post("/t/acme/device_authorization", data={"client_id": "nobody", "scope": "openid"})
    assert response.status_code == 401 and error_of(response) == "invalid_client"


def test_a_client_without_the_device_grant_is_unauthorized_client(http, ctx, tenant):
    web = make_client(ctx, tenant, name="Acme Web")
    response = authorize_device(http, web)
    assert response.status_code == 400 and error_of(response) == "unauthorized_client"
    # nor may it poll with a device code
    polled = poll(http, web, "anything")
    assert polled.status_code == 400 and error_of(polled) == "unauthorized_client"


@pytest.mark.parametrize("scope", ["openid admin", "", "read:reports"])
def test_a_scope_the_client_is_not_allowed_is_invalid_scope(http, tenant, tv, scope):
    response = authorize_device(http, tv, scope)
    assert response.status_code == 400 and error_of(response) == "invalid_scope"


def test_a_repeated_parameter_is_refused_like_at_the_token_endpoint(http, tenant, tv):
    response = http.post(
        "/t/acme/device_authorization", content=f"client_id={tv.client_id}&scope=openid&scope=profile",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The scope parameter was sent more than once.",
    }
    not_a_form = http.post("/t/acme/device_authorization", json={"client_id": tv.client_id})
    assert not_a_form.status_code == 400 and error_of(not_a_form) == "invalid_request"


def test_a_tenant_that_does_not_allow_the_grant_refuses_it(http, ctx, tenant, tv):
    with session_scope(ctx.sessions) as session:
        row = session.get(Tenant, tenant.id)
        row.allowed_grant_types = ["authorization_code", "refresh_token"]
        session.add(row)
    response = authorize_device(http, tv)
    assert response.status_code == 400 and error_of(response) == "unsupported_grant_type"
    polled = poll(http, tv, "anything")
    assert polled.status_code == 400 and error_of(polled) == "unsupported_grant_type"
    doc = http.get("/t/acme/.well-known/openid-configuration").json()
    assert "device_authorization_endpoint" not in doc and DEVICE_CODE not in doc["grant_types_supported"]


# -- the whole flow --------------------------------------------------------------------------------


def test_end_to_end_approval_issues_what_the_code_grant_issues(http, ctx, tenant, alice, tv):
    device = started(http, tv)
    pending = poll(http, tv, device["device_code"])
    assert pending.status_code == 400 and error_of(pending) == "authorization_pending"

    # The link only prefills the code: opening it approves nothing.
    page = http.get(urlsplit(device["verification_uri_complete"])._replace(scheme="", netloc="").geturl())
    assert page.status_code == 200 and f'value="{device["user_code"]}"' in page.text
    set_row(ctx, device["device_code"], last_polled_at=now() - 10)
    assert error_of(poll(http, tv, device["device_code"])) == "authorization_pending"

    entered = http.post(
        "/t/acme/device", data={"csrf_token": hidden(page.text, "csrf_token"), "user_code": device["user_code"]}
    )
    assert entered.status_code == 303 and "/login?" in entered.headers["location"]
    login = http.get(entered.headers["location"])
    assert "Acme TV" in login.text
    signed_in = submit_login(http, "acme", login.text, "alice@example.com", PASSWORD)
    consent_page, done = consent(http, signed_in.headers["location"])
    assert "Acme TV" in consent_page.text and 'id="device-warning"' in consent_page.text
    assert done.status_code == 200 and "Device connected" in done.text

    set_row(ctx, device["device_code"], last_polled_at=now() - 10)
    response = poll(http, tv, device["device_code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == SCOPE
    assert {"access_token", "refresh_token", "id_token", "expires_in"} <= set(tokens)

    keys = KeySet.import_key_set(http.get("/t/acme/.well-known/jwks.json").json())
    id_token = jwt.decode(tokens["id_token"], keys).claims
    row = row_of(ctx, device["device_code"])
    assert (id_token["iss"], id_token["aud"], id_token["sub"]) == (ISSUER, tv.client_id, alice.id)
    assert id_token["sid"] == row.sid and id_token["auth_time"] == row.auth_time and "nonce" not in id_token
    access = jwt.decode(tokens["access_token"], keys).claims
    assert access["sub"] == alice.id and access["client_id"] == tv.client_id and access["scope"] == SCOPE
    userinfo = http.get("/t/acme/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == alice.id

    # The device code is spent: a second poll is invalid_grant (audited), the tokens still work.
    again = poll(http, tv, device["device_code"])
    assert again.status_code == 400 and error_of(again) == "invalid_grant"
    refreshed = http.post(
        "/t/acme/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": tv.client_id}
    )  # fmt: skip
    assert refreshed.status_code == 200 and "id_token" in refreshed.json()

    with inspect_db(ctx) as session:
        grant = session.exec(select(Grant).where(Grant.id == row.grant_id)).one()
        assert (grant.client_id, grant.user_id, grant.scope, grant.revoked_at) == (tv.client_id, alice.id, SCOPE, None)
    events = [(action, target) for action, target, _ in actions(ctx, tenant)]
    assert events == [
        ("login.succeeded", f"user:{alice.id}"),
        ("consent.granted", f"client:{tv.client_id}"),
        ("device.approved", f"client:{tv.client_id}"),
        ("device_code.replay_detected", f"grant:{row.grant_id}"),
    ]


def test_unticked_offline_access_means_no_refresh_token(http, ctx, tenant, alice, tv):
    device = started(http, tv)
    assert approve(http, device["user_code"], scopes=("profile",)).status_code == 200
    tokens = poll(http, tv, device["device_code"]).json()
    assert tokens["scope"] == "openid profile" and "refresh_token" not in tokens and "id_token" in tokens


def test_without_openid_there_is_no_id_token(http, ctx, tenant, alice, tv):
    device = started(http, tv, scope="profile")
    assert approve(http, device["user_code"], scopes=("profile",)).status_code == 200
    tokens = poll(http, tv, device["device_code"]).json()
    assert tokens["scope"] == "profile" and "id_token" not in tokens


def test_a_signed_in_browser_goes_straight_to_consent_and_consent_is_always_asked(http, ctx, tenant, alice, tv):
    first = started(http, tv)
    assert approve(http, first["user_code"]).status_code == 200
    second = started(http, tv)
    entered = enter_code(http, second["user_code"])
    assert entered.status_code == 303 and "/consent?" in entered.headers["location"]  # remembered, still asked
    _page, done = consent(http, entered.headers["location"])
    assert done.status_code == 200
    assert poll(http, tv, second["device_code"]).status_code == 200


def test_the_user_code_is_normalised(http, ctx, tenant, alice, tv):
    device = started(http, tv)
    typed = " " + device["user_code"].lower().replace("-", " ") + " "
    entered = enter_code(http, typed)
    assert entered.status_code == 303 and "/login?" in entered.headers["location"]


def test_denial_is_access_denied(http, ctx, tenant, alice, cli_app):
    device = started(http, cli_app)
    done = approve(http, device["user_code"], decision="deny")
    assert done.status_code == 200 and "Access denied" in done.text
    response = poll(http, cli_app, device["device_code"])
    assert response.status_code == 400 and error_of(response) == "access_denied"
    assert [a for a, _, _ in actions(ctx, tenant)][-2:] == ["consent.denied", "device.denied"]
    # Answered: the code cannot be entered again.
    assert enter_code(http, device["user_code"]).status_code == 400


# -- polling errors --------------------------------------------------------------------------------


def test_polling_too_fast_is_slow_down_and_the_interval_grows(http, ctx, tenant, tv):
    device = started(http, tv)
    code = device["device_code"]
    assert error_of(poll(http, tv, code)) == "authorization_pending"
    too_fast = poll(http, tv, code)
    assert too_fast.status_code == 400 and error_of(too_fast) == "slow_down"
    assert row_of(ctx, code).interval == 10
    # 6 s later is still too fast for the grown interval: slower again.
    set_row(ctx, code, last_polled_at=now() - 6)
    assert error_of(poll(http, tv, code)) == "slow_down"
    assert row_of(ctx, code).interval == 15
    # waiting the whole interval is fine again (and keeps it)
    set_row(ctx, code, last_polled_at=now() - 15)
    assert error_of(poll(http, tv, code)) == "authorization_pending"
    assert row_of(ctx, code).interval == 15


def test_after_expiry_polls_are_expired_token_and_the_code_is_refused(http, ctx, tenant, alice, tv, monkeypatch):
    device = started(http, tv)
    later = now() + 601
    monkeypatch.setattr(identity.oauth.device, "now", lambda: later)
    response = poll(http, tv, device["device_code"])
    assert response.status_code == 400 and error_of(response) == "expired_token"
    entered = enter_code(http, device["user_code"])
    assert entered.status_code == 400 and "That code is not valid or has expired." in entered.text


def test_approved_then_expired_before_the_poll_is_expired_token(http, ctx, tenant, alice, tv, monkeypatch):
    device = started(http, tv)
    assert approve(http, device["user_code"]).status_code == 200
    later = now() + 601
    monkeypatch.setattr(identity.oauth.device, "now", lambda: later)
    assert error_of(poll(http, tv, device["device_code"])) == "expired_token"


def test_unknown_and_other_clients_device_codes_are_invalid_grant(http, ctx, tenant, alice, tv, cli_app):
    unknown = poll(http, tv, "not-a-device-code")
    assert unknown.status_code == 400 and error_of(unknown) == "invalid_grant"
    missing = http.post("/t/acme/token", data={"grant_type": DEVICE_CODE, "client_id": tv.client_id})
    assert missing.status_code == 400 and error_of(missing) == "invalid_request"
    device = started(http, tv)
    assert approve(http, device["user_code"]).status_code == 200
    stolen = poll(http, cli_app, device["device_code"])
    assert stolen.status_code == 400 and error_of(stolen) == "invalid_grant"
    assert poll(http, tv, device["device_code"]).status_code == 200  # the theft attempt spent nothing


def test_another_tenants_device_code_is_invalid_grant(http, ctx, tenant, alice, tv):
    other = make_tenant(ctx, slug="globex", name="Globex")
    same_id = make_client(ctx, other, name="Globex TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE])
    device = started(http, tv)
    assert approve(http, device["user_code"]).status_code == 200
    response = http.post(
        "/t/globex/token", data={"grant_type": DEVICE_CODE, "device_code": device["device_code"], "client_id": same_id.client_id}
    )  # fmt: skip
    assert response.status_code == 400 and error_of(response) == "invalid_grant"


# -- the page --------------------------------------------------------------------------------------


def test_a_wrong_code_is_refused_with_a_clear_message(http, ctx, tenant, tv):
    started(http, tv)
    response = enter_code(http, "BCDF-GHJK")
    assert response.status_code == 400
    assert "That code is not valid or has expired." in response.text and 'value="BCDF-GHJK"' in response.text
    with inspect_db(ctx) as session:
        assert session.exec(select(AuthorizationRequest)).all() == []


def test_the_page_refuses_a_post_without_its_csrf_token(http, ctx, tenant, alice, tv):
    device = started(http, tv)
    http.get("/t/acme/device")  # the browser cookie is set
    for token in ("", "0" * 64):
        refused = http.post("/t/acme/device", data={"csrf_token": token, "user_code": device["user_code"]})
        assert refused.status_code == 403 and "This page has expired" in refused.text
    with inspect_db(ctx) as session:
        assert session.exec(select(AuthorizationRequest)).all() == []
    # a forged consent post for a device flow is refused the same way the login flow's is
    entered = enter_code(http, device["user_code"])
    login = http.get(entered.headers["location"])
    signed_in = submit_login(http, "acme", login.text, "alice@example.com", PASSWORD)
    page = http.get(signed_in.headers["location"])
    forged = http.post(
        "/t/acme/consent", data={"csrf_token": "0" * 64, "flow": hidden(page.text, "flow"), "decision": "approve"}
    )
    assert forged.status_code == 400
    assert row_of(ctx, device["device_code"]).status == "pending"


def test_the_german_page(http, tenant):
    page = http.get("/t/acme/device", headers={"accept-language": "de"})
    assert page.status_code == 200 and "Gerät verbinden" in page.text


@pytest.fixture
def strict_app(database_url):
    """The app with low device-page limits: 3 wrong codes per IP, 5 per tenant."""
    application = create_app(
        make_settings(database_url, device_max_failures_per_ip=3, device_max_failures_per_tenant=5)
    )
    yield application
    application.state.ctx.engine.dispose()


def browser_at(app, ip):
    return TestClient(app, base_url=PUBLIC_URL, follow_redirects=False, client=(ip, 50000))


def test_wrong_codes_are_throttled_per_ip_even_the_right_one_then(strict_app):
    ctx = strict_app.state.ctx
    tv = make_client(ctx, make_tenant(ctx), name="Acme TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE])
    with browser_at(strict_app, "203.0.113.7") as guesser, browser_at(strict_app, "198.51.100.2") as other:
        device = started(guesser, tv)
        for _ in range(3):
            assert enter_code(guesser, "BCDF-GHJK").status_code == 400
        throttled = enter_code(guesser, device["user_code"])
        assert throttled.status_code == 429 and "Too many wrong codes." in throttled.text
        with inspect_db(ctx) as session:
            assert session.exec(select(AuthorizationRequest)).all() == []
        # another address is not throttled by this one's failures
        assert enter_code(other, device["user_code"]).status_code == 303


def test_wrong_codes_are_throttled_per_tenant_across_addresses(strict_app):
    ctx = strict_app.state.ctx
    tv = make_client(ctx, make_tenant(ctx), name="Acme TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE])
    with browser_at(strict_app, "192.0.2.1") as first:
        device = started(first, tv)
    for n in range(5):  # five addresses, one wrong code each: under every per-IP limit
        with browser_at(strict_app, f"192.0.2.{10 + n}") as guesser:
            assert enter_code(guesser, "BCDF-GHJK").status_code == 400
    with browser_at(strict_app, "192.0.2.99") as owner:
        throttled = enter_code(owner, device["user_code"])
        assert throttled.status_code == 429
    other = make_tenant(ctx, slug="globex", name="Globex")
    globex_tv = make_client(ctx, other, name="Globex TV", public=True, redirect_uris=[], grant_types=[DEVICE_CODE])
    with browser_at(strict_app, "192.0.2.99") as owner:
        response = owner.post(
            "/t/globex/device_authorization", data={"client_id": globex_tv.client_id, "scope": "openid"}
        )
        page = owner.get("/t/globex/device")
        entered = owner.post(
            "/t/globex/device", data={"csrf_token": hidden(page.text, "csrf_token"), "user_code": response.json()["user_code"]}
        )  # fmt: skip
        assert entered.status_code == 303  # another tenant's limit is its own
