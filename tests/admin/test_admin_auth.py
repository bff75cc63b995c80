"""Signing in to the admin console: passwords, throttling, TOTP (enrolment, replay), production's rules,
CSRF, and the wall between admin sessions and tenant sessions."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from identity.admins import AdminError
from identity.app import create_app
from identity.crypto import sha256_hex
from identity.db import session_scope
from identity.models.admin import AdminSession, PlatformAdmin
from identity.models.tenant import Tenant
from identity.passwords import verify_password
from tenants.admin.cookies import AdminCookies
from tests.admin.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    actor_of,
    csrf,
    enrol,
    form_token,
    make_admin,
    platform_events,
    post_login,
    sign_in,
    submit_code,
    totp_code,
)
from tests.conftest import make_settings
from tests.tenants.portal_helpers import sign_up


def admin_row(ctx, email: str = ADMIN_EMAIL) -> PlatformAdmin:  # type: ignore[no-untyped-def]
    with session_scope(ctx.sessions) as session:
        return session.exec(select(PlatformAdmin).where(PlatformAdmin.email == email)).one()


def session_rows(ctx) -> list[AdminSession]:  # type: ignore[no-untyped-def]
    with session_scope(ctx.sessions) as session:
        return list(session.exec(select(AdminSession)).all())


def test_the_service_creates_admins_with_argon2id_and_refuses_duplicates(ctx):
    admin = make_admin(ctx)
    assert admin.password_hash.startswith("$argon2id$") and verify_password(ADMIN_PASSWORD, admin.password_hash)
    assert admin.email_normalized == ADMIN_EMAIL and not admin.totp_enabled
    with pytest.raises(AdminError, match="already exists"):
        make_admin(ctx, email=ADMIN_EMAIL.upper())
    with pytest.raises(AdminError, match="at least 8"):
        make_admin(ctx, email="other@platform.test", password="short")


def test_sign_in_succeeds_with_the_right_password_only(http, ctx):
    admin = make_admin(ctx)
    page = http.get("/admin/login")
    assert page.status_code == 200 and "Admin console" in page.text
    assert (
        page.headers["cache-control"] == "no-store" and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]

    unknown = post_login(http, email="nobody@platform.test")
    wrong = post_login(http, password="not the password")
    for refused in (unknown, wrong):
        assert refused.status_code == 401 and "email address or password is incorrect" in refused.text
        assert "idp_admin=" not in refused.headers.get("set-cookie", "")
    failed = platform_events(ctx, "admin.login_failed")
    assert sorted((e.actor, e.target, e.details["reason"]) for e in failed) == sorted(
        [("anonymous", "nobody@platform.test", "unknown_admin"), (actor_of(admin), ADMIN_EMAIL, "bad_password")]
    )
    assert all(ADMIN_PASSWORD not in str(e.details) and "not the password" not in str(e.details) for e in failed)

    done = post_login(http)
    assert done.status_code == 303 and done.headers["location"] == "/admin/tenants"
    cookie = done.headers["set-cookie"]
    assert "idp_admin=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # the public URL is http here (the prod test checks https)
    tenants = http.get("/admin/tenants")
    assert tenants.status_code == 200 and ADMIN_EMAIL in tenants.text
    assert tenants.headers["cache-control"] == "no-store" and tenants.headers["x-frame-options"] == "DENY"
    [succeeded] = platform_events(ctx, "admin.login_succeeded")
    assert (succeeded.actor, succeeded.target, succeeded.details) == (
        actor_of(admin),
        f"admin:{admin.id}",
        {"totp": False},
    )
    [row] = [r for r in session_rows(ctx) if r.revoked_at is None]
    assert row.mfa_passed and row.expires_at - row.created_at == 12 * 3600
    session_id = AdminCookies(ctx.settings)._signer.loads(http.cookies.get("idp_admin"))
    assert row.id_hash == sha256_hex(session_id) and len(session_id) >= 43  # 256 bits; only the SHA-256 is stored


def test_a_disabled_admin_cannot_sign_in_and_their_sessions_stop(http, ctx):
    make_admin(ctx)
    sign_in(http)
    with session_scope(ctx.sessions) as session:
        row = session.exec(select(PlatformAdmin)).one()
        row.disabled = True
        session.add(row)
    assert http.get("/admin/tenants").status_code == 303
    refused = post_login(http)
    assert refused.status_code == 401
    assert [e.details["reason"] for e in platform_events(ctx, "admin.login_failed")] == ["disabled"]


def test_signed_out_visitors_go_to_sign_in_and_come_back_to_same_site_paths_only(http, ctx):
    make_admin(ctx)
    away = http.get("/admin/tenants?q=acme&status=active")
    assert away.status_code == 303
    assert away.headers["location"] == "/admin/login?next=" + quote("/admin/tenants?q=acme&status=active", safe="")
    assert http.get("/admin/audit").headers["location"] == "/admin/login?next=%2Fadmin%2Faudit"
    assert http.get("/admin/anything").headers["location"] == "/admin/login?next=%2Fadmin%2Fanything"
    assert http.get("/admin").headers["location"] in {"/admin/", "http://127.0.0.1:8000/admin/"}
    assert http.get("/admin/").headers["location"] == "/admin/tenants"

    done = post_login(http, next_path=quote("/admin/tenants?q=acme&status=active", safe=""))
    assert done.status_code == 303 and done.headers["location"] == "/admin/tenants?q=acme&status=active"
    # Already signed in: the sign-in page sends the admin on.
    assert http.get("/admin/login?next=%2Fadmin%2Faudit").headers["location"] == "/admin/audit"

    for hostile in (
        "https://evil.example/admin",
        "//evil.example/admin",
        "/admin//evil.example",
        "/t/acme/portal",
        "/admin\\@evil.example",
        "javascript:alert(1)",
        "/admin/login",
    ):
        page = http.get("/admin/login?next=" + quote(hostile, safe=""))
        assert page.status_code == 303 and page.headers["location"] == "/admin/tenants", hostile
    for hostile in ("https://evil.example/admin", "//evil.example"):
        http.cookies.clear()
        done = post_login(http, next_path=quote(hostile, safe=""))
        assert done.headers["location"] == "/admin/tenants"


def test_wrong_passwords_are_throttled_after_the_limit(http, ctx):
    make_admin(ctx)
    for _ in range(ctx.settings.login_max_failures_per_account):
        assert post_login(http, password="wrong password").status_code == 401
    blocked = post_login(http)  # even the right password, until the window ends
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    assert "idp_admin=" not in blocked.headers.get("set-cookie", "")
    reasons = [e.details["reason"] for e in platform_events(ctx, "admin.login_failed")]
    assert sorted(reasons) == ["bad_password"] * 5 + ["throttled"]
    # Throttled per account: the counters live under the platform tenant, not any customer's.
    with session_scope(ctx.sessions) as session:
        platform = session.exec(select(Tenant).where(Tenant.slug == "platform")).one()
        assert platform.is_platform
    other = make_admin(ctx, email="second@platform.test")
    assert post_login(http, email=other.email).status_code == 303


def test_totp_enrolment_then_every_sign_in_needs_a_fresh_code(http, ctx):
    admin = make_admin(ctx)
    sign_in(http)
    account = http.get("/admin/account")
    assert account.status_code == 200 and "Set up two-step verification" in account.text

    page = http.get("/admin/account/totp")
    assert page.status_code == 200
    assert "otpauth://totp/Identity%20platform:ops%40platform.test?secret=" in page.text
    assert "issuer=Identity%20platform" in page.text
    again = http.get("/admin/account/totp")  # the same secret until it is confirmed
    assert csrf(again.text) and again.text.count("otpauth://") == page.text.count("otpauth://")
    with session_scope(ctx.sessions) as session:
        stored = session.exec(select(PlatformAdmin)).one()
    assert stored.totp_secret_encrypted and not stored.totp_enabled
    secret = re.search(r'id="totp-secret" type="text" value="([A-Z2-7]+)"', page.text).group(1)
    assert secret not in stored.totp_secret_encrypted  # encrypted at rest
    assert ctx.encryptor.decrypt(stored.totp_secret_encrypted).decode() == secret
    # A code the window (this step and one either side) does not accept, whatever the clock says.
    accepted = {totp_code(secret, offset) for offset in (-1, 0, 1)}
    wrong_code = next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)
    wrong = http.post("/admin/account/totp", data={"csrf_token": csrf(page.text), "code": wrong_code})
    assert wrong.status_code == 400 and "not right" in wrong.text and not admin_row(ctx).totp_enabled

    enrol_code = totp_code(secret)
    done = http.post("/admin/account/totp", data={"csrf_token": csrf(page.text), "code": enrol_code})
    assert done.status_code == 303 and admin_row(ctx).totp_enabled
    assert "Two-step verification is on" in http.get(done.headers["location"]).text
    [enabled] = platform_events(ctx, "admin.totp_enabled")
    assert (enabled.actor, enabled.target) == (actor_of(admin), f"admin:{admin.id}")
    assert http.get("/admin/account/totp").headers["location"] == "/admin/account"  # no second enrolment

    # Sign out; the password alone now only reaches the code step.
    http.post("/admin/logout", data={"csrf_token": form_token(http, "/admin/account")})
    first = post_login(http)
    assert first.status_code == 303 and first.headers["location"] == "/admin/login/totp?next=%2Fadmin%2Ftenants"
    assert http.get("/admin/tenants").headers["location"] == "/admin/login/totp?next=%2Fadmin%2Ftenants"
    assert http.get("/admin/account/totp").status_code == 303
    half_id = http.cookies.get("idp_admin")

    # The code used for the enrolment cannot be used again (same time step), nor can a wrong one.
    replayed = submit_code(http, enrol_code)
    assert replayed.status_code == 401 and "already used" in replayed.text
    bad = submit_code(http, "123456" if totp_code(secret) != "123456" else "654321")
    assert bad.status_code == 401 and "not right" in bad.text
    reasons = [e.details["reason"] for e in platform_events(ctx, "admin.login_failed")]
    assert sorted(reasons) == ["bad_totp", "replayed_totp"]

    # The next step's code (within the window) completes the sign-in, with a new session id.
    later = totp_code(secret, offset=1)
    ok = submit_code(http, later)
    assert ok.status_code == 303 and ok.headers["location"] == "/admin/tenants"
    assert http.cookies.get("idp_admin") != half_id
    assert http.get("/admin/tenants").status_code == 200
    assert sorted(e.details["totp"] for e in platform_events(ctx, "admin.login_succeeded")) == [False, True]
    assert http.get("/admin/account").text.count("Every sign-in asks for a 6-digit code") == 1

    # That code, replayed in another browser right after, is refused too.
    http.post("/admin/logout", data={"csrf_token": form_token(http, "/admin/account")})
    assert post_login(http).status_code == 303
    assert submit_code(http, later).status_code == 401


def test_codes_are_throttled_with_the_password(http, ctx):
    make_admin(ctx)
    sign_in(http)
    secret = enrol(http)
    http.post("/admin/logout", data={"csrf_token": form_token(http, "/admin/account")})
    assert post_login(http).status_code == 303
    wrong = "111111" if totp_code(secret) != "111111" and totp_code(secret, 1) != "111111" else "222222"
    for _ in range(ctx.settings.login_max_failures_per_account):
        assert submit_code(http, wrong).status_code == 401
    assert submit_code(http, totp_code(secret, 1)).status_code == 429
    # Signing in again with the right password does not clear the count: the code step stays blocked.
    assert post_login(http).status_code == 429


def test_production_requires_totp_before_anything_else(database_url):
    settings = make_settings(database_url, public_url="https://idp.example.com", env="prod", log_json=False)
    settings.validate()
    app = create_app(settings)
    try:
        with TestClient(app, base_url="https://idp.example.com", follow_redirects=False) as http:
            make_admin(app.state.ctx)
            done = post_login(http)
            assert done.status_code == 303 and "Secure" in done.headers["set-cookie"]
            for path in ("/admin/tenants", "/admin/audit", "/admin/account", "/admin/new-tenant"):
                assert http.get(path).headers["location"] == "/admin/account/totp", path
            page = http.get("/admin/account/totp")
            assert page.status_code == 200 and "must use two-step verification in production" in page.text
            refused = http.post("/admin/new-tenant", data={"csrf_token": csrf(page.text), "slug": "acme", "name": "A"})
            assert refused.status_code == 303 and refused.headers["location"] == "/admin/account/totp"
            enrol(http)
            assert http.get("/admin/tenants").status_code == 200
    finally:
        app.state.ctx.engine.dispose()


def test_development_lets_an_admin_without_totp_in(http, ctx):
    make_admin(ctx)
    sign_in(http)
    assert http.get("/admin/tenants").status_code == 200
    assert "Off" in http.get("/admin/account").text


def test_forms_without_the_right_csrf_token_are_refused(http, ctx):
    make_admin(ctx)
    page = http.get("/admin/login")
    no_token = http.post("/admin/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    forged = http.post("/admin/login", data={"csrf_token": "0" * 64, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    for refused in (no_token, forged):
        assert refused.status_code == 403 and "form expired" in refused.text
        assert "idp_admin=" not in refused.headers.get("set-cookie", "")
    sign_in_token = csrf(page.text)

    sign_in(http)
    create = {"slug": "acme", "name": "Acme Corp"}
    for token in (None, "", "0" * 64, sign_in_token):  # the token from before sign-in is not this session's
        data = create if token is None else {**create, "csrf_token": token}
        refused = http.post("/admin/new-tenant", data=data)
        assert refused.status_code == 403 and "did not come from this console" in refused.text
    assert http.get("/admin/tenants/acme").status_code == 404

    # A token of an earlier session of the same browser does not work after signing in again.
    old = form_token(http, "/admin/new-tenant")
    assert http.post("/admin/logout", data={"csrf_token": "nope"}).status_code == 403
    assert http.get("/admin/tenants").status_code == 200  # the forged sign-out ended nothing
    http.post("/admin/logout", data={"csrf_token": old})
    sign_in(http)
    assert http.post("/admin/new-tenant", data={**create, "csrf_token": old}).status_code == 403
    assert (
        http.post("/admin/new-tenant", data={**create, "csrf_token": form_token(http, "/admin/new-tenant")}).status_code
        == 303
    )


def test_a_tenant_portal_session_never_opens_the_console_nor_the_reverse(http, ctx):
    make_admin(ctx)
    assert sign_up(http).status_code == 303  # the owner of globex, signed in to its portal
    assert http.get("/t/globex/portal").status_code == 200
    tenant_session = http.cookies.get("idp_session")
    assert tenant_session
    assert http.get("/admin/tenants").headers["location"].startswith("/admin/login")
    # The tenant cookie's value, presented as the admin cookie, is not an admin session either.
    http.cookies.set("idp_admin", tenant_session, domain="127.0.0.1", path="/admin")
    assert http.get("/admin/tenants").headers["location"].startswith("/admin/login")
    http.cookies.clear()

    sign_in(http)
    admin_cookie = http.cookies.get("idp_admin")
    portal = http.get("/t/globex/portal")
    assert portal.status_code == 303 and "/portal/login" in portal.headers["location"]
    http.cookies.set("idp_session", admin_cookie, domain="127.0.0.1", path="/t/globex")
    assert "/portal/login" in http.get("/t/globex/portal").headers["location"]


def test_sign_out_revokes_the_session_everywhere(http, ctx):
    make_admin(ctx)
    sign_in(http)
    cookie = http.cookies.get("idp_admin")
    out = http.post("/admin/logout", data={"csrf_token": form_token(http, "/admin/tenants")})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login?signed_out=1"
    assert 'idp_admin=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    assert "You are signed out" in http.get("/admin/login?signed_out=1").text
    [row] = session_rows(ctx)
    assert row.revoked_at is not None
    # The old cookie, replayed (say, from a copy), is dead: the row says so, on every replica.
    http.cookies.set("idp_admin", cookie, domain="127.0.0.1", path="/admin")
    assert http.get("/admin/tenants").headers["location"].startswith("/admin/login")
    # A new sign-in gets a new id.
    sign_in(http)
    assert http.cookies.get("idp_admin") != cookie
    live = [r for r in session_rows(ctx) if r.revoked_at is None]
    assert len(live) == 1 and live[0].id_hash != row.id_hash
