"""Portal: scopes. The standard OpenID Connect scopes (read-only) and the tenant's own: create, describe,
delete, all on one page. Scope names travel in form fields, never in the path (they may contain '/')."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.clients import list_clients
from identity.models.tenant import TenantScope
from identity.scopes import STANDARD_SCOPES, tenant_scopes
from identity.web import in_transaction, redirect
from tenants.manage import scopes as manage
from tenants.manage.errors import Conflict, Invalid
from tenants.portal import forms
from tenants.portal.access import Member, require_member
from tenants.portal.web import portal_page, refusals
from tenants.resolution import resolve_tenant

NOTICES = {
    "created": "Scope created. Allow it on an app to let that app request it.",
    "saved": "Description saved. The consent page shows it from now on.",
    "deleted": "Scope deleted.",
}


def _member(session: Session, request: Request, slug: str, form: FormData) -> Member:
    """The signed-in member (developer or more) whose form carries this browser's CSRF token."""
    tenant = resolve_tenant(session, slug)
    return require_member(session, request, tenant, csrf=forms.text(form, "csrf_token"))


def _kept(_session: Session, response: Response) -> bool:
    return response.status_code < 400


def _list(
    request: Request,
    session: Session,
    member: Member,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    row_errors: dict[str, dict[str, list[str]]] | None = None,
    row_values: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    """The one scopes page: standard scopes, the tenant's own (each with its edit and delete forms), and the
    form to add one. ``errors``/``values`` belong to the add form; ``row_errors``/``row_values`` to a row."""
    used_by: dict[str, list[str]] = {}
    for client in list_clients(session, member.tenant.id):
        for scope in client.scopes or []:
            used_by.setdefault(scope, []).append(client.name)
    row_values = row_values or {}
    custom = [
        {"name": name, "description": row_values.get(name, description), "apps": sorted(used_by.get(name, []))}
        for name, description in sorted(tenant_scopes(session, member.tenant.id).items())
    ]
    context: dict[str, Any] = {
        "standard": [(name, text, claims) for name, (text, claims) in STANDARD_SCOPES.items()],
        "custom": custom,
        "errors": errors or {},
        "row_errors": row_errors or {},
        "values": values or {"name": "", "description": ""},
        "notice": notice,
    }
    return portal_page(request, member, "portal/scopes.html", context, section="scopes", status=status)


async def scopes_list(request: Request) -> Response:
    slug = request.path_params["tenant"]

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug))
        return _list(request, session, member, notice=NOTICES.get(request.query_params.get("notice", ""), ""))

    return await in_transaction(request, work)


async def scope_create(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = _member(session, request, slug, form)
        name, description = forms.text(form, "name", 200), forms.text(form, "description", 2000)
        try:
            with refusals(member):
                manage.define_scope(session, member.tenant, member.actor, name=name, description=description)
        except (Invalid, Conflict) as error:  # a name taken is a conflict, shown on the form like the rest
            errors = error.fields or {"name": [error.message]}
            values = {"name": name, "description": description}
            return _list(request, session, member, errors=errors, values=values, status=400)
        return redirect(f"/t/{slug}/portal/scopes?notice=created", 303)

    return await in_transaction(request, work, keep=_kept)


def _scope(session: Session, member: Member, name: str) -> TenantScope:
    """One of this tenant's scopes by name, or 404 (another tenant's scope of the same name is not it)."""
    with refusals(member):
        return manage.get_scope(session, member.tenant, name)


async def scope_update(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = _member(session, request, slug, form)
        scope = _scope(session, member, forms.text(form, "name", 200))
        name, description = scope.name, forms.text(form, "description", 2000)
        try:
            with refusals(member):
                manage.redescribe_scope(session, member.tenant, member.actor, scope, description)
        except Invalid as error:  # the refused edit is not kept on the row (and the transaction rolls back)
            problems = error.fields or {"description": [error.message]}
            return _list(
                request, session, member, row_errors={name: problems}, row_values={name: description}, status=400
            )
        return redirect(f"/t/{slug}/portal/scopes?notice=saved", 303)

    return await in_transaction(request, work, keep=_kept)


async def scope_delete(request: Request) -> Response:
    slug = request.path_params["tenant"]
    form = await request.form()

    def work(session: Session) -> Response:
        member = _member(session, request, slug, form)
        scope = _scope(session, member, forms.text(form, "name", 200))
        name = scope.name
        try:
            with refusals(member):
                manage.remove_scope(session, member.tenant, member.actor, scope)
        except Conflict as error:  # still allowed for an app
            return _list(request, session, member, row_errors={name: {"delete": [error.message]}}, status=409)
        return redirect(f"/t/{slug}/portal/scopes?notice=deleted", 303)

    return await in_transaction(request, work, keep=_kept)


routes = [
    Route("/portal/scopes", scopes_list, methods=["GET"]),
    Route("/portal/scopes", scope_create, methods=["POST"]),
    Route("/portal/scopes/update", scope_update, methods=["POST"]),
    Route("/portal/scopes/delete", scope_delete, methods=["POST"]),
]
