"""Rendering console pages, carrying a one-time value across a redirect, and the console's error responses."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from identity.web import redirect
from tenants.admin.access import CsrfRefused, EnrolmentRequired, NotSignedIn, SecondStepPending, SignedInAdmin
from tenants.admin.cookies import PATH, admin_cookies
from tenants.pages import OneTimeValue, render

NAV = [
    ("tenants", "Tenants", "/admin/tenants"),
    ("audit", "Audit log", "/admin/audit"),
    ("account", "Account", "/admin/account"),
]


def admin_page(
    request: Request, admin: SignedInAdmin, template: str, context: dict[str, Any], *, section: str, status: int = 200
) -> Response:
    """A page of the signed-in console (top bar, navigation, sign-out form)."""
    full = {"admin": admin, "nav": NAV, "section": section, "csrf_token": admin.csrf_token, **context}
    response = render(request, template, full, status)
    if admin.new_browser_id:
        admin_cookies(request).set_browser_id(response, admin.browser_id)
    return response


def card_page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page in the hosted pages' centred card (sign-in, second step, errors before sign-in)."""
    return render(request, template, {"tenant_name": "Identity platform", **context}, status)


# -- one-time values (the owner's invitation link) across the redirect after a form post --------------

SHOWN_ONCE = OneTimeValue("idp_admin_once", "admin-show-once", samesite="strict")


def show_once(request: Request, response: Response, data: dict[str, Any]) -> Response:
    return SHOWN_ONCE.show(request, response, data, path=PATH)


def take_once(request: Request) -> dict[str, Any] | None:
    return SHOWN_ONCE.take(request)


def forget_once(response: Response) -> None:
    SHOWN_ONCE.forget(response, path=PATH)


# -- errors ---------------------------------------------------------------------------------------------


class PageNotFound(Exception):
    """No such tenant (or page) in the console: a 404 page, inside the console for a signed-in admin."""

    def __init__(self, admin: SignedInAdmin, message: str = "There is nothing here, or it was deleted.") -> None:
        super().__init__(message)
        self.admin, self.message = admin, message


async def not_signed_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotSignedIn)
    step = "/admin/login/totp" if isinstance(exc, SecondStepPending) else "/admin/login"
    return redirect(f"{step}?" + urlencode({"next": exc.next_path}), 303)


async def enrolment_required(request: Request, exc: Exception) -> Response:
    return redirect("/admin/account/totp", 303)


async def csrf_refused(request: Request, exc: Exception) -> Response:
    context = {
        "title": "The form has expired",
        "message": "The form expired or did not come from this console. Go back, reload the page and try again.",
    }
    return card_page(request, "admin/problem.html", context, 403)


async def page_not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageNotFound)
    context = {"title": "Not found", "message": exc.message}
    return admin_page(request, exc.admin, "admin/not_found.html", context, section="", status=404)


HANDLERS = {
    NotSignedIn: not_signed_in,
    EnrolmentRequired: enrolment_required,
    CsrfRefused: csrf_refused,
    PageNotFound: page_not_found,
}
