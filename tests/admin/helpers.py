"""Driving the admin console over HTTP: admins made through the service, sign-in, forms, TOTP codes."""

from __future__ import annotations

import html
import re
import time

import pyotp
from sqlmodel import col, select
from starlette.testclient import TestClient

from identity.admins import create_admin
from identity.db import session_scope
from identity.models.admin import PlatformAdmin
from identity.models.audit import AuditEvent
from identity.models.tenant import PLATFORM, Tenant
from tests.flow import hidden

ADMIN_EMAIL = "ops@platform.test"
ADMIN_PASSWORD = "admin password 123"


def make_admin(ctx, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> PlatformAdmin:  # type: ignore[no-untyped-def]
    with session_scope(ctx.sessions) as session:
        return create_admin(session, email=email, password=password)


def actor_of(admin: PlatformAdmin) -> str:
    return f"admin:{admin.id} {admin.email}"


def csrf(page_html: str) -> str:
    return hidden(page_html, "csrf_token")


def form_token(http: TestClient, path: str) -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text
    return csrf(page.text)


def post_login(http: TestClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, next_path: str = ""):  # type: ignore[no-untyped-def]
    page = http.get("/admin/login" + (f"?next={next_path}" if next_path else ""))
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": csrf(page.text),
        "email": email,
        "password": password,
        "next": html.unescape(hidden(page.text, "next")),
    }
    return http.post("/admin/login", data=data)


def sign_in(http: TestClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    done = post_login(http, email, password)
    assert done.status_code == 303 and done.headers["location"] == "/admin/tenants", done.text


def totp_code(secret: str, offset: int = 0) -> str:
    """The code of the current time step (or one step beside it, which the window still accepts)."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(time.time()) + offset)


def enrol(http: TestClient) -> str:
    """Turn TOTP on from the account pages, as an admin would; returns the secret the page showed."""
    page = http.get("/admin/account/totp")
    assert page.status_code == 200, page.text
    secret = re.search(r'id="totp-secret" type="text" value="([A-Z2-7]+)"', page.text).group(1)
    done = http.post("/admin/account/totp", data={"csrf_token": csrf(page.text), "code": totp_code(secret)})
    assert done.status_code == 303 and done.headers["location"] == "/admin/account?notice=totp", done.text
    return secret


def submit_code(http: TestClient, code: str):  # type: ignore[no-untyped-def]
    page = http.get("/admin/login/totp")
    assert page.status_code == 200, page.text
    return http.post(
        "/admin/login/totp",
        data={"csrf_token": csrf(page.text), "code": code, "next": html.unescape(hidden(page.text, "next"))},
    )


def platform_events(ctx, action_prefix: str = "") -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    """The platform tenant's audit log, oldest first."""
    with session_scope(ctx.sessions) as session:
        platform = session.exec(select(Tenant).where(Tenant.kind == PLATFORM)).first()
        if platform is None:
            return []
        query = select(AuditEvent).where(AuditEvent.tenant_id == platform.id)
        if action_prefix:
            query = query.where(col(AuditEvent.action).startswith(action_prefix))
        return list(session.exec(query.order_by(col(AuditEvent.created_at), col(AuditEvent.id))).all())


def cells(page_html: str) -> list[list[str]]:
    """The body rows of the page's table, as plain text per cell."""
    body = page_html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    text = lambda cell: html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()  # noqa: E731
    return [[" ".join(text(cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]
