"""Rendering portal pages, and turning portal exceptions into responses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from identity.web import redirect
from tenants.manage.errors import Missing, NotAllowed
from tenants.pages import OneTimeValue, render
from tenants.portal.access import Forbidden, Member, NotFound, NotSignedIn, csrf_token

NAV = [
    ("apps", "Applications", "/portal"),
    ("users", "Users", "/portal/users"),
    ("team", "Team", "/portal/team"),
    ("scopes", "Scopes", "/portal/scopes"),
    ("settings", "Branding & settings", "/portal/settings"),
    ("audit", "Audit log", "/portal/audit"),
]


SHOWN_ONCE = OneTimeValue("idp_portal_once", "portal-show-once", samesite="lax")


def show_once(request: Request, response: Response, slug: str, data: dict[str, Any]) -> Response:
    """Carry ``data`` (a new client secret) to the page after this form post's redirect, once."""
    return SHOWN_ONCE.show(request, response, data, path=f"/t/{slug}/portal")


def take_once(request: Request) -> dict[str, Any] | None:
    return SHOWN_ONCE.take(request)


def forget_once(response: Response, slug: str) -> None:
    SHOWN_ONCE.forget(response, path=f"/t/{slug}/portal")


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
    return render(request, template, full, status)


def plain_page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, template, context, status)


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
