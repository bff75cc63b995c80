"""The portal's Users section over HTTP: what an admin sees, what is stored, and who may do what."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from identity.models.audit import AuditEvent
from identity.models.grant import Grant, RefreshToken
from identity.models.interaction import BrowserSession
from identity.models.team import Membership
from identity.models.user import User
from identity.passwords import verify_password
from identity.users import list_users
from tests.conftest import PUBLIC_URL
from tests.factories import PASSWORD, inspect_db, make_client, make_user
from tests.flow import authorize_url, exchange, hidden, pkce_pair, sign_in
from tests.tenants.portal_helpers import add_portal_member, csrf, portal_form, portal_sign_in, sign_up, tenant_of

BAD_CREDENTIALS = "The email or password is incorrect."


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def browser(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A second, independent browser (its own cookie jar) on the same app."""
    client = TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)
    yield client
    client.close()


# Audited by the hosted pages and the token endpoint, not by the portal.
PROTOCOL_ACTIVITY = ("login.", "consent.", "token.", "code.")


def events(ctx, slug: str, action: str = "") -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    tenant = tenant_of(ctx, slug)
    with inspect_db(ctx) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id)).all()
    return (
        [e for e in rows if e.action.startswith(action)]
        if action
        # Without a prefix: the portal's changes (not the tenant's creation, not protocol activity).
        else [e for e in rows if e.action != "tenant.created" and not e.action.startswith(PROTOCOL_ACTIVITY)]
    )


def stored_user(ctx, user_id: str) -> User | None:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        return session.exec(select(User).where(User.id == user_id)).first()


def owner_actor(ctx, slug: str = "globex", email: str = "owner@globex.test") -> str:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        owner = session.exec(select(User).where(User.email == email)).one()
    return f"user:{owner.id} {email}"


def login_attempt(client: TestClient, slug: str, client_id: str, email: str, password: str):  # type: ignore[no-untyped-def]
    """authorize -> the hosted login page -> submit; returns the login POST's response."""
    _verifier, challenge = pkce_pair()
    start = client.get(
        authorize_url(
            slug,
            client_id,
            scope="openid offline_access",
            state="s",
            nonce="n",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    assert start.status_code == 302 and "/login?" in start.headers["location"], start.headers.get("location")
    page = client.get(start.headers["location"])
    return client.post(
        f"/t/{slug}/login",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "flow": hidden(page.text, "flow"),
            "email": email,
            "password": password,
        },
    )


def refresh(client: TestClient, slug: str, client_id: str, secret: str | None, token: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/t/{slug}/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=(client_id, secret or "")
    )


# -- listing and searching -------------------------------------------------------------------------


def test_admin_lists_and_searches_users(http, ctx):
    sign_up(http)
    tenant = tenant_of(ctx, "globex")
    make_user(ctx, tenant, email="alice@example.com", name="Alice Liddell")
    make_user(ctx, tenant, email="bob@example.com", name="Bob Builder")
    make_user(ctx, tenant, email="carol_x@example.com", name="Carol")
    page = http.get("/t/globex/portal/users")
    assert page.status_code == 200
    assert all(e in page.text for e in ("alice@example.com", "bob@example.com", "carol_x@example.com"))
    assert '<label for="q">' in page.text and "4 users" in page.text and 'aria-current="page">Users' in page.text

    found = http.get("/t/globex/portal/users", params={"q": "ALICE"})
    assert "alice@example.com" in found.text and "bob@example.com" not in found.text
    by_name = http.get("/t/globex/portal/users", params={"q": "builder"})
    assert "bob@example.com" in by_name.text and "alice@example.com" not in by_name.text
    # LIKE wildcards are searched for literally.
    assert "No users match" in http.get("/t/globex/portal/users", params={"q": "%"}).text
    literal = http.get("/t/globex/portal/users", params={"q": "_x"})
    assert "carol_x@example.com" in literal.text and "1 user matching" in literal.text
    # Bad page numbers are not errors.
    for bad in ("abc", "-1", "²", "99999999999"):
        assert http.get("/t/globex/portal/users", params={"page": bad}).status_code == 200


def test_pagination_of_the_service_and_its_links(http, ctx):
    sign_up(http)
    tenant = tenant_of(ctx, "globex")
    for n in range(4):
        make_user(ctx, tenant, email=f"user{n}@example.com", name=f"User {n}")
    with inspect_db(ctx) as session:
        first = list_users(session, tenant.id, q="user", per_page=3)
        second = list_users(session, tenant.id, q="user", page=2, per_page=3)
        clamped = list_users(session, tenant.id, q="user", page=50, per_page=3)
    assert [u.email for u in first.users] == ["user0@example.com", "user1@example.com", "user2@example.com"]
    assert [u.email for u in second.users] == ["user3@example.com"] and second.pages == 2 and not second.has_next
    assert clamped.page == 2 and first.total == 4
    # Only this tenant's users, whatever the search.
    other = sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    assert other.status_code == 303
    with inspect_db(ctx) as session:
        assert list_users(session, tenant.id, q="initech").total == 0


# -- creating ---------------------------------------------------------------------------------------


def test_create_user_shows_field_errors_then_creates_with_one_audit_event(http, ctx):
    sign_up(http)
    token = portal_form(http, "/t/globex/portal/users/new")
    bad = http.post(
        "/t/globex/portal/users/new",
        data={"csrf_token": token, "email": "not-an-email", "name": "Zed", "password": "short"},
    )
    assert bad.status_code == 400
    assert "not a valid email address" in bad.text and "at least 8 characters" in bad.text
    assert 'aria-describedby="email-errors"' in bad.text and "password-errors" in bad.text
    assert 'value="Zed"' in bad.text and "short" not in bad.text  # the name is kept, the password never echoed
    taken = http.post(
        "/t/globex/portal/users/new",
        data={"csrf_token": token, "email": "OWNER@globex.test", "password": "long enough pw"},
    )
    assert taken.status_code == 400 and "already exists" in taken.text
    assert events(ctx, "globex") == []

    created = http.post(
        "/t/globex/portal/users/new",
        data={"csrf_token": token, "email": "dana@example.com", "name": "Dana Scully", "password": " spaced password "},
    )
    assert created.status_code == 303
    detail = http.get(created.headers["location"])
    assert detail.status_code == 200 and "User created" in detail.text and "Dana Scully" in detail.text
    user_id = created.headers["location"].split("/")[-1].split("?")[0]
    user = stored_user(ctx, user_id)
    assert user is not None and user.email == "dana@example.com" and not user.disabled
    assert verify_password(" spaced password ", user.password_hash)  # exactly as typed
    [event] = events(ctx, "globex")
    assert (event.action, event.target, event.actor) == ("user.created", user_id, owner_actor(ctx))
    assert event.details == {"email": "dana@example.com"} and event.ip


# -- disabling and enabling ------------------------------------------------------------------------


def test_disabled_user_cannot_sign_in_and_loses_tokens_until_enabled(http, ctx, browser):
    sign_up(http)
    tenant = tenant_of(ctx, "globex")
    rp = make_client(ctx, tenant)
    alice = make_user(ctx, tenant, email="alice@example.com")
    result = sign_in(browser, "globex", rp.client_id)
    tokens = exchange(browser, "globex", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    assert tokens["status"] == 200 and tokens["refresh_token"]

    token = portal_form(http, f"/t/globex/portal/users/{alice.id}")
    done = http.post(f"/t/globex/portal/users/{alice.id}/disable", data={"csrf_token": token})
    assert done.status_code == 303
    page = http.get(done.headers["location"])
    assert "User disabled" in page.text and "Enable user" in page.text
    with inspect_db(ctx) as session:
        assert session.exec(select(User).where(User.id == alice.id)).one().disabled
        rows = session.exec(select(BrowserSession).where(BrowserSession.user_id == alice.id)).all()
        assert rows and all(r.revoked_at is not None for r in rows)
        assert all(g.revoked_at is not None for g in session.exec(select(Grant).where(Grant.user_id == alice.id)))
    [event] = events(ctx, "globex")
    assert (event.action, event.target, event.actor) == ("user.disabled", alice.id, owner_actor(ctx))
    assert event.details == {"email": "alice@example.com", "sessions_ended": 1, "grants_revoked": 1}

    # Their refresh token is refused, and the hosted login page gives the generic error.
    assert (
        refresh(browser, "globex", rp.client_id, rp.client_secret, tokens["refresh_token"]).json()["error"]
        == "invalid_grant"
    )
    refused = login_attempt(browser, "globex", rp.client_id, "alice@example.com", PASSWORD)
    assert refused.status_code == 401 and BAD_CREDENTIALS in refused.text

    token = portal_form(http, f"/t/globex/portal/users/{alice.id}")
    enabled = http.post(f"/t/globex/portal/users/{alice.id}/enable", data={"csrf_token": token})
    assert enabled.status_code == 303 and "User enabled" in http.get(enabled.headers["location"]).text
    assert [e.action for e in events(ctx, "globex")] == ["user.disabled", "user.enabled"]
    browser.cookies.clear()
    again = sign_in(browser, "globex", rp.client_id)
    fresh = exchange(browser, "globex", rp.client_id, rp.client_secret, again["code"], again["_verifier"])
    assert fresh["status"] == 200
    # The tokens ended by disabling stay ended.
    assert refresh(browser, "globex", rp.client_id, rp.client_secret, tokens["refresh_token"]).status_code == 400
    # Disabling twice changes nothing and records nothing.
    token = portal_form(http, f"/t/globex/portal/users/{alice.id}")
    same = http.post(f"/t/globex/portal/users/{alice.id}/enable", data={"csrf_token": token})
    assert same.status_code == 303 and len(events(ctx, "globex")) == 2


def test_token_endpoint_itself_refuses_a_disabled_users_refresh_token(http, ctx, browser):
    """Without the grant revocation: the refresh grant checks the user too."""
    sign_up(http)
    tenant = tenant_of(ctx, "globex")
    rp = make_client(ctx, tenant)
    alice = make_user(ctx, tenant, email="alice@example.com")
    result = sign_in(browser, "globex", rp.client_id)
    tokens = exchange(browser, "globex", rp.client_id, rp.client_secret, result["code"], result["_verifier"])
    with inspect_db(ctx) as session:
        row = session.exec(select(User).where(User.id == alice.id)).one()
        row.disabled = True
        session.add(row)
    response = refresh(browser, "globex", rp.client_id, rp.client_secret, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_nobody_disables_or_deletes_themselves(http, ctx):
    sign_up(http)
    owner_id = owner_actor(ctx).split()[0].removeprefix("user:")
    token = portal_form(http, f"/t/globex/portal/users/{owner_id}")
    refused = http.post(f"/t/globex/portal/users/{owner_id}/disable", data={"csrf_token": token})
    assert refused.status_code == 400 and "cannot disable your own account" in refused.text
    gone = http.post(
        f"/t/globex/portal/users/{owner_id}/delete", data={"csrf_token": token, "confirm_email": "owner@globex.test"}
    )
    assert gone.status_code == 400 and "cannot delete your own account" in gone.text
    user = stored_user(ctx, owner_id)
    assert user is not None and not user.disabled and events(ctx, "globex") == []


# -- resetting a password --------------------------------------------------------------------------


def test_reset_password(http, ctx):
    sign_up(http)
    alice = make_user(ctx, tenant_of(ctx, "globex"), email="alice@example.com")
    token = portal_form(http, f"/t/globex/portal/users/{alice.id}")
    weak = http.post(
        f"/t/globex/portal/users/{alice.id}/reset-password", data={"csrf_token": token, "new_password": "short"}
    )
    assert weak.status_code == 400 and "at least 8 characters" in weak.text
    assert 'aria-describedby="new_password-help new_password-errors"' in weak.text
    stored = stored_user(ctx, alice.id)
    assert stored is not None and verify_password(PASSWORD, stored.password_hash) and events(ctx, "globex") == []

    done = http.post(
        f"/t/globex/portal/users/{alice.id}/reset-password",
        data={"csrf_token": token, "new_password": "a brand new secret"},
    )
    assert done.status_code == 303 and "Password changed" in http.get(done.headers["location"]).text
    stored = stored_user(ctx, alice.id)
    assert stored is not None and verify_password("a brand new secret", stored.password_hash)
    assert not verify_password(PASSWORD, stored.password_hash)
    [event] = events(ctx, "globex")
    assert (event.action, event.target, event.actor) == ("user.password_reset", alice.id, owner_actor(ctx))
    assert "a brand new secret" not in str(event.details) and event.details == {"email": "alice@example.com"}


# -- deleting ---------------------------------------------------------------------------------------


def test_delete_user_after_typed_confirmation(http, ctx, browser):
    sign_up(http)
    tenant = tenant_of(ctx, "globex")
    rp = make_client(ctx, tenant)
    dev = add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    result = sign_in(browser, "globex", rp.client_id, email="dev@globex.test")
    assert (
        exchange(browser, "globex", rp.client_id, rp.client_secret, result["code"], result["_verifier"])["status"]
        == 200
    )

    confirm = http.get(f"/t/globex/portal/users/{dev.id}/delete")
    assert confirm.status_code == 200 and '<label for="confirm_email">' in confirm.text
    wrong = http.post(
        f"/t/globex/portal/users/{dev.id}/delete",
        data={"csrf_token": csrf(confirm.text), "confirm_email": "someone@else.test"},
    )
    assert wrong.status_code == 400 and "exactly" in wrong.text and 'aria-describedby="confirm-error"' in wrong.text
    assert stored_user(ctx, dev.id) is not None and events(ctx, "globex") == []

    done = http.post(
        f"/t/globex/portal/users/{dev.id}/delete",
        data={"csrf_token": csrf(confirm.text), "confirm_email": "DEV@globex.test"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/t/globex/portal/users?deleted=1"
    listing = http.get(done.headers["location"])
    assert "The user was deleted" in listing.text and "dev@globex.test" not in listing.text
    assert http.get(f"/t/globex/portal/users/{dev.id}").status_code == 404
    with inspect_db(ctx) as session:
        assert session.exec(select(User).where(User.id == dev.id)).first() is None
        assert session.exec(select(Membership).where(Membership.user_id == dev.id)).first() is None
        assert session.exec(select(RefreshToken).where(RefreshToken.user_id == dev.id)).first() is None
        assert session.exec(select(BrowserSession).where(BrowserSession.user_id == dev.id)).first() is None
    [event] = events(ctx, "globex")
    assert (event.action, event.target, event.actor) == ("user.deleted", dev.id, owner_actor(ctx))
    assert event.details == {"email": "dev@globex.test", "portal_role": "developer"}


# -- who may do what --------------------------------------------------------------------------------


def test_developer_gets_403_on_users(http, ctx):
    sign_up(http)
    alice = make_user(ctx, tenant_of(ctx, "globex"), email="alice@example.com")
    add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    http.cookies.clear()
    portal_sign_in(http, "globex", "dev@globex.test")
    apps = http.get("/t/globex/portal")
    assert apps.status_code == 200
    for path in (
        "/t/globex/portal/users",
        "/t/globex/portal/users/new",
        f"/t/globex/portal/users/{alice.id}",
        f"/t/globex/portal/users/{alice.id}/delete",
    ):
        response = http.get(path)
        assert response.status_code == 403 and "needs the admin role" in response.text, path
    token = csrf(apps.text)
    assert (
        http.post(
            "/t/globex/portal/users/new",
            data={"csrf_token": token, "email": "x@example.com", "password": "long enough pw"},
        ).status_code
        == 403
    )
    assert http.post(f"/t/globex/portal/users/{alice.id}/disable", data={"csrf_token": token}).status_code == 403
    assert (
        http.post(
            f"/t/globex/portal/users/{alice.id}/reset-password",
            data={"csrf_token": token, "new_password": "taken over!"},
        ).status_code
        == 403
    )
    assert (
        http.post(
            f"/t/globex/portal/users/{alice.id}/delete",
            data={"csrf_token": token, "confirm_email": "alice@example.com"},
        ).status_code
        == 403
    )
    stored = stored_user(ctx, alice.id)
    assert stored is not None and not stored.disabled and verify_password(PASSWORD, stored.password_hash)
    with inspect_db(ctx) as session:
        assert session.exec(select(User).where(User.email == "x@example.com")).first() is None
    assert events(ctx, "globex") == []


def test_admin_manages_users_but_not_owners(http, ctx, browser):
    sign_up(http)
    owner_id = owner_actor(ctx).split()[0].removeprefix("user:")
    alice = make_user(ctx, tenant_of(ctx, "globex"), email="alice@example.com")
    admin = add_portal_member(ctx, "globex", "admin@globex.test", "admin")
    portal_sign_in(browser, "globex", "admin@globex.test")
    token = portal_form(browser, f"/t/globex/portal/users/{alice.id}")
    assert browser.post(f"/t/globex/portal/users/{alice.id}/disable", data={"csrf_token": token}).status_code == 303
    for path, data in (
        (f"/portal/users/{owner_id}/disable", {}),
        (f"/portal/users/{owner_id}/reset-password", {"new_password": "taken over!"}),
        (f"/portal/users/{owner_id}/delete", {"confirm_email": "owner@globex.test"}),
    ):
        response = browser.post("/t/globex" + path, data={"csrf_token": token, **data})
        assert response.status_code == 403 and "only an owner" in response.text, path
    assert browser.get(f"/t/globex/portal/users/{owner_id}/delete").status_code == 403
    owner = stored_user(ctx, owner_id)
    assert owner is not None and not owner.disabled
    [event] = events(ctx, "globex")
    assert (event.action, event.actor) == ("user.disabled", f"user:{admin.id} admin@globex.test")


def test_another_tenants_user_id_is_404_and_untouched(http, ctx):
    sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    victim = make_user(ctx, tenant_of(ctx, "initech"), email="victim@initech.test")
    sign_up(http)  # the owner of Globex, in the same browser (cookies are per tenant path)
    token = portal_form(http, "/t/globex/portal/users")
    for path in (f"/portal/users/{victim.id}", f"/portal/users/{victim.id}/delete", "/portal/users/no-such-user"):
        assert http.get("/t/globex" + path).status_code == 404, path
    for action, data in (
        ("disable", {}),
        ("enable", {}),
        ("reset-password", {"new_password": "pwned password"}),
        ("delete", {"confirm_email": "victim@initech.test"}),
    ):
        response = http.post(f"/t/globex/portal/users/{victim.id}/{action}", data={"csrf_token": token, **data})
        assert response.status_code == 404 and "nothing here" in response.text, action
    stored = stored_user(ctx, victim.id)
    assert stored is not None and not stored.disabled and verify_password(PASSWORD, stored.password_hash)
    assert events(ctx, "globex") == [] and events(ctx, "initech") == []


def test_users_csrf_missing_or_wrong_changes_nothing(http, ctx):
    sign_up(http)
    alice = make_user(ctx, tenant_of(ctx, "globex"), email="alice@example.com")
    for token in ("", "0" * 64):
        posts = (
            ("/t/globex/portal/users/new", {"email": "new@example.com", "password": "long enough pw"}),
            (f"/t/globex/portal/users/{alice.id}/disable", {}),
            (f"/t/globex/portal/users/{alice.id}/reset-password", {"new_password": "long enough pw"}),
            (f"/t/globex/portal/users/{alice.id}/delete", {"confirm_email": "alice@example.com"}),
        )
        for path, data in posts:
            response = http.post(path, data={"csrf_token": token, **data})
            assert response.status_code == 403 and "form expired" in response.text, path
    stored = stored_user(ctx, alice.id)
    assert stored is not None and not stored.disabled and verify_password(PASSWORD, stored.password_hash)
    with inspect_db(ctx) as session:
        assert session.exec(select(User).where(User.email == "new@example.com")).first() is None
    assert events(ctx, "globex") == []


def test_user_pages_are_accessible_forms(http, ctx):
    sign_up(http)
    alice = make_user(ctx, tenant_of(ctx, "globex"), email="alice@example.com")
    for path in (
        "/t/globex/portal/users/new",
        f"/t/globex/portal/users/{alice.id}",
        f"/t/globex/portal/users/{alice.id}/delete",
        "/t/globex/portal/users",
    ):
        html = http.get(path).text
        assert 'name="viewport"' in html
        for input_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html):
            assert f'<label for="{input_id}"' in html, (path, input_id)
        visible = re.findall(r'<input(?![^>]*type="hidden")[^>]*>', html)
        assert all(' id="' in tag for tag in visible), (path, visible)
