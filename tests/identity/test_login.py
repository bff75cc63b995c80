"""Hosted login: CSRF, browser binding, throttling in the database, no user enumeration, page headers."""

import pytest
from sqlmodel import select

from identity.models.interaction import LoginThrottle
from tests.factories import inspect_db, make_client, make_tenant, make_user
from tests.flow import authorize_url, hidden, pkce_pair


@pytest.fixture
def login_page(http, ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    _, challenge = pkce_pair()
    location = http.get(
        authorize_url("acme", rp.client_id, code_challenge=challenge, code_challenge_method="S256")
    ).headers["location"]
    return http.get(location)


def post_login(http, page, email="alice@example.com", password="wrong password", **override):
    data = {
        "csrf_token": hidden(page.text, "csrf_token"),
        "flow": hidden(page.text, "flow"),
        "email": email,
        "password": password,
        **override,
    }
    return http.post("/t/acme/login", data=data)


def test_login_page_shows_tenant_and_app_and_sends_security_headers(login_page):
    assert login_page.status_code == 200
    assert "Acme Corp" in login_page.text and "Acme Web" in login_page.text
    headers = login_page.headers
    assert headers["cache-control"] == "no-store"
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"


def test_missing_or_wrong_csrf_token_is_refused(http, login_page):
    assert post_login(http, login_page, password="correct horse battery", csrf_token="").status_code == 400
    assert post_login(http, login_page, password="correct horse battery", csrf_token="f" * 64).status_code == 400


def test_flow_is_bound_to_the_browser_that_started_it(http, login_page):
    http.cookies.clear()
    assert post_login(http, login_page, password="correct horse battery").status_code == 400


def test_wrong_password_and_unknown_email_look_the_same(http, login_page):
    wrong = post_login(http, login_page)
    unknown = post_login(http, login_page, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is incorrect." in wrong.text and "The email or password is incorrect." in unknown.text


def test_success_sets_a_new_httponly_session_cookie(http, login_page):
    response = post_login(http, login_page, password="correct horse battery")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("idp_session=") and "HttpOnly" in cookie and "Path=/t/acme" in cookie
    assert "samesite=lax" in cookie.lower()


def test_failures_are_throttled_per_account_in_the_database(http, ctx, login_page):
    for _ in range(5):
        assert post_login(http, login_page).status_code == 401
    blocked = post_login(http, login_page, password="correct horse battery")
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    with inspect_db(ctx) as session:
        rows = session.exec(select(LoginThrottle)).all()
    assert {row.key.split(":")[0] for row in rows} == {"acct", "ip"}
    # Unknown emails are throttled the same way (the throttle reveals nothing either).
    for _ in range(5):
        post_login(http, login_page, email="ghost@example.com")
    assert post_login(http, login_page, email="ghost@example.com").status_code == 429


def test_failures_are_throttled_per_ip(http, ctx, login_page):
    from dataclasses import replace  # noqa: PLC0415

    http.app.state.ctx.settings = replace(ctx.settings, login_max_failures_per_ip=3)
    for n in range(3):
        post_login(http, login_page, email=f"user{n}@example.com")
    assert post_login(http, login_page, email="other@example.com").status_code == 429
