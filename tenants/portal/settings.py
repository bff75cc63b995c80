"""Portal: branding and tenant settings (admins and owners). One form; every field is validated by
``tenants.manage.settings.change_settings`` and a refusal is shown next to the field it concerns."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.branding import is_hex_color
from identity.models.team import ADMIN
from identity.models.tenant import DEVICE_CODE
from identity.web import in_transaction, redirect
from tenants.manage.errors import Invalid
from tenants.manage.settings import change_settings
from tenants.portal import forms
from tenants.portal.access import Member, require_member
from tenants.portal.web import portal_page, refusals
from tenants.resolution import resolve_tenant
from tenants.service import SETTING_RANGES, settings_of

GRANT_TYPE_LABELS = {
    "authorization_code": "Authorization code (users sign in through the hosted pages)",
    "refresh_token": "Refresh tokens (apps keep users signed in)",
    "client_credentials": "Client credentials (services call your APIs)",
    DEVICE_CODE: "Device authorization (users sign in to TVs and command-line tools with a code)",
    "password": "Resource owner password (legacy: the app handles users' passwords; each app must opt in)",
    "implicit": "Implicit, id_token and id_token token (legacy: tokens in the address bar; each app must opt in)",
}


def _colour(form: FormData, current: str) -> str:
    """The form has a colour picker and a text field for the same setting. Without a script to keep them
    in step, the one the user changed wins: the text field if it differs from the saved colour, else the
    picker (a browser always sends the picker as a valid #rrggbb)."""
    typed, picked = forms.text(form, "primary_color", 50), forms.text(form, "primary_color_picker", 50)
    if typed.lower() != current.lower():
        return typed
    return picked if is_hex_color(picked) else typed


def _values_from(form: FormData, current: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": forms.text(form, "name", 1000),
        "logo_url": forms.text(form, "logo_url", 5000),
        "primary_color": _colour(form, str(current["primary_color"])),
        "signup_open": forms.text(form, "signup_open") == "on",
        "access_token_ttl": forms.optional_int(form, "access_token_ttl"),
        "id_token_ttl": forms.optional_int(form, "id_token_ttl"),
        "refresh_token_ttl": forms.optional_int(form, "refresh_token_ttl"),
        "refresh_without_offline_access": forms.text(form, "refresh_without_offline_access") == "on",
        "audit_retention_days": forms.optional_int(form, "audit_retention_days"),
        "allowed_grant_types": forms.many(form, "allowed_grant_types"),
    }


def _page(
    request: Request,
    member: Member,
    values: dict[str, Any],
    *,
    errors: dict[str, list[str]] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    typed = str(values["primary_color"])
    picker = typed if is_hex_color(typed) else member.tenant.primary_color
    context = {
        "values": values,
        "picker": str(picker).lower(),
        "errors": errors or {},
        "notice": notice,
        "ranges": SETTING_RANGES,
        "grant_types": GRANT_TYPE_LABELS,
    }
    return portal_page(request, member, "portal/settings.html", context, section="settings", status=status)


async def settings_page(request: Request) -> Response:
    slug = request.path_params["tenant"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), ADMIN)
        notice = {"saved": "Settings saved.", "unchanged": "Nothing changed."}.get(
            request.query_params.get("notice", ""), ""
        )
        return _page(request, member, settings_of(member.tenant), notice=notice)

    return await in_transaction(request, work)


async def settings_save(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        values = _values_from(form, settings_of(member.tenant))
        try:
            with refusals(member):
                changed = change_settings(session, member.tenant, member.actor, **values)
        except Invalid as error:
            return _page(request, member, values, errors=error.fields, status=400)
        return redirect(f"/t/{slug}/portal/settings?notice={'saved' if changed else 'unchanged'}", 303)

    return await in_transaction(request, work, keep=lambda _s, response: response.status_code < 400)


routes = [
    Route("/portal/settings", settings_page, methods=["GET"]),
    Route("/portal/settings", settings_save, methods=["POST"]),
]
