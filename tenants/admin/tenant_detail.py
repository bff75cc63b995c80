"""Console: one tenant (issuer, counts, status), and the changes to it: rename, suspend, resume, delete.

Every change goes through ``tenants.manage.tenants``, which owns the rules and writes the audit event.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.models.tenant import Tenant
from identity.web import app_context, in_transaction, redirect
from tenants.admin.access import SignedInAdmin, require_admin
from tenants.admin.web import PageNotFound, admin_page, forget_once, take_once
from tenants.manage.errors import ManageError, Missing
from tenants.manage.tenants import (
    REASON_MAX,
    delete_tenant,
    get_customer_tenant,
    rename_tenant,
    resume_tenant,
    rows_for,
    suspend_tenant,
)
from tenants.portal import forms

NOTICES = {
    "created": "The tenant was created: its issuer, signing keys and developer portal are ready.",
    "renamed": "The tenant was renamed.",
    "suspended": "The tenant is suspended: all of its endpoints refuse, and its tokens no longer validate.",
    "resumed": "The tenant is active again.",
    "unchanged": "Nothing to change.",
}


def _tenant(session: Session, admin: SignedInAdmin, slug: str) -> Tenant:
    try:
        return get_customer_tenant(session, slug)
    except Missing:
        raise PageNotFound(admin, "There is no tenant with this slug, or it was deleted.") from None


def _detail(
    request: Request,
    session: Session,
    admin: SignedInAdmin,
    tenant: Tenant,
    *,
    notice: str = "",
    once: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    issuer = app_context(request).settings.issuer(tenant.slug)
    context = {
        "row": rows_for(session, [tenant])[0],
        "tenant": tenant,
        "issuer": issuer,
        "discovery": f"{issuer}/.well-known/openid-configuration",
        "notice": notice,
        "once": once,
        "errors": errors or {},
        "values": values or {},
        "reason_max": REASON_MAX,
    }
    return admin_page(request, admin, "admin/tenant_detail.html", context, section="tenants", status=status)


async def tenant_detail(request: Request) -> Response:
    slug = request.path_params["slug"]
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    once = take_once(request)
    if once is not None and once.get("slug") != slug:
        once = None

    def work(session: Session) -> Response:
        admin = require_admin(session, request)
        return _detail(request, session, admin, _tenant(session, admin, slug), notice=notice, once=once)

    response = await in_transaction(request, work)
    if once is not None:
        forget_once(response)  # shown once: a reload shows the page without the invitation link
    return response


def _refused(_session: Session, response: Response) -> bool:
    return response.status_code < 400


async def tenant_rename(request: Request) -> Response:
    slug = request.path_params["slug"]
    ctx = app_context(request)
    form = await request.form()
    name = forms.text(form, "name", 400)

    def work(session: Session) -> Response:
        admin = require_admin(session, request, csrf=forms.text(form, "csrf_token"))
        tenant = _tenant(session, admin, slug)
        previous = tenant.name
        try:
            rename_tenant(session, ctx.encryptor, admin.actor, tenant, name)
        except ManageError as error:
            session.expire(tenant)  # show the stored name, not the refused one
            errors = {"name": [error.message]}
            return _detail(request, session, admin, tenant, errors=errors, values={"name": name}, status=error.status)
        return redirect(f"/admin/tenants/{slug}?notice={'unchanged' if tenant.name == previous else 'renamed'}", 303)

    return await in_transaction(request, work, keep=_refused)


async def tenant_suspend(request: Request) -> Response:
    slug = request.path_params["slug"]
    ctx = app_context(request)
    form = await request.form()
    reason = forms.text(form, "reason", 1000)

    def work(session: Session) -> Response:
        admin = require_admin(session, request, csrf=forms.text(form, "csrf_token"))
        tenant = _tenant(session, admin, slug)
        try:
            changed = suspend_tenant(session, ctx.encryptor, admin.actor, tenant, reason)
        except ManageError as error:
            errors, values = {"reason": [error.message]}, {"reason": reason}
            return _detail(request, session, admin, tenant, errors=errors, values=values, status=error.status)
        return redirect(f"/admin/tenants/{slug}?notice={'suspended' if changed else 'unchanged'}", 303)

    return await in_transaction(request, work, keep=_refused)


async def tenant_resume(request: Request) -> Response:
    slug = request.path_params["slug"]
    ctx = app_context(request)
    form = await request.form()

    def work(session: Session) -> Response:
        admin = require_admin(session, request, csrf=forms.text(form, "csrf_token"))
        changed = resume_tenant(session, ctx.encryptor, admin.actor, _tenant(session, admin, slug))
        return redirect(f"/admin/tenants/{slug}?notice={'resumed' if changed else 'unchanged'}", 303)

    return await in_transaction(request, work)


def _delete_page(
    request: Request, session: Session, admin: SignedInAdmin, tenant: Tenant, error: str = "", status: int = 200
) -> Response:
    context = {"tenant": tenant, "row": rows_for(session, [tenant])[0], "error": error}
    return admin_page(request, admin, "admin/tenant_delete.html", context, section="tenants", status=status)


async def tenant_delete_confirm(request: Request) -> Response:
    slug = request.path_params["slug"]

    def work(session: Session) -> Response:
        admin = require_admin(session, request)
        return _delete_page(request, session, admin, _tenant(session, admin, slug))

    return await in_transaction(request, work)


async def tenant_delete(request: Request) -> Response:
    slug = request.path_params["slug"]
    ctx = app_context(request)
    form = await request.form()

    def work(session: Session) -> Response:
        admin = require_admin(session, request, csrf=forms.text(form, "csrf_token"))
        tenant = _tenant(session, admin, slug)
        if forms.text(form, "confirm_slug", 100) != tenant.slug:
            error = f"Type the tenant's slug, {tenant.slug}, exactly to confirm. Nothing was deleted."
            return _delete_page(request, session, admin, tenant, error, 400)
        delete_tenant(session, ctx.encryptor, admin.actor, tenant)
        return redirect(f"/admin/tenants?deleted={slug}", 303)

    return await in_transaction(request, work, keep=_refused)


routes = [
    Route("/tenants/{slug}", tenant_detail, methods=["GET"]),
    Route("/tenants/{slug}/rename", tenant_rename, methods=["POST"]),
    Route("/tenants/{slug}/suspend", tenant_suspend, methods=["POST"]),
    Route("/tenants/{slug}/resume", tenant_resume, methods=["POST"]),
    Route("/tenants/{slug}/delete", tenant_delete_confirm, methods=["GET"]),
    Route("/tenants/{slug}/delete", tenant_delete, methods=["POST"]),
]
