"""End-user sign-up on the hosted pages: only when the tenant opens it; the new user continues the flow."""

import pytest
from sqlmodel import select

from identity.models.audit import AuditEvent
from identity.models.tenant import Tenant
from identity.models.user import User
from tests.factories import REDIRECT_URI, inspect_db, make_client, make_tenant, make_user
from tests.flow import authorize_url, exchange, hidden, pkce_pair, query_of


def open_signup(ctx, tenant, value=True):
    with inspect_db(ctx) as session:
        row = session.get(Tenant, tenant.id)
        row.signup_open = value
        session.add(row)


@pytest.fixture
def started(http, ctx):
    tenant = make_tenant(ctx)
    rp = make_client(ctx, tenant)
    verifier, challenge = pkce_pair()
    location = http.get(
        authorize_url(
            "acme", rp.client_id, scope="openid email", code_challenge=challenge, code_challenge_method="S256"
        )
    ).headers["location"]
    return tenant, rp, verifier, location


def test_closed_signup_shows_no_link_and_refuses(http, ctx, started):
    _, _, _, location = started
    login = http.get(location)
    assert "Create an account" not in login.text
    flow = hidden(login.text, "flow")
    assert http.get(f"/t/acme/register?flow={flow}").status_code == 400


def test_open_signup_creates_the_user_and_continues_to_the_app(http, ctx, started):
    tenant, rp, verifier, location = started
    open_signup(ctx, tenant)
    login = http.get(location)
    assert "Create an account" in login.text
    page = http.get(f"/t/acme/register?flow={hidden(login.text, 'flow')}")
    assert page.status_code == 200 and "Create your account" in page.text
    data = {
        "csrf_token": hidden(page.text, "csrf_token"),
        "flow": hidden(page.text, "flow"),
        "name": "Neo",
        "email": "neo@example.com",
        "password": "follow the white rabbit",
    }
    short = http.post("/t/acme/register", data={**data, "password": "short"})
    assert short.status_code == 400 and "at least 8" in short.text
    done = http.post("/t/acme/register", data=data)
    assert done.status_code == 303 and "/consent?" in done.headers["location"]
    consent = http.get(done.headers["location"])
    back = http.post(
        "/t/acme/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "flow": hidden(consent.text, "flow"),
            "decision": "approve",
            "scope": ["openid", "email"],
        },
    )
    code = query_of(back.headers["location"])["code"]
    tokens = exchange(http, "acme", rp.client_id, rp.client_secret, code, verifier)
    info = http.get("/t/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert info["email"] == "neo@example.com"
    with inspect_db(ctx) as session:
        assert session.exec(select(User).where(User.email == "neo@example.com")).one().name == "Neo"
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "user.registered")).one()
    assert back.headers["location"].startswith(REDIRECT_URI)


def test_existing_email_and_missing_csrf(http, ctx, started):
    tenant, _, _, location = started
    open_signup(ctx, tenant)
    make_user(ctx, tenant, email="taken@example.com")
    login = http.get(location)
    page = http.get(f"/t/acme/register?flow={hidden(login.text, 'flow')}")
    data = {
        "csrf_token": hidden(page.text, "csrf_token"),
        "flow": hidden(page.text, "flow"),
        "email": "taken@example.com",
        "password": "long enough password",
    }
    taken = http.post("/t/acme/register", data=data)
    assert taken.status_code == 400 and "already exists" in taken.text
    assert (
        http.post("/t/acme/register", data={**data, "csrf_token": "x", "email": "new@example.com"}).status_code == 400
    )
    with inspect_db(ctx) as session:
        assert session.exec(select(User).where(User.email == "new@example.com")).first() is None
