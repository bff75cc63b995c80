"""Rendering portal pages, and turning portal exceptions into responses."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from identity.web import PAGE_HEADERS, redirect
from tenants.portal.access import Forbidden, Member, NotFound, NotSignedIn

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


async def not_signed_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotSignedIn)
    return redirect(f"/t/{exc.slug}/portal/login?" + urlencode({"next": exc.next_path}), 303)


async def forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    context = {"tenant_name": exc.tenant_name, "message": exc.message, "base": f"/t/{exc.slug}"}
    return plain_page(request, "portal/forbidden.html", context, 403)


async def not_found(request: Request, exc: Exception) -> Response:
    slug = request.path_params.get("tenant", "")
    context = {"tenant_name": None, "message": "There is nothing here, or it was deleted.", "base": f"/t/{slug}"}
    return plain_page(request, "portal/forbidden.html", {**context, "title": "Not found"}, 404)


HANDLERS = {NotSignedIn: not_signed_in, Forbidden: forbidden, NotFound: not_found}
