"""Rendering errors at one boundary: JSON for protocol endpoints, a page for hosted pages."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from identity import metrics
from identity.i18n import N_
from identity.outage import RETRY_AFTER_SECONDS, database_unavailable
from identity.problems import ApiProblem, problem_response
from identity.web import error_page, in_transaction, json_response, page
from tenants.resolution import TenantNotFound, TenantSuspended, find_tenant

log = logging.getLogger("identity.errors")

HTML_ENDPOINTS = ("/authorize", "/login", "/consent", "/register")


def wants_page(request: Request) -> bool:
    """Hosted pages (and the portal) answer with a page; protocol endpoints with JSON."""
    path = request.url.path
    return path.endswith(HTML_ENDPOINTS) or "/portal" in path or path.startswith("/signup")


async def tenant_not_found(request: Request, exc: Exception) -> Response:
    if wants_page(request):
        return error_page(request, N_("Not found"), N_("There is no such organisation on this service."), 404)
    return json_response({"error": "not_found", "error_description": "Unknown tenant."}, 404)


SUSPENDED = N_("%(name)s is suspended: its sign-in pages and developer portal are unavailable for now.")
THIS_ORGANISATION = N_("This organisation")


async def tenant_suspended(request: Request, exc: Exception) -> Response:
    if wants_page(request):
        slug = str(exc.args[0]) if exc.args else ""
        tenant = await in_transaction(request, lambda session: find_tenant(session, slug))
        # Not branded: the tenant's stylesheet is one of the endpoints that now refuse.
        # What its visitors read: who is suspended, what that means, and why (if the operator said).
        name = tenant.name if tenant is not None else None
        context = {
            "title": N_("Organisation suspended"),
            "message": SUSPENDED,
            "message_args": {"name": name or THIS_ORGANISATION},
            "reason": tenant.status_reason if tenant is not None else "",
            "tenant_name": name,
            "suspended": True,
        }
        return page(request, "identity/error.html", context, 403)
    message = "This organisation's sign-in service is suspended."
    return json_response({"error": "tenant_suspended", "error_description": message}, 403)


def wants_problem(request: Request) -> bool:
    """The management API answers every error with problem+json (RFC 9457), routing errors included."""
    path = request.url.path
    return path.startswith("/api/") or (path.startswith("/t/") and "/api/" in path)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if wants_problem(request):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return problem_response(ApiProblem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})))
    if wants_page(request):
        return error_page(request, N_("Error"), exc.detail, exc.status_code)
    return json_response({"error": "invalid_request", "error_description": exc.detail}, exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    if database_unavailable(exc):  # raised outside the router (a middleware): the same 503
        return await database_error(request, exc)
    log.exception("unhandled error", exc_info=exc)
    if wants_problem(request):
        return problem_response(ApiProblem(500, "server_error", "An unexpected error occurred."))
    if wants_page(request):
        return error_page(request, N_("Something went wrong"), N_("Please try again in a moment."), 500)
    return json_response({"error": "server_error", "error_description": "An unexpected error occurred."}, 500)


UNAVAILABLE_TITLE = N_("Temporarily unavailable")
UNAVAILABLE_MESSAGE = N_("This service cannot be reached for a moment. Please try again in a few seconds.")
UNAVAILABLE_DESCRIPTION = "The service is temporarily unavailable; retry later."


async def database_error(request: Request, exc: Exception) -> Response:
    """The database away (or out of connections): 503 with Retry-After, never a 500 or a traceback. Any
    other database error (a constraint, a deadlock, a bug) is a server error as before."""
    if not database_unavailable(exc):
        return await server_error(request, exc)
    # Only the error's class: its message may quote statement parameters (codes, tokens).
    log.warning("database unavailable (%s): answered 503", type(exc).__name__)
    metrics.count_db_unavailable()
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_problem(request):
        return problem_response(ApiProblem(503, "temporarily_unavailable", UNAVAILABLE_DESCRIPTION, headers=retry))
    if wants_page(request) or request.url.path.startswith("/admin"):
        response = error_page(request, UNAVAILABLE_TITLE, UNAVAILABLE_MESSAGE, 503)
        response.headers.update(retry)
        return response
    body = {"error": "temporarily_unavailable", "error_description": UNAVAILABLE_DESCRIPTION}
    return json_response(body, 503, retry)


HANDLERS = {
    TenantNotFound: tenant_not_found,
    TenantSuspended: tenant_suspended,
    HTTPException: http_error,
    DBAPIError: database_error,
    PoolTimeout: database_error,
    Exception: server_error,
}
