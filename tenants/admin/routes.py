"""The console's route table, mounted at /admin."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.web import in_transaction, redirect
from tenants.admin import account, audit_log, signin, tenant_detail, tenant_list
from tenants.admin.access import HOME, require_admin
from tenants.admin.web import PageNotFound


async def home(request: Request) -> Response:
    return redirect(HOME, 303)


async def unknown(request: Request) -> Response:
    """Any other /admin address: sign in first (nothing is revealed before), then a 404 page."""

    def work(session: Session) -> Response:
        raise PageNotFound(require_admin(session, request))

    return await in_transaction(request, work)


admin_routes = [
    Route("/", home, methods=["GET"]),
    Route("/login", signin.login_page, methods=["GET"]),
    Route("/login", signin.login_submit, methods=["POST"]),
    Route("/login/totp", signin.totp_page, methods=["GET"]),
    Route("/login/totp", signin.totp_submit, methods=["POST"]),
    Route("/logout", signin.logout, methods=["POST"]),
    *tenant_list.routes,
    *tenant_detail.routes,
    *audit_log.routes,
    *account.routes,
    Route("/{path:path}", unknown, methods=["GET"]),
]
