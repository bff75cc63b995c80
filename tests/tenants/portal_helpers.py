"""Driving the sign-up page and the portal over HTTP (the browser tests do the same in Chromium)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from identity.db import session_scope
from identity.models.tenant import Tenant
from identity.models.user import User
from tenants.members import add_member
from tenants.resolution import find_tenant
from tests.conftest import PUBLIC_URL
from tests.factories import PASSWORD, make_user
from tests.flow import hidden

OWNER_PASSWORD = "owner password 123"


def csrf(html: str) -> str:
    return hidden(html, "csrf_token")


def sign_up(http: TestClient, slug: str = "globex", name: str = "Globex Inc", email: str = "owner@globex.test"):
    page = http.get("/signup")
    assert page.status_code == 200
    return http.post(
        "/signup",
        data={
            "csrf_token": csrf(page.text),
            "org_name": name,
            "slug": slug,
            "email": email,
            "password": OWNER_PASSWORD,
        },
    )


def portal_form(http: TestClient, path: str) -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text
    return csrf(page.text)


def create_app(http: TestClient, slug: str, **fields) -> tuple[str, str | None, str]:
    token = portal_form(http, f"/t/{slug}/portal/apps/new")
    data = {
        "csrf_token": token,
        "app_type": "web",
        "name": "Shop",
        "redirect_uris": "https://shop.example.com/cb",
        "scopes": ["openid", "profile", "email", "offline_access"],
        **fields,
    }
    created = http.post(f"/t/{slug}/portal/apps/new", data=data)
    assert created.status_code == 303, created.text  # post, then redirect: a reload cannot create it twice
    response = http.get(created.headers["location"])
    assert response.status_code == 200, response.text
    client_id = re.search(r'id="new-client-id" type="text" value="([^"]+)"', response.text).group(1)
    secret = re.search(r'id="new-client-secret" type="text" value="([^"]+)"', response.text)
    return client_id, secret.group(1) if secret else None, response.text


def tenant_of(ctx, slug: str = "globex") -> Tenant:  # type: ignore[no-untyped-def]
    with session_scope(ctx.sessions) as session:
        tenant = find_tenant(session, slug)
    assert tenant is not None
    return tenant


def add_portal_member(ctx, slug: str, email: str, role: str) -> User:  # type: ignore[no-untyped-def]
    tenant = tenant_of(ctx, slug)
    user = make_user(ctx, tenant, email=email, name=email.split("@")[0].title())
    with session_scope(ctx.sessions) as session:
        add_member(session, tenant.id, user, role)
    return user


def portal_sign_in(http: TestClient, slug: str, email: str, password: str = PASSWORD, next_path: str = "") -> str:
    """Sign in to the portal through the tenant's hosted login, as a fresh browser would; returns where the
    portal's callback sends the browser."""
    http.cookies.clear()
    login = http.get(f"/t/{slug}/portal/login" + (f"?next={next_path}" if next_path else ""))
    page = http.get(http.get(login.headers["location"]).headers["location"])
    done = http.post(
        f"/t/{slug}/login",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "flow": hidden(page.text, "flow"),
            "email": email,
            "password": password,
        },
    )
    assert done.status_code == 303, done.text
    callback = http.get(done.headers["location"].removeprefix(PUBLIC_URL))
    assert callback.status_code == 303, callback.text
    return callback.headers["location"]
