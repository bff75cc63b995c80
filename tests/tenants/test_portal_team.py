"""The portal's Team section and invitations over HTTP: roles, invitation links, refusals."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from identity.app import create_app
from identity.models.audit import AuditEvent
from identity.models.team import Invitation, Membership
from identity.models.user import User
from identity.passwords import verify_password
from tests.conftest import PUBLIC_URL, make_settings
from tests.factories import PASSWORD, inspect_db, make_client, make_user
from tests.flow import sign_in
from tests.tenants.portal_helpers import add_portal_member, csrf, portal_form, portal_sign_in, sign_up, tenant_of

NEW_PASSWORD = "a fresh password"


# -- helpers ---------------------------------------------------------------------------------------


def new_browser(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)


@pytest.fixture
def browser(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A second, independent browser (its own cookie jar) on the same app."""
    client = new_browser(app)
    yield client
    client.close()


# Audited by the hosted pages and the token endpoint, not by the portal.
PROTOCOL_ACTIVITY = ("login.", "consent.", "token.", "code.")


def events(ctx, slug: str = "globex") -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    """The tenant's audit events after its creation, less protocol activity (sign-ins, consents, replays)."""
    tenant = tenant_of(ctx, slug)
    with inspect_db(ctx) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id)).all()
    return [e for e in rows if e.action != "tenant.created" and not e.action.startswith(PROTOCOL_ACTIVITY)]


def roles(ctx, slug: str = "globex") -> dict[str, str]:  # type: ignore[no-untyped-def]
    tenant = tenant_of(ctx, slug)
    with inspect_db(ctx) as session:
        rows = session.exec(
            select(Membership, User).where(
                Membership.tenant_id == tenant.id, User.tenant_id == Membership.tenant_id, User.id == Membership.user_id
            )
        ).all()
    return {user.email: membership.role for membership, user in rows}


def owner(ctx, email: str = "owner@globex.test") -> User:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        return session.exec(select(User).where(User.email == email)).one()


def actor(user: User) -> str:
    return f"user:{user.id} {user.email}"


def invite(http: TestClient, email: str, role: str, slug: str = "globex"):  # type: ignore[no-untyped-def]
    token = portal_form(http, f"/t/{slug}/portal/team")
    return http.post(f"/t/{slug}/portal/team/invite", data={"csrf_token": token, "email": email, "role": role})


def invitation_link(html: str) -> str:
    match = re.search(r'id="invitation-link" type="text" value="([^"]+)"', html)
    assert match, "no invitation link on the page"
    return match.group(1).removeprefix(PUBLIC_URL)


# -- the team page ---------------------------------------------------------------------------------


def test_team_page_lists_members_roles_and_pending_invitations(http, ctx):
    sign_up(http)
    add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    page = http.get("/t/globex/portal/team")
    assert page.status_code == 200 and 'aria-current="page">Team' in page.text
    assert "owner@globex.test" in page.text and "dev@globex.test" in page.text and "Developer" in page.text
    assert "No invitations waiting" in page.text and "Invite someone" in page.text
    assert invite(http, "pending@example.com", "admin").status_code == 200
    again = http.get("/t/globex/portal/team")
    pending = again.text[again.text.index("Pending invitations") :]
    assert "pending@example.com" in pending and "Admin" in pending
    assert 'id="invitation-link"' not in again.text  # the link is shown only right after inviting


def test_developer_sees_the_team_read_only(http, ctx, browser):
    sign_up(http)
    dev = add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    portal_sign_in(browser, "globex", "dev@globex.test")
    page = browser.get("/t/globex/portal/team")
    assert page.status_code == 200 and "owner@globex.test" in page.text
    assert (
        "Invite someone" not in page.text
        and "/role" not in page.text
        and "admins and owners can change it" in page.text
    )
    token = csrf(page.text)
    refused = browser.post(
        "/t/globex/portal/team/invite", data={"csrf_token": token, "email": "x@example.com", "role": "developer"}
    )
    assert refused.status_code == 403 and "needs the admin role" in refused.text
    assert (
        browser.post(f"/t/globex/portal/team/{dev.id}/role", data={"csrf_token": token, "role": "admin"}).status_code
        == 403
    )
    assert browser.post(f"/t/globex/portal/team/{owner(ctx).id}/remove", data={"csrf_token": token}).status_code == 403
    assert roles(ctx) == {"owner@globex.test": "owner", "dev@globex.test": "developer"} and events(ctx) == []
    with inspect_db(ctx) as session:
        assert session.exec(select(Invitation)).all() == []


# -- inviting and accepting ------------------------------------------------------------------------


def test_invitation_link_lets_a_new_user_join_once(http, ctx, app, browser):
    sign_up(http)
    bad = invite(http, "not an email", "admin")
    assert bad.status_code == 400 and "not a valid email address" in bad.text
    assert 'aria-describedby="email-errors"' in bad.text and events(ctx) == []
    invited = invite(http, "new@globex.test", "admin")
    assert invited.status_code == 200 and "Development mode: no email is sent" in invited.text
    assert 'data-copy="invitation-link"' in invited.text
    link = invitation_link(invited.text)
    token = link.rsplit("/", 1)[1]
    assert link == f"/t/globex/portal/invitations/{token}"
    [event] = events(ctx)
    assert (event.action, event.actor) == ("member.invited", actor(owner(ctx)))
    with inspect_db(ctx) as session:
        invitation = session.exec(select(Invitation)).one()
    assert event.target == invitation.id and event.details == {"email": "new@globex.test", "role": "admin"}
    assert token not in str(event.details) and token not in event.target

    # The invitee opens the link in their own browser, signed in nowhere.
    page = browser.get(link)
    assert page.status_code == 200 and "Join Globex Inc" in page.text and "admin" in page.text
    assert '<label for="name">' in page.text and '<label for="password">' in page.text
    assert "idp_browser" in page.headers.get("set-cookie", "")
    for wrong in ("", "0" * 64):
        forged = browser.post(link, data={"csrf_token": wrong, "name": "New Person", "password": NEW_PASSWORD})
        assert forged.status_code == 403 and "form expired" in forged.text
    weak = browser.post(link, data={"csrf_token": csrf(page.text), "name": "", "password": "short"})
    assert weak.status_code == 400 and "Enter your name." in weak.text and "at least 8 characters" in weak.text
    assert 'aria-describedby="name-error"' in weak.text and "password-error" in weak.text
    with inspect_db(ctx) as session:
        assert session.exec(select(User).where(User.email == "new@globex.test")).first() is None
    assert len(events(ctx)) == 1

    joined = browser.post(link, data={"csrf_token": csrf(page.text), "name": "New Person", "password": NEW_PASSWORD})
    assert joined.status_code == 303 and joined.headers["location"] == "/t/globex/portal"
    portal = browser.get("/t/globex/portal")
    assert portal.status_code == 200 and "new@globex.test · admin" in portal.text
    assert roles(ctx)["new@globex.test"] == "admin"
    new_user = owner(ctx, "new@globex.test")
    assert new_user.name == "New Person" and verify_password(NEW_PASSWORD, new_user.password_hash)
    joined_event = events(ctx)[-1]
    assert (joined_event.action, joined_event.target, joined_event.actor) == (
        "member.joined",
        new_user.id,
        actor(new_user),
    )
    assert joined_event.details["role"] == "admin" and joined_event.details["new_account"] is True
    assert len(events(ctx)) == 2

    # The link cannot be used twice, in any browser.
    third = new_browser(app)
    try:
        used = third.get(link)
        assert used.status_code == 404 and "already been used" in used.text
        replay = third.post(
            link,
            data={
                "csrf_token": csrf(used.text) if "csrf_token" in used.text else "",
                "name": "Mallory",
                "password": "mallory password",
            },
        )
        assert replay.status_code == 404
        assert (
            browser.post(
                link, data={"csrf_token": csrf(page.text), "name": "Again", "password": NEW_PASSWORD}
            ).status_code
            == 404
        )
    finally:
        third.close()
    assert len(events(ctx)) == 2 and owner(ctx, "new@globex.test").name == "New Person"
    team = http.get("/t/globex/portal/team").text
    members, pending = team.split("Pending invitations", 1)
    assert "new@globex.test" in members and "new@globex.test" not in pending


def test_existing_user_confirms_with_their_password(http, ctx, browser):
    sign_up(http)
    tenant = tenant_of(ctx)
    bob = make_user(ctx, tenant, email="bob@example.com", name="Bob")
    link = invitation_link(invite(http, "bob@example.com", "developer").text)
    page = browser.get(link)
    assert page.status_code == 200 and "Confirm with your password" in page.text and 'name="name"' not in page.text
    wrong = browser.post(link, data={"csrf_token": csrf(page.text), "password": "not his password"})
    assert wrong.status_code == 401 and "The password is incorrect." in wrong.text
    assert "bob@example.com" not in roles(ctx) and len(events(ctx)) == 1
    # Signed in to the tenant already (through an app), Bob only confirms.
    rp = make_client(ctx, tenant)
    sign_in(browser, "globex", rp.client_id, email="bob@example.com")
    page = browser.get(link)
    assert "You are signed in as bob@example.com" in page.text and 'name="password"' not in page.text
    joined = browser.post(link, data={"csrf_token": csrf(page.text)})
    assert joined.status_code == 303 and browser.get("/t/globex/portal").status_code == 200
    assert roles(ctx)["bob@example.com"] == "developer"
    event = events(ctx)[-1]
    assert (event.action, event.target, event.actor, event.details["new_account"]) == (
        "member.joined",
        bob.id,
        actor(bob),
        False,
    )


def test_existing_user_joins_with_password_and_cannot_rejoin_or_be_reinvited(http, ctx, app, browser):
    sign_up(http)
    make_user(ctx, tenant_of(ctx), email="bob@example.com")
    first = invitation_link(invite(http, "bob@example.com", "developer").text)
    second = invitation_link(invite(http, "bob@example.com", "admin").text)
    page = browser.get(first)
    joined = browser.post(first, data={"csrf_token": csrf(page.text), "password": PASSWORD})
    assert joined.status_code == 303 and roles(ctx)["bob@example.com"] == "developer"
    # The other pending invitation cannot change the role of someone already on the team.
    stale = browser.get(second)
    assert stale.status_code == 200 and "You are already on this organisation" in stale.text
    assert 'type="submit"' not in stale.text
    jar = app.state.cookies
    browser_id = jar._signer.loads(browser.cookies.get("idp_browser", path="/t/globex"))  # noqa: SLF001
    valid = jar.csrf_token(browser_id, "invitation:" + second.rsplit("/", 1)[1])
    refused = browser.post(second, data={"csrf_token": valid, "password": PASSWORD})
    assert refused.status_code == 400 and "You are already on this organisation" in refused.text
    assert roles(ctx)["bob@example.com"] == "developer"
    again = invite(http, "BOB@example.com", "admin")
    assert again.status_code == 400 and "already on the team" in again.text
    assert roles(ctx)["bob@example.com"] == "developer" and [e.action for e in events(ctx)] == [
        "member.invited",
        "member.invited",
        "member.joined",
    ]


def test_wrong_passwords_on_an_invitation_are_throttled(http, ctx, browser):
    sign_up(http)
    make_user(ctx, tenant_of(ctx), email="bob@example.com")
    link = invitation_link(invite(http, "bob@example.com", "developer").text)
    token = csrf(browser.get(link).text)
    for _ in range(ctx.settings.login_max_failures_per_account):
        assert browser.post(link, data={"csrf_token": token, "password": "guess guess"}).status_code == 401
    blocked = browser.post(link, data={"csrf_token": token, "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    assert "bob@example.com" not in roles(ctx) and [e.action for e in events(ctx)] == ["member.invited"]
    # The hosted login's sign-in sequence: each refusal is a login.failed event naming the invitation.
    with inspect_db(ctx) as session:
        failed = session.exec(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
    reasons = sorted(e.details["reason"] for e in failed)
    assert reasons == ["bad_password"] * ctx.settings.login_max_failures_per_account + ["throttled"]
    assert {e.target for e in failed} == {"bob@example.com"} and all("invitation" in e.details for e in failed)


def test_invitation_page_in_prod_says_mail_is_not_configured(database_url):
    application = create_app(make_settings(database_url, env="prod"))
    try:
        with TestClient(application, base_url=PUBLIC_URL, follow_redirects=False) as http:
            sign_up(http)
            invited = invite(http, "new@globex.test", "developer")
            assert invited.status_code == 200 and "Mail delivery is not configured" in invited.text
            assert "Development mode" not in invited.text
            assert invitation_link(invited.text).startswith("/t/globex/portal/invitations/")
    finally:
        application.state.ctx.engine.dispose()


# -- roles -----------------------------------------------------------------------------------------


def test_admin_cannot_make_anyone_owner_or_touch_owners(http, ctx, browser):
    sign_up(http)
    admin = add_portal_member(ctx, "globex", "admin@globex.test", "admin")
    dev = add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    portal_sign_in(browser, "globex", "admin@globex.test")
    page = browser.get("/t/globex/portal/team")
    assert 'value="owner"' not in page.text and "Only an owner can change an owner." in page.text
    token = csrf(page.text)
    for response in (
        browser.post(
            "/t/globex/portal/team/invite", data={"csrf_token": token, "email": "x@example.com", "role": "owner"}
        ),
        browser.post(f"/t/globex/portal/team/{dev.id}/role", data={"csrf_token": token, "role": "owner"}),
        browser.post(f"/t/globex/portal/team/{owner(ctx).id}/role", data={"csrf_token": token, "role": "developer"}),
        browser.post(f"/t/globex/portal/team/{owner(ctx).id}/remove", data={"csrf_token": token}),
    ):
        assert response.status_code == 403 and "Only an owner can grant or take away the owner role" in response.text
    assert roles(ctx) == {"owner@globex.test": "owner", "admin@globex.test": "admin", "dev@globex.test": "developer"}
    assert events(ctx) == []
    with inspect_db(ctx) as session:
        assert session.exec(select(Invitation)).all() == []
    # What an admin may do: developers and admins.
    promoted = browser.post(f"/t/globex/portal/team/{dev.id}/role", data={"csrf_token": token, "role": "admin"})
    assert promoted.status_code == 303 and "Role changed." in browser.get(promoted.headers["location"]).text
    [event] = events(ctx)
    assert (event.action, event.target, event.actor) == ("member.role_changed", dev.id, actor(admin))
    assert event.details == {"email": "dev@globex.test", "old_role": "developer", "new_role": "admin"}
    assert invite(browser, "helper@example.com", "developer").status_code == 200
    bad_role = browser.post(f"/t/globex/portal/team/{dev.id}/role", data={"csrf_token": token, "role": "god"})
    assert bad_role.status_code == 400 and "Choose a role" in bad_role.text
    assert roles(ctx)["dev@globex.test"] == "admin"


def test_owner_changes_roles_and_removes_members_one_event_each(http, ctx):
    sign_up(http)
    boss = owner(ctx)
    dev = add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    token = portal_form(http, "/t/globex/portal/team")
    assert (
        http.post(f"/t/globex/portal/team/{dev.id}/role", data={"csrf_token": token, "role": "owner"}).status_code
        == 303
    )
    assert roles(ctx)["dev@globex.test"] == "owner"
    unchanged = http.post(f"/t/globex/portal/team/{dev.id}/role", data={"csrf_token": token, "role": "owner"})
    assert unchanged.status_code == 303 and len(events(ctx)) == 1
    removed = http.post(f"/t/globex/portal/team/{dev.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303 and "Member removed" in http.get(removed.headers["location"]).text
    assert "dev@globex.test" not in roles(ctx)
    assert owner(ctx, "dev@globex.test").id == dev.id  # the user account stays
    changed, gone = events(ctx)
    assert (changed.action, changed.target, changed.actor) == ("member.role_changed", dev.id, actor(boss))
    assert (gone.action, gone.target, gone.actor) == ("member.removed", dev.id, actor(boss))
    assert gone.details == {"email": "dev@globex.test", "role": "owner"}


def test_last_owner_cannot_be_demoted_or_removed(http, ctx):
    sign_up(http)
    boss = owner(ctx)
    token = portal_form(http, "/t/globex/portal/team")
    demote = http.post(f"/t/globex/portal/team/{boss.id}/role", data={"csrf_token": token, "role": "admin"})
    assert (
        demote.status_code == 400
        and "the last owner cannot be demoted" in demote.text
        and 'role="alert"' in demote.text
    )
    remove = http.post(f"/t/globex/portal/team/{boss.id}/remove", data={"csrf_token": token})
    assert remove.status_code == 400 and "the last owner cannot be removed" in remove.text
    assert roles(ctx) == {"owner@globex.test": "owner"} and events(ctx) == []
    # With a second owner, the first may step down.
    second = add_portal_member(ctx, "globex", "second@globex.test", "owner")
    assert (
        http.post(f"/t/globex/portal/team/{boss.id}/role", data={"csrf_token": token, "role": "admin"}).status_code
        == 303
    )
    assert roles(ctx) == {"owner@globex.test": "admin", "second@globex.test": "owner"}
    assert [e.action for e in events(ctx)] == ["member.role_changed"]
    del second


# -- tampering -------------------------------------------------------------------------------------


def test_another_tenants_ids_and_invitations_are_404(http, ctx):
    sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    victim = add_portal_member(ctx, "initech", "dev@initech.test", "developer")
    initech_owner = owner(ctx, "owner@initech.test")
    initech_link = invitation_link(invite(http, "someone@initech.test", "developer", slug="initech").text)
    sign_up(http)
    token = portal_form(http, "/t/globex/portal/team")
    for user_id in (victim.id, initech_owner.id, "no-such-user"):
        assert (
            http.post(f"/t/globex/portal/team/{user_id}/role", data={"csrf_token": token, "role": "owner"}).status_code
            == 404
        )
        assert http.post(f"/t/globex/portal/team/{user_id}/remove", data={"csrf_token": token}).status_code == 404
    # A user of Globex who is not on the team is not a member either.
    end_user = make_user(ctx, tenant_of(ctx), email="enduser@globex.test")
    assert (
        http.post(f"/t/globex/portal/team/{end_user.id}/role", data={"csrf_token": token, "role": "admin"}).status_code
        == 404
    )
    # Initech's invitation token means nothing under Globex.
    globex_path = initech_link.replace("/t/initech/", "/t/globex/")
    page = http.get(globex_path)
    assert page.status_code == 404
    assert http.post(globex_path, data={"csrf_token": "x", "name": "Eve", "password": NEW_PASSWORD}).status_code == 404
    assert roles(ctx, "initech") == {"owner@initech.test": "owner", "dev@initech.test": "developer"}
    assert roles(ctx) == {"owner@globex.test": "owner"} and events(ctx) == []
    with inspect_db(ctx) as session:
        assert session.exec(select(Invitation).where(Invitation.accepted_at.is_not(None))).all() == []  # type: ignore[union-attr]


def test_team_csrf_missing_or_wrong_changes_nothing(http, ctx):
    sign_up(http)
    dev = add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    for token in ("", "0" * 64):
        for path, data in (
            ("/t/globex/portal/team/invite", {"email": "x@example.com", "role": "developer"}),
            (f"/t/globex/portal/team/{dev.id}/role", {"role": "admin"}),
            (f"/t/globex/portal/team/{dev.id}/remove", {}),
        ):
            response = http.post(path, data={"csrf_token": token, **data})
            assert response.status_code == 403 and "form expired" in response.text, path
    assert roles(ctx) == {"owner@globex.test": "owner", "dev@globex.test": "developer"} and events(ctx) == []
    with inspect_db(ctx) as session:
        assert session.exec(select(Invitation)).all() == []


def test_team_and_invitation_pages_are_accessible_forms(http, ctx, browser):
    sign_up(http)
    add_portal_member(ctx, "globex", "dev@globex.test", "developer")
    team = invite(http, "new@globex.test", "developer").text
    invitation = browser.get(invitation_link(team)).text
    for html in (team, invitation):
        assert 'name="viewport"' in html
        for input_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html):
            assert f'<label for="{input_id}"' in html, input_id
        visible = re.findall(r'<(?:input(?![^>]*type="hidden")|select)[^>]*>', html)
        assert all(' id="' in tag for tag in visible), visible


def test_two_browsers_racing_for_one_invitation_only_one_joins(http, ctx, app):
    """The invitation is claimed with one conditional UPDATE: of simultaneous acceptances exactly one wins."""
    sign_up(http)
    link = invitation_link(invite(http, "new@globex.test", "developer").text)
    browsers = [new_browser(app) for _ in range(4)]
    try:
        tokens = [csrf(b.get(link).text) for b in browsers]
        barrier = threading.Barrier(len(browsers))

        def accept(index: int) -> int:
            barrier.wait()
            data = {"csrf_token": tokens[index], "name": f"Racer {index}", "password": NEW_PASSWORD}
            return browsers[index].post(link, data=data).status_code

        with ThreadPoolExecutor(len(browsers)) as pool:
            statuses = sorted(pool.map(accept, range(len(browsers))))
    finally:
        for b in browsers:
            b.close()
    assert statuses == [303, 404, 404, 404]
    assert roles(ctx) == {"owner@globex.test": "owner", "new@globex.test": "developer"}
    assert [e.action for e in events(ctx)] == ["member.invited", "member.joined"]
