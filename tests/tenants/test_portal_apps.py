"""Sign-up and the portal's applications, over HTTP: what a developer sees and what the apps can do."""

from sqlmodel import select

from identity.db import session_scope
from tenants.models import AuditEvent, Membership, Tenant
from tests.flow import exchange, sign_in
from tests.tenants.portal_helpers import create_app, portal_form, sign_up


def test_signup_creates_tenant_owner_and_lands_in_portal(http, ctx):
    response = sign_up(http)
    assert response.status_code == 303 and response.headers["location"] == "/t/globex/portal?welcome=1"
    portal = http.get("/t/globex/portal")
    assert portal.status_code == 200 and "Globex Inc" in portal.text and "owner@globex.test" in portal.text
    assert http.get("/t/globex/.well-known/openid-configuration").json()["issuer"].endswith("/t/globex")
    with session_scope(ctx.sessions) as session:
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

    weak = http.post("/signup", data={"csrf_token": csrf(page.text), "org_name": "Weak", "slug": "weak-co",
                                      "email": "a@weak.test", "password": "short"})
    assert weak.status_code == 400 and "at least 8" in weak.text
    with session_scope(ctx.sessions) as session:
        assert [t.slug for t in session.exec(select(Tenant)).all()] == ["globex"]


def test_slug_availability_check(http, ctx):
    sign_up(http)
    assert http.get("/signup/check-slug?slug=globex").json() == {"slug": "globex", "available": False,
                                                                  "reason": "This name is taken."}
    assert http.get("/signup/check-slug?slug=initech").json()["available"] is True


def test_signup_without_csrf_is_refused(http, ctx):
    response = http.post("/signup", data={"org_name": "X", "slug": "xco", "email": "a@x.test", "password": "long password"})
    assert response.status_code == 400 and "expired" in response.text


def test_registered_app_completes_a_code_flow(http, ctx):
    sign_up(http)
    client_id, secret, page = create_app(http, "globex")
    assert "Copy the client secret now" in page and secret
    assert f"{client_id}" in page and "code_challenge_method=S256" in page and "grant_type=authorization_code" in page
    # The secret is not shown again.
    again = http.get(f"/t/globex/portal/apps/{client_id}")
    assert secret not in again.text
    from tests.factories import make_user  # noqa: PLC0415
    from tenants.resolution import find_tenant  # noqa: PLC0415

    with session_scope(ctx.sessions) as session:
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
