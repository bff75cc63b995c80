"""Password hashes made with older parameters are upgraded at the next successful sign-in, whichever page
took the password: the hosted login, the admin console, accepting an invitation. A wrong password
upgrades nothing."""

from __future__ import annotations

from passlib.context import CryptContext
from sqlmodel import select

from identity.models.admin import PlatformAdmin
from identity.models.user import User
from identity.passwords import needs_rehash, verify_password
from tests.admin.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, make_admin, post_login
from tests.factories import PASSWORD, inspect_db, make_client, make_tenant, make_user
from tests.flow import authorize_url, pkce_pair, submit_login
from tests.tenants.portal_helpers import csrf, sign_up, tenant_of
from tests.tenants.test_portal_team import invitation_link, invite, new_browser

# What an older release stored: argon2id with a tenth of today's memory and one pass.
OLD = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=8192, argon2__rounds=1)


def _age_user_hash(ctx, tenant_id: str, email: str, password: str) -> str:  # type: ignore[no-untyped-def]
    old = OLD.hash(password)
    with inspect_db(ctx) as session:
        user = session.exec(select(User).where(User.tenant_id == tenant_id, User.email == email)).one()
        user.password_hash = old
        session.add(user)
        session.commit()
    assert needs_rehash(old)
    return old


def _user_hash(ctx, tenant_id: str, email: str) -> str:  # type: ignore[no-untyped-def]
    with inspect_db(ctx) as session:
        return session.exec(select(User).where(User.tenant_id == tenant_id, User.email == email)).one().password_hash


def _login_page(http, rp):  # type: ignore[no-untyped-def]
    _, challenge = pkce_pair()
    url = authorize_url("acme", rp.client_id, code_challenge=challenge, code_challenge_method="S256")
    return http.get(http.get(url).headers["location"])


def test_hosted_login_upgrades_an_old_hash_only_when_the_password_is_right(http, ctx):
    tenant = make_tenant(ctx)
    make_user(ctx, tenant)
    rp = make_client(ctx, tenant)
    old = _age_user_hash(ctx, tenant.id, "alice@example.com", PASSWORD)

    wrong = submit_login(http, "acme", _login_page(http, rp).text, "alice@example.com", "not the password")
    assert wrong.status_code == 401 and _user_hash(ctx, tenant.id, "alice@example.com") == old

    done = submit_login(http, "acme", _login_page(http, rp).text, "alice@example.com", PASSWORD)
    assert done.status_code == 303
    new = _user_hash(ctx, tenant.id, "alice@example.com")
    assert new != old and not needs_rehash(new) and verify_password(PASSWORD, new)

    # Signing in again with the upgraded hash works and leaves it as it is.
    http.cookies.clear()
    again = submit_login(http, "acme", _login_page(http, rp).text, "alice@example.com", PASSWORD)
    assert again.status_code == 303 and _user_hash(ctx, tenant.id, "alice@example.com") == new


def test_admin_sign_in_upgrades_an_old_hash(http, ctx):
    make_admin(ctx)
    with inspect_db(ctx) as session:
        admin = session.exec(select(PlatformAdmin)).one()
        admin.password_hash = old = OLD.hash(ADMIN_PASSWORD)
        session.add(admin)
        session.commit()
    assert post_login(http, password="not the password").status_code == 401
    assert post_login(http).status_code == 303
    with inspect_db(ctx) as session:
        stored = session.exec(select(PlatformAdmin).where(PlatformAdmin.email == ADMIN_EMAIL)).one().password_hash
    assert stored != old and not needs_rehash(stored) and verify_password(ADMIN_PASSWORD, stored)


def test_accepting_an_invitation_with_an_existing_account_upgrades_its_hash(http, ctx, app):
    sign_up(http)
    tenant = tenant_of(ctx)
    make_user(ctx, tenant, email="bob@example.com", name="Bob")
    old = _age_user_hash(ctx, tenant.id, "bob@example.com", PASSWORD)
    link = invitation_link(invite(http, "bob@example.com", "developer").text)
    with new_browser(app) as browser:
        page = browser.get(link)
        joined = browser.post(link, data={"csrf_token": csrf(page.text), "password": PASSWORD})
    assert joined.status_code == 303
    new = _user_hash(ctx, tenant.id, "bob@example.com")
    assert new != old and not needs_rehash(new) and verify_password(PASSWORD, new)
