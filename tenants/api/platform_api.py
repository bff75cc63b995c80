"""The platform-scope management API, ``/api/admin/…``: tenants (create, read, rename, suspend, resume,
delete) and the platform-wide audit log. Tokens come from the platform tenant's token endpoint."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.models.tenant import Tenant
from identity.web import app_context
from tenants.api import contract as c
from tenants.api.auth import Caller
from tenants.api.http import check_if_match, created, no_content, one, page
from tenants.api.operations import Api, Work
from tenants.api.views import platform_event_view, tenant_view
from tenants.audit import platform_events
from tenants.manage import tenants as platform
from tenants.manage.errors import Missing
from tenants.resolution import find_tenant

api = Api(prefix="", platform=True)
TENANTS = "admin:tenants"


def _view(request: Request, session: Session, tenant: Tenant) -> c.Tenant:
    row = platform.rows_for(session, [tenant])[0]
    return tenant_view(row, app_context(request).settings.issuer(tenant.slug))


@api.operation("GET", "/api/admin/tenants", "List tenants", TENANTS, response=c.PAGES[c.Tenant], query=c.TenantQuery)
def tenants_list(request: Request, caller: Caller, query: c.TenantQuery) -> Work:
    issuer = app_context(request).settings.issuer

    def work(session: Session, caller: Caller) -> Response:
        rows, total = platform.list_tenants(
            session, q=query.q, status=query.status, offset=query.offset, limit=query.limit
        )
        items = [tenant_view(row, issuer(row.tenant.slug)) for row in rows]
        return page(request, items, total, query.limit, query.offset)

    return work


@api.operation(
    "POST",
    "/api/admin/tenants",
    "Create a tenant (and invite its owner)",
    TENANTS,
    status=201,
    response=c.TenantCreated,
    body=c.TenantCreate,
)
def tenant_create(request: Request, caller: Caller, body: c.TenantCreate) -> Work:
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        new = platform.create_customer_tenant(
            session, ctx.encryptor, caller.actor, slug=body.slug, name=body.name, owner_email=body.owner_email
        )
        invitation_url = None
        if new.invitation is not None:
            invitation_url = f"{ctx.settings.issuer(new.tenant.slug)}/portal/invitations/{new.invitation.token}"
        view = c.TenantCreated(**_view(request, session, new.tenant).model_dump(), owner_invitation_url=invitation_url)
        return created(view, f"{request.url.path}/{new.tenant.slug}")

    return work


@api.operation("GET", "/api/admin/tenants/{slug}", "Read a tenant", TENANTS, response=c.Tenant)
def tenant_get(request: Request, caller: Caller) -> Work:
    slug = request.path_params["slug"]
    return lambda session, caller: one(_view(request, session, platform.get_customer_tenant(session, slug)))


@api.operation(
    "PATCH",
    "/api/admin/tenants/{slug}",
    "Rename a tenant",
    TENANTS,
    response=c.Tenant,
    body=c.TenantUpdate,
    if_match=True,
)
def tenant_update(request: Request, caller: Caller, body: c.TenantUpdate) -> Work:
    slug = request.path_params["slug"]
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        tenant = platform.get_customer_tenant(session, slug)
        check_if_match(request, _view(request, session, tenant))
        platform.rename_tenant(session, ctx.encryptor, caller.actor, tenant, body.name)
        return one(_view(request, session, tenant))

    return work


@api.operation(
    "DELETE",
    "/api/admin/tenants/{slug}",
    "Delete a tenant and everything in it (idempotent)",
    TENANTS,
    status=204,
    if_match=True,
)
def tenant_delete(request: Request, caller: Caller) -> Work:
    slug = request.path_params["slug"]
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        try:
            tenant = platform.get_customer_tenant(session, slug)
        except Missing:
            return no_content()  # idempotent
        check_if_match(request, _view(request, session, tenant))
        platform.delete_tenant(session, ctx.encryptor, caller.actor, tenant)
        return no_content()

    return work


@api.operation(
    "POST",
    "/api/admin/tenants/{slug}/suspend",
    "Suspend: every endpoint of the tenant refuses",
    TENANTS,
    response=c.Tenant,
    body=c.Suspension,
)
def tenant_suspend(request: Request, caller: Caller, body: c.Suspension) -> Work:
    slug = request.path_params["slug"]
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        tenant = platform.get_customer_tenant(session, slug)
        platform.suspend_tenant(session, ctx.encryptor, caller.actor, tenant, body.reason)
        return one(_view(request, session, tenant))

    return work


@api.operation("POST", "/api/admin/tenants/{slug}/resume", "Resume a suspended tenant", TENANTS, response=c.Tenant)
def tenant_resume(request: Request, caller: Caller) -> Work:
    slug = request.path_params["slug"]
    ctx = app_context(request)

    def work(session: Session, caller: Caller) -> Response:
        tenant = platform.get_customer_tenant(session, slug)
        platform.resume_tenant(session, ctx.encryptor, caller.actor, tenant)
        return one(_view(request, session, tenant))

    return work


@api.operation(
    "GET",
    "/api/admin/audit-events",
    "The platform-wide audit log, newest first",
    "admin:audit",
    response=c.PAGES[c.PlatformAuditEvent],
    query=c.PlatformAuditQuery,
)
def platform_audit_events(request: Request, caller: Caller, query: c.PlatformAuditQuery) -> Work:
    def work(session: Session, caller: Caller) -> Response:
        tenant_id = None
        if query.tenant:
            found = find_tenant(session, query.tenant)
            if found is None:
                return page(request, [], 0, query.limit, query.offset)
            tenant_id = found.id
        rows, total = platform_events(
            session, tenant_id=tenant_id, action=query.action, actor=query.actor, offset=query.offset, limit=query.limit
        )
        items = [platform_event_view(row.event, row.tenant_slug) for row in rows]
        return page(request, items, total, query.limit, query.offset)

    return work


routes = api.routes()
