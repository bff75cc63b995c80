"""Sign-up and the portal's applications, over HTTP: what a developer sees and what the apps can do."""

from sqlmodel import select

from identity.models.audit import AuditEvent
from identity.models.team import Membership
from identity.models.tenant import Tenant
from tests.factories import inspect_db
from tests.flow import exchange, sign_in
from tests.tenants.portal_helpers import create_app, portal_form, portal_sign_in, sign_up


def test_signup_creates_tenant_owner_and_lands_in_portal(http, ctx):
    response = sign_up(http)
    assert response.status_code == 303 and response.headers["location"] == "/t/globex/portal?welcome=1"
    portal = http.get("/t/globex/portal")
    assert portal.status_code == 200 and "Globex Inc" in portal.text and "owner@globex.test" in portal.text
    assert http.get("/t/globex/.well-known/openid-configuration").json()["issuer"].endswith("/t/globex")
    with inspect_db(ctx) as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == "globex")).one()
        assert session.exec(select(Membership).where(Membership.tenant_id == tenant.id)).one().role == "owner"
        assert [e.action for e in session.exec(select(AuditEvent)).all()] == ["tenant.created"]


def test_signup_refusals_create_nothing(http, ctx):
    sign_up(http)
    taken = sign_up(http, email="other@x.test")
    assert taken.status_code == 400 and "This name is taken." in taken.text
    bad = sign_up(http, slug="Bad Slug!", email="x@x.test")
    assert bad.status_code == 400 and "lowercase letters" in bad.text
    reserved = sign_up(http, slug="admin", email="x@x.test")
    assert reserved.status_code == 400 and "reserved" in reserved.text
    page = http.get("/signup")
    from tests.tenants.portal_helpers import csrf  # noqa: PLC0415

    weak = http.post(
        "/signup",
        data={
            "csrf_token": csrf(page.text),
            "org_name": "Weak",
            "slug": "weak-co",
            "email": "a@weak.test",
            "password": "short",
        },
    )
    assert weak.status_code == 400 and "at least 8" in weak.text
    with inspect_db(ctx) as session:
        assert [t.slug for t in session.exec(select(Tenant)).all()] == ["globex"]


def test_slug_availability_check(http, ctx):
    sign_up(http)
    assert http.get("/signup/check-slug?slug=globex").json() == {
        "slug": "globex",
        "available": False,
        "reason": "This name is taken.",
    }
    assert http.get("/signup/check-slug?slug=initech").json()["available"] is True


def test_signup_without_csrf_is_refused(http, ctx):
    response = http.post(
        "/signup", data={"org_name": "X", "slug": "xco", "email": "a@x.test", "password": "long password"}
    )
    assert response.status_code == 400 and "expired" in response.text


def test_registered_app_completes_a_code_flow(http, ctx):
    sign_up(http)
    client_id, secret, page = create_app(http, "globex")
    assert "Copy the client secret now" in page and secret
    assert f"{client_id}" in page and "code_challenge_method=S256" in page and "grant_type=authorization_code" in page
    # The secret is not shown again.
    again = http.get(f"/t/globex/portal/apps/{client_id}")
    assert secret not in again.text
    from tenants.resolution import find_tenant  # noqa: PLC0415
    from tests.factories import make_user  # noqa: PLC0415

    with inspect_db(ctx) as session:
        tenant = find_tenant(session, "globex")
    make_user(ctx, tenant, email="alice@example.com")
    http.cookies.clear()
    shop = "https://shop.example.com/cb"
    result = sign_in(http, "globex", client_id, redirect_uri=shop)
    tokens = exchange(http, "globex", client_id, secret, result["code"], result["_verifier"], redirect_uri=shop)
    assert tokens["status"] == 200, tokens


def test_portal_requires_sign_in_through_the_tenants_own_login(http, ctx):
    sign_up(http)
    http.cookies.clear()
    response = http.get("/t/globex/portal/apps/new")
    assert response.status_code == 303 and response.headers["location"].startswith("/t/globex/portal/login?next=")
    login = http.get(response.headers["location"])
    assert login.status_code == 303 and "/t/globex/authorize?" in login.headers["location"]


def cc_status(http, slug, client_id, secret):
    return http.post(
        f"/t/{slug}/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    ).status_code


def m2m_app(http, slug="globex"):
    return create_app(http, slug, app_type="m2m", name="Batch", redirect_uris="", scopes=[])


def test_secret_rotation_with_and_without_grace(http, ctx):
    sign_up(http)
    client_id, old_secret, _ = m2m_app(http)
    assert cc_status(http, "globex", client_id, old_secret) == 200
    token = portal_form(http, f"/t/globex/portal/apps/{client_id}")
    posted = http.post(
        f"/t/globex/portal/apps/{client_id}/rotate-secret", data={"csrf_token": token, "grace_seconds": "3600"}
    )
    assert posted.status_code == 303
    rotated = http.get(posted.headers["location"])
    assert rotated.status_code == 200 and "New client secret" in rotated.text
    # Shown once: the same page again no longer carries it.
    assert "New client secret" not in http.get(posted.headers["location"]).text
    import re  # noqa: PLC0415

    new_secret = re.search(r'id="new-client-secret" type="text" value="([^"]+)"', rotated.text).group(1)
    assert cc_status(http, "globex", client_id, new_secret) == 200
    assert cc_status(http, "globex", client_id, old_secret) == 200  # within the grace period
    # When the grace period is over, the old secret stops working.
    from identity.models.client import Client  # noqa: PLC0415

    with inspect_db(ctx) as session:
        row = session.exec(select(Client).where(Client.id == client_id)).one()
        row.previous_secret_expires_at = 1
        session.add(row)
    assert cc_status(http, "globex", client_id, old_secret) == 401
    # Without grace, the previous secret stops at once.
    token = portal_form(http, f"/t/globex/portal/apps/{client_id}")
    http.post(f"/t/globex/portal/apps/{client_id}/rotate-secret", data={"csrf_token": token, "grace_seconds": "0"})
    assert cc_status(http, "globex", client_id, new_secret) == 401
    with inspect_db(ctx) as session:
        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("client.secret_rotated") == 2 and actions.count("client.created") == 1


def test_delete_revokes_tokens_after_typed_confirmation(http, ctx):
    sign_up(http)
    client_id, secret, _ = create_app(http, "globex")
    from tenants.resolution import find_tenant  # noqa: PLC0415
    from tests.factories import make_user  # noqa: PLC0415

    with inspect_db(ctx) as session:
        tenant = find_tenant(session, "globex")
    make_user(ctx, tenant, email="alice@example.com")
    owner_cookies = dict(http.cookies)
    http.cookies.clear()
    shop = "https://shop.example.com/cb"
    result = sign_in(http, "globex", client_id, redirect_uri=shop)
    tokens = exchange(http, "globex", client_id, secret, result["code"], result["_verifier"], redirect_uri=shop)
    http.cookies.clear()
    for name, value in owner_cookies.items():
        http.cookies.set(name, value, path="/t/globex")
    token = portal_form(http, f"/t/globex/portal/apps/{client_id}/delete")
    wrong = http.post(f"/t/globex/portal/apps/{client_id}/delete", data={"csrf_token": token, "confirm_name": "shop"})
    assert wrong.status_code == 400 and "exactly" in wrong.text
    done = http.post(f"/t/globex/portal/apps/{client_id}/delete", data={"csrf_token": token, "confirm_name": "Shop"})
    assert done.status_code == 303
    assert http.get(f"/t/globex/portal/apps/{client_id}").status_code == 404
    refresh = http.post(
        "/t/globex/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client_id, secret),
    )
    assert refresh.status_code == 401  # the client itself is gone
    info = http.get("/t/globex/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


def test_redirect_uri_refusals_are_shown_per_field(http, ctx):
    sign_up(http)
    token = portal_form(http, "/t/globex/portal/apps/new")
    cases = {
        "http://shop.example.com/cb": "must use https",
        "https://shop.example.com/cb#x": "fragment",
        "https://*.example.com/cb": "wildcards",
        "shop:/cb": "reversed domain",
        "javascript:alert(1)": "not allowed",
        "/relative": "absolute",
    }
    for uri, reason in cases.items():
        response = http.post(
            "/t/globex/portal/apps/new",
            data={"csrf_token": token, "app_type": "web", "name": "Shop", "redirect_uris": uri, "scopes": ["openid"]},
        )
        assert response.status_code == 400 and reason in response.text, (uri, response.text[-2000:])
        assert 'aria-describedby="redirect-help redirect_uris-errors"' in response.text
    with inspect_db(ctx) as session:
        from identity.models.client import Client  # noqa: PLC0415

        assert [c.name for c in session.exec(select(Client)).all()] == ["Developer portal"]


def test_another_tenants_app_id_is_404_and_untouched(http, ctx):
    sign_up(http, slug="initech", name="Initech", email="owner@initech.test")
    victim_id, _, _ = create_app(http, "initech")
    http.cookies.clear()
    sign_up(http)
    token = portal_form(http, "/t/globex/portal/apps/new")
    assert http.get(f"/t/globex/portal/apps/{victim_id}").status_code == 404
    assert (
        http.post(f"/t/globex/portal/apps/{victim_id}", data={"csrf_token": token, "name": "pwned"}).status_code == 404
    )
    assert http.post(f"/t/globex/portal/apps/{victim_id}/rotate-secret", data={"csrf_token": token}).status_code == 404
    assert (
        http.post(
            f"/t/globex/portal/apps/{victim_id}/delete", data={"csrf_token": token, "confirm_name": "Shop"}
        ).status_code
        == 404
    )
    # Globex's owner is not a member of Initech: its portal is closed to them.
    assert http.get("/t/initech/portal").status_code == 303  # no Initech session: sent to Initech's sign-in
    from identity.models.client import Client  # noqa: PLC0415

    with inspect_db(ctx) as session:
        assert session.exec(select(Client).where(Client.id == victim_id)).one().name == "Shop"


def test_csrf_missing_or_wrong_changes_nothing(http, ctx):
    sign_up(http)
    client_id, _, _ = create_app(http, "globex")
    for token in ("", "0" * 64):
        response = http.post(
            f"/t/globex/portal/apps/{client_id}",
            data={"csrf_token": token, "name": "Renamed", "redirect_uris": "https://shop.example.com/cb"},
        )
        assert response.status_code == 403
        assert (
            http.post(
                "/t/globex/portal/apps/new", data={"csrf_token": token, "name": "X", "app_type": "m2m"}
            ).status_code
            == 403
        )
    from identity.models.client import Client  # noqa: PLC0415

    with inspect_db(ctx) as session:
        assert sorted(c.name for c in session.exec(select(Client)).all()) == ["Developer portal", "Shop"]


def test_signed_in_user_without_portal_role_gets_403(http, ctx):
    sign_up(http)
    from tenants.resolution import find_tenant  # noqa: PLC0415
    from tests.factories import make_user  # noqa: PLC0415

    with inspect_db(ctx) as session:
        tenant = find_tenant(session, "globex")
    make_user(ctx, tenant, email="enduser@example.com")
    portal_sign_in(http, "globex", "enduser@example.com")
    response = http.get("/t/globex/portal")
    assert response.status_code == 403 and "not a member" in response.text


def test_developer_role_can_manage_apps(http, ctx):
    sign_up(http)
    from tenants.members import add_member  # noqa: PLC0415
    from tenants.resolution import find_tenant  # noqa: PLC0415
    from tests.factories import make_user  # noqa: PLC0415

    with inspect_db(ctx) as session:
        tenant = find_tenant(session, "globex")
    dev = make_user(ctx, tenant, email="dev@globex.test")
    with inspect_db(ctx) as session:
        add_member(session, tenant.id, dev, "developer")
    back_to = portal_sign_in(http, "globex", "dev@globex.test", next_path="/t/globex/portal/apps/new")
    assert back_to == "/t/globex/portal/apps/new"  # back where they were going
    client_id, secret, _ = create_app(http, "globex", name="Dev app")
    with inspect_db(ctx) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "client.created")).one()
    assert event.actor == f"user:{dev.id} dev@globex.test" and event.target == client_id and event.ip
