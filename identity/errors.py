"""Rendering errors at one boundary: JSON for protocol endpoints, a page for hosted pages."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from identity.web import error_page, json_response
from tenants.resolution import TenantNotFound, TenantSuspended

log = logging.getLogger("identity.errors")

HTML_ENDPOINTS = ("/authorize", "/login", "/consent", "/register")


def wants_page(request: Request) -> bool:
    """Hosted pages (and the portal) answer with a page; protocol endpoints with JSON."""
    path = request.url.path
    return path.endswith(HTML_ENDPOINTS) or "/portal" in path or path.startswith("/signup")


async def tenant_not_found(request: Request, exc: Exception) -> Response:
    if wants_page(request):
        return error_page(request, "Not found", "There is no such organisation on this service.", 404)
    return json_response({"error": "not_found", "error_description": "Unknown tenant."}, 404)


async def tenant_suspended(request: Request, exc: Exception) -> Response:
    message = "This organisation's sign-in service is suspended."
    if wants_page(request):
        return error_page(request, "Service suspended", message, 403)
    return json_response({"error": "tenant_suspended", "error_description": message}, 403)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if wants_page(request):
        return error_page(request, "Error", exc.detail, exc.status_code)
    return json_response({"error": "invalid_request", "error_description": exc.detail}, exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    if wants_page(request):
        return error_page(request, "Something went wrong", "Please try again in a moment.", 500)
    return json_response({"error": "server_error", "error_description": "An unexpected error occurred."}, 500)


HANDLERS = {
    TenantNotFound: tenant_not_found,
    TenantSuspended: tenant_suspended,
    HTTPException: http_error,
    Exception: server_error,
}
