"""Rendering portal pages, and turning portal exceptions into responses."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

from identity.crypto import derive_key
from identity.web import PAGE_HEADERS, redirect
from tenants.manage.errors import Missing, NotAllowed
from tenants.portal.access import Forbidden, Member, NotFound, NotSignedIn, csrf_token

# The portal runs its own small script (copy buttons, confirmations), from our origin only.
PORTAL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

NAV = [
    ("apps", "Applications", "/portal"),
    ("users", "Users", "/portal/users"),
    ("team", "Team", "/portal/team"),
    ("scopes", "Scopes", "/portal/scopes"),
    ("settings", "Branding & settings", "/portal/settings"),
    ("audit", "Audit log", "/portal/audit"),
]


ONCE_COOKIE = "idp_portal_once"
ONCE_SECONDS = 300


def _once_cipher(request: Request) -> Fernet:
    key = derive_key(request.app.state.ctx.settings.secret_key, "portal-show-once")
    return Fernet(base64.urlsafe_b64encode(key))


def show_once(request: Request, response: Response, slug: str, data: dict[str, Any]) -> Response:
    """Carry something to show exactly once (a new client secret) across the redirect that follows a form
    post, so a reload cannot post the form again. Encrypted, HttpOnly, portal path, five minutes."""
    token = _once_cipher(request).encrypt(json.dumps(data).encode()).decode()
    response.set_cookie(
        ONCE_COOKIE,
        token,
        max_age=ONCE_SECONDS,
        path=f"/t/{slug}/portal",
        httponly=True,
        samesite="lax",
        secure=request.app.state.ctx.settings.secure_cookies,
    )
    return response


def take_once(request: Request) -> dict[str, Any] | None:
    token = request.cookies.get(ONCE_COOKIE)
    if not token:
        return None
    try:
        data = json.loads(_once_cipher(request).decrypt(token.encode(), ttl=ONCE_SECONDS))
    except (InvalidToken, ValueError):
        return None
    return data if isinstance(data, dict) else None


def forget_once(response: Response, slug: str) -> None:
    response.delete_cookie(ONCE_COOKIE, path=f"/t/{slug}/portal")


def portal_page(
    request: Request, member: Member, template: str, context: dict[str, Any], *, section: str, status: int = 200
) -> Response:
    base = f"/t/{member.tenant.slug}"
    full = {
        "member": member,
        "tenant": member.tenant,
        "tenant_name": member.tenant.name,
        "base": base,
        "nav": [(key, label, base + path) for key, label, path in NAV],
        "section": section,
        "csrf_token": member.csrf_token,
        "issuer": request.app.state.ctx.settings.issuer(member.tenant.slug),
        **context,
    }
    response: Response = request.app.state.templates.TemplateResponse(request, template, full, status_code=status)
    response.headers.update({**PAGE_HEADERS, "Content-Security-Policy": PORTAL_CSP})
    return response


def plain_page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update({**PAGE_HEADERS, "Content-Security-Policy": PORTAL_CSP})
    return response


@contextmanager
def refusals(member: Member) -> Iterator[None]:
    """``tenants.manage`` refusals as the portal's pages: ``Missing`` is the 404 page, ``NotAllowed`` the 403
    page. ``Invalid`` and ``Conflict`` pass through: each handler shows its form again with them."""
    try:
        yield
    except Missing as error:
        raise NotFound(error.message) from error
    except NotAllowed as error:
        raise Forbidden(member.tenant, error.message) from error


async def not_signed_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotSignedIn)
    return redirect(f"/t/{exc.slug}/portal/login?" + urlencode({"next": exc.next_path}), 303)


async def forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    context = {
        "tenant_name": exc.tenant_name,
        "message": exc.message,
        "base": f"/t/{exc.slug}",
        "csrf_token": csrf_token(request),
    }
    return plain_page(request, "portal/forbidden.html", context, 403)


async def not_found(request: Request, exc: Exception) -> Response:
    slug = request.path_params.get("tenant", "")
    context = {"tenant_name": None, "message": "There is nothing here, or it was deleted.", "base": f"/t/{slug}"}
    return plain_page(request, "portal/forbidden.html", {**context, "title": "Not found"}, 404)


HANDLERS = {NotSignedIn: not_signed_in, Forbidden: forbidden, NotFound: not_found}
