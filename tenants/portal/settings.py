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
from identity.initial_tokens import list_initial_tokens, status_of
from identity.models.team import ADMIN
from identity.models.tenant import DEVICE_CODE, REGISTRATION_OFF, REGISTRATION_OPEN, REGISTRATION_TOKEN
from identity.web import app_context, in_transaction, redirect
from tenants.manage import initial_tokens
from tenants.manage.errors import Invalid
from tenants.manage.settings import change_settings
from tenants.portal import forms
from tenants.portal.access import Member, require_member
from tenants.portal.web import forget_once, portal_page, refusals, show_once, take_once
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
        # (a form without the choice keeps the saved one)
        "dynamic_registration": forms.text(form, "dynamic_registration", 20) or str(current["dynamic_registration"]),
    }


REGISTRATION_LABELS = {
    REGISTRATION_OFF: "Off: apps are registered here in the portal only",
    REGISTRATION_TOKEN: "With an initial access token: only those you give a token to can register apps",
    REGISTRATION_OPEN: "Open: anyone can register an app",
}
NOTICES = {
    "saved": "Settings saved.",
    "unchanged": "Nothing changed.",
    "token_revoked": "The initial access token was revoked: it registers no more apps.",
}


def _page(
    request: Request,
    session: Session,
    member: Member,
    values: dict[str, Any],
    *,
    errors: dict[str, list[str]] | None = None,
    token_errors: dict[str, list[str]] | None = None,
    token_values: dict[str, Any] | None = None,
    new_token: dict[str, Any] | None = None,
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
        "registration_modes": REGISTRATION_LABELS,
        "initial_tokens": [(row, status_of(row)) for row in list_initial_tokens(session, member.tenant.id)],
        "token_errors": token_errors or {},
        "token_values": token_values or {"label": "", "lifetime_days": 30, "max_uses": ""},
        "new_token": new_token,
        "registration_endpoint": f"{request.app.state.ctx.settings.issuer(member.tenant.slug)}/clients",
    }
    return portal_page(request, member, "portal/settings.html", context, section="settings", status=status)


async def settings_page(request: Request) -> Response:
    slug = request.path_params["tenant"]
    once = take_once(request)
    new_token = once if once is not None and "initial_token" in once else None

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), ADMIN)
        notice = NOTICES.get(request.query_params.get("notice", ""), "")
        return _page(request, session, member, settings_of(member.tenant), notice=notice, new_token=new_token)

    response = await in_transaction(request, work)
    if new_token is not None:
        forget_once(response, slug)  # shown once: a reload shows the page without the token
    return response


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
            return _page(request, session, member, values, errors=error.fields, status=400)
        return redirect(f"/t/{slug}/portal/settings?notice={'saved' if changed else 'unchanged'}", 303)

    return await in_transaction(request, work, keep=lambda _s, response: response.status_code < 400)


async def initial_token_create(request: Request) -> Response:
    """A new initial access token for dynamic registration, shown once on the settings page."""
    slug = request.path_params["tenant"]
    form = await request.form()
    ctx = app_context(request)

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        values = {
            "label": forms.text(form, "label", 200),
            "lifetime_days": forms.optional_int(form, "lifetime_days"),
            "max_uses": forms.optional_int(form, "max_uses"),  # None (blank): no limit
        }
        try:
            with refusals(member):
                new = initial_tokens.create_initial_token(session, ctx, member.tenant, member.actor, **values)
        except Invalid as error:
            current = settings_of(member.tenant)
            return _page(request, session, member, current, token_errors=error.fields, token_values=values, status=400)
        once = {"initial_token": new.token, "label": new.row.label}
        return show_once(request, redirect(f"/t/{slug}/portal/settings#initial-tokens", 303), slug, once)

    return await in_transaction(request, work, keep=lambda _s, response: response.status_code < 400)


async def initial_token_revoke(request: Request) -> Response:
    slug, token_id = request.path_params["tenant"], request.path_params["token_id"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = require_member(
            session, request, resolve_tenant(session, slug), ADMIN, csrf=forms.text(form, "csrf_token")
        )
        with refusals(member):
            row = initial_tokens.get_initial_token(session, member.tenant, token_id)
            initial_tokens.revoke(session, member.tenant, member.actor, row)
        return redirect(f"/t/{slug}/portal/settings?notice=token_revoked#initial-tokens", 303)

    return await in_transaction(request, work)


routes = [
    Route("/portal/settings", settings_page, methods=["GET"]),
    Route("/portal/settings", settings_save, methods=["POST"]),
    Route("/portal/settings/initial-access-tokens", initial_token_create, methods=["POST"]),
    Route("/portal/settings/initial-access-tokens/{token_id}/revoke", initial_token_revoke, methods=["POST"]),
]
