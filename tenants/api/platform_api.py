"""The platform-scope management API, ``/api/admin/…``: tenants (create, read, rename, suspend, resume,
delete) and the platform-wide audit log. Tokens come from the platform tenant's token endpoint."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.models.tenant import Tenant
from identity.web import app_context
from tenants.api.auth import Caller
from tenants.api.http import Fields, check_if_match, endpoint, json_body, one, page, page_params, query_text
from tenants.api.views import event_view, tenant_view
from tenants.audit import platform_events
from tenants.manage import tenants as platform
from tenants.manage.errors import Missing
from tenants.resolution import find_tenant


def _view(request: Request, session: Session, tenant: Tenant) -> dict[str, Any]:
    row = platform.rows_for(session, [tenant])[0]
    return tenant_view(row, app_context(request).settings.issuer(tenant.slug))


@endpoint("admin:tenants", platform=True)
def tenants_list(request: Request, caller: Caller) -> Any:
    limit, offset = page_params(request)
    q, status = query_text(request, "q", 200), query_text(request, "status", 20)
    issuer = app_context(request).settings.issuer

    def work(session: Session, caller: Caller) -> Response:
        rows, total = platform.list_tenants(session, q=q, status=status, offset=offset, limit=limit)
        return page(request, [tenant_view(row, issuer(row.tenant.slug)) for row in rows], total, limit, offset)

    return work


@endpoint("admin:tenants", platform=True, body=True)
def tenant_create(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    fields = Fields(data, {"slug", "name", "owner_email"})
    slug, name = fields.text("slug", required=True, most=100), fields.text("name", required=True, most=400)
    owner_email = fields.text("owner_email", most=400)
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        created = platform.create_customer_tenant(
            session, ctx.encryptor, caller.actor, slug=slug, name=name, owner_email=owner_email
        )
        body = _view(request, session, created.tenant)
        if created.invitation is not None:
            issuer = ctx.settings.issuer(created.tenant.slug)
            body["owner_invitation_url"] = f"{issuer}/portal/invitations/{created.invitation.token}"
        return json_body(201, body, {"Location": f"{request.url.path}/{created.tenant.slug}"})

    return work


@endpoint("admin:tenants", platform=True)
def tenant_get(request: Request, caller: Caller) -> Any:
    slug = request.path_params["slug"]
    return lambda session, caller: one(_view(request, session, platform.get_customer_tenant(session, slug)))


@endpoint("admin:tenants", platform=True, body=True)
def tenant_update(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    slug = request.path_params["slug"]
    name = Fields(data, {"name"}).text("name", required=True, most=400)
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        tenant = platform.get_customer_tenant(session, slug)
        check_if_match(request, _view(request, session, tenant))
        platform.rename_tenant(session, ctx.encryptor, caller.actor, tenant, name)
        return one(_view(request, session, tenant))

    return work


@endpoint("admin:tenants", platform=True)
def tenant_delete(request: Request, caller: Caller) -> Any:
    slug = request.path_params["slug"]
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        try:
            tenant = platform.get_customer_tenant(session, slug)
        except Missing:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})  # idempotent
        check_if_match(request, _view(request, session, tenant))
        platform.delete_tenant(session, ctx.encryptor, caller.actor, tenant)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    return work


@endpoint("admin:tenants", platform=True, body=True)
def tenant_suspend(request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    slug = request.path_params["slug"]
    reason = Fields(data, {"reason"}).text("reason", most=1000)
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        tenant = platform.get_customer_tenant(session, slug)
        platform.suspend_tenant(session, ctx.encryptor, caller.actor, tenant, reason)
        return one(_view(request, session, tenant))

    return work


@endpoint("admin:tenants", platform=True)
def tenant_resume(request: Request, caller: Caller) -> Any:
    slug = request.path_params["slug"]
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        tenant = platform.get_customer_tenant(session, slug)
        platform.resume_tenant(session, ctx.encryptor, caller.actor, tenant)
        return one(_view(request, session, tenant))

    return work


@endpoint("admin:audit", platform=True)
def platform_audit_events(request: Request, caller: Caller) -> Any:
    """Events of every tenant, newest first; ``tenant`` (slug), ``action`` (prefix), ``actor`` (substring)."""
    limit, offset = page_params(request)
    slug = query_text(request, "tenant", 40)
    action, actor = query_text(request, "action", 80), query_text(request, "actor", 200)

    def work(session: Session, caller: Caller) -> Response:
        tenant_id = None
        if slug:
            found = find_tenant(session, slug)
            if found is None:
                return page(request, [], 0, limit, offset)
            tenant_id = found.id
        rows, total = platform_events(
            session, tenant_id=tenant_id, action=action, actor=actor, offset=offset, limit=limit
        )
        return page(request, [event_view(row.event, row.tenant_slug) for row in rows], total, limit, offset)

    return work


routes = [
    Route("/api/admin/tenants", tenants_list, methods=["GET"]),
    Route("/api/admin/tenants", tenant_create, methods=["POST"]),
    Route("/api/admin/tenants/{slug}", tenant_get, methods=["GET"]),
    Route("/api/admin/tenants/{slug}", tenant_update, methods=["PATCH"]),
    Route("/api/admin/tenants/{slug}", tenant_delete, methods=["DELETE"]),
    Route("/api/admin/tenants/{slug}/suspend", tenant_suspend, methods=["POST"]),
    Route("/api/admin/tenants/{slug}/resume", tenant_resume, methods=["POST"]),
    Route("/api/admin/audit-events", platform_audit_events, methods=["GET"]),
]
