"""Driving the sign-up page and the portal over HTTP (the browser tests do the same in Chromium)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.flow import hidden

OWNER_PASSWORD = "owner password 123"


def csrf(html: str) -> str:
    return hidden(html, "csrf_token")


def sign_up(http: TestClient, slug: str = "globex", name: str = "Globex Inc", email: str = "owner@globex.test"):
    page = http.get("/signup")
    assert page.status_code == 200
    return http.post("/signup", data={"csrf_token": csrf(page.text), "org_name": name, "slug": slug,
                                      "email": email, "password": OWNER_PASSWORD})


def portal_form(http: TestClient, path: str) -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text
    return csrf(page.text)


def create_app(http: TestClient, slug: str, **fields) -> tuple[str, str | None, str]:
    token = portal_form(http, f"/t/{slug}/portal/apps/new")
    data = {"csrf_token": token, "app_type": "web", "name": "Shop", "redirect_uris": "https://shop.example.com/cb",
            "scopes": ["openid", "profile", "email", "offline_access"], **fields}
    response = http.post(f"/t/{slug}/portal/apps/new", data=data)
    assert response.status_code == 200, response.text
    client_id = re.search(r'id="new-client-id" type="text" value="([^"]+)"', response.text).group(1)
    secret = re.search(r'id="new-client-secret" type="text" value="([^"]+)"', response.text)
    return client_id, secret.group(1) if secret else None, response.text
