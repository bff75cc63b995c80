"""Console: the tenants list (search, status filter, counts, pages) and creating a tenant.

The form lives at /admin/new-tenant, outside /admin/tenants/{slug}, so no slug can ever shadow it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.models.tenant import ACTIVE, SUSPENDED
from identity.web import app_context, in_transaction, redirect
from tenants.admin.access import SignedInAdmin, require_admin
from tenants.admin.web import admin_page, show_once
from tenants.manage.errors import ManageError
from tenants.manage.tenants import create_customer_tenant, list_tenants
from tenants.portal import forms

PAGE_SIZE = 25
STATUSES = {"": "Any status", ACTIVE: "Active", SUSPENDED: "Suspended"}


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


async def tenants_list(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:200]
    status = request.query_params.get("status", "")
    status = status if status in STATUSES else ""
    wanted = forms.page_number(request.query_params.get("page", "1"))
    deleted = request.query_params.get("deleted", "")[:40]

    def work(session: Session) -> Response:
        admin = require_admin(session, request)
        page = wanted
        rows, total = list_tenants(session, q=q, status=status, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        if page > _pages(total):  # past the end (a hand-typed page, tenants deleted meanwhile): the last page
            page = _pages(total)
            rows, total = list_tenants(session, q=q, status=status, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)

        def link(number: int) -> str:
            query = {k: v for k, v in {"q": q, "status": status}.items() if v}
            return "/admin/tenants?" + urlencode({**query, "page": str(number)})

        context = {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": _pages(total),
            "first_shown": (page - 1) * PAGE_SIZE + 1 if rows else 0,
            "last_shown": (page - 1) * PAGE_SIZE + len(rows),
            "previous": link(page - 1) if page > 1 else "",
            "next": link(page + 1) if page < _pages(total) else "",
            "q": q,
            "status": status,
            "statuses": STATUSES,
            "filtered": bool(q or status),
            "deleted": deleted,
        }
        return admin_page(request, admin, "admin/tenants.html", context, section="tenants")

    return await in_transaction(request, work)


def _form(
    request: Request, admin: SignedInAdmin, values: dict[str, str], errors: dict[str, list[str]], status: int = 200
) -> Response:
    context = {"values": values, "errors": errors, "public_url": app_context(request).settings.public_url}
    return admin_page(request, admin, "admin/tenant_new.html", context, section="tenants", status=status)


async def tenant_new(request: Request) -> Response:
    def work(session: Session) -> Response:
        return _form(request, require_admin(session, request), {"slug": "", "name": "", "owner_email": ""}, {})

    return await in_transaction(request, work)


async def tenant_create(request: Request) -> Response:
    ctx = app_context(request)
    form = await request.form()
    values = {name: forms.text(form, name, 400) for name in ("slug", "name", "owner_email")}

    def work(session: Session) -> Response:
        admin = require_admin(session, request, csrf=forms.text(form, "csrf_token"))
        try:
            created = create_customer_tenant(session, ctx.encryptor, admin.actor, **values)
        except ManageError as error:
            session.rollback()  # nothing half-created
            return _form(request, admin, values, error.fields or {"slug": [error.message]}, error.status)
        slug = created.tenant.slug
        once: dict[str, Any] = {"slug": slug, "invited": "", "link": ""}
        if created.invitation is not None:
            once.update(
                invited=created.invitation.invitation.email,
                link=f"{ctx.settings.public_url}/t/{slug}/portal/invitations/{created.invitation.token}",
            )
        return show_once(request, redirect(f"/admin/tenants/{slug}?notice=created", 303), once)

    return await in_transaction(request, work)


routes = [
    Route("/tenants", tenants_list, methods=["GET"]),
    Route("/new-tenant", tenant_new, methods=["GET"]),
    Route("/new-tenant", tenant_create, methods=["POST"]),
]
