"""Small helpers every endpoint shares: the unit of work, JSON and page responses, security headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from identity import i18n
from identity.branding import branding_context
from identity.context import AppContext
from identity.db import session_scope
from identity.documents import ReadyDocument
from identity.keys import KeyRing
from identity.models.tenant import Tenant
from identity.oauth.server import OAuthResponse

T = TypeVar("T")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Hosted pages: no inline script, no framing, nothing from other origins. (No form-action: Chromium
# applies it to the redirect that follows a form post, and that redirect goes to the client's origin.)
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data: https:; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The form_post page submits itself with our own script file (never inline script).
FORM_POST_CSP = PAGE_CSP.replace("default-src 'none';", "default-src 'none'; script-src 'self';")


def app_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def in_transaction(
    request: Request, work: Callable[[Session], T], keep: Callable[[Session, T], bool] | None = None
) -> T:
    """Run ``work(session)`` on the threadpool inside one transaction: commit on return, rollback on raise,
    and also roll back when ``keep(session, result)`` says the result must leave no trace."""
    return await run_in_threadpool(run_inline, app_context(request).sessions, work, keep)


def run_inline(
    sessions: sessionmaker[Session], work: Callable[[Session], T], keep: Callable[[Session, T], bool] | None = None
) -> T:
    """``in_transaction`` without the threadpool, for work that is known to need no database statement
    (its Session is only made if something uses it after all)."""
    with session_scope(sessions, lazy=True) as session:
        result = work(session)
        if keep is not None and not keep(session, result):
            session.rollback()
        return result


async def current_tenant(request: Request) -> Tenant:
    """The tenant of the URL, from memory when fresh (no thread hop, no database), else loaded."""
    directory = app_context(request).directory
    slug = request.path_params["tenant"]
    cached = directory.cached_tenant(slug)
    return cached if cached is not None else await run_in_threadpool(directory.tenant, slug)


async def key_ring(request: Request, tenant: Tenant) -> KeyRing:
    """The tenant's signing keys, from memory when loaded, else from the database (on the threadpool)."""
    keys = app_context(request).keys
    ring = keys.cached(tenant)
    return ring if ring is not None else await in_transaction(request, lambda session: keys.get(session, tenant))


def public_uri(request: Request) -> str:
    """The request URI as the outside world sees it (behind a TLS-terminating proxy)."""
    uri = app_context(request).settings.public_url + request.url.path
    return f"{uri}?{request.url.query}" if request.url.query else uri


def cacheable(request: Request, body: bytes, media_type: str, etag: str | None = None, **headers: str) -> Response:
    """A public, five-minute cacheable document with an ETag (pass it when it was computed with the body);
    ``If-None-Match`` with that tag (or ``*``, weak or strong) gets 304."""
    return ReadyDocument.of(body, media_type, etag, **headers).response(request.headers.get("if-none-match", ""))


def json_body(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_bytes_response(json_body(body), status, headers)


def json_bytes_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON body already encoded; never stored by caches."""
    return Response(body, status_code=status, media_type="application/json", headers={**NO_STORE, **(headers or {})})


def oauth_json(result: OAuthResponse) -> Response:
    headers = {k: v for k, v in result.headers if k.lower() != "content-type"}
    return json_response(result.body, result.status, headers)


def redirect(location: str, status: int = 302) -> Response:
    response = RedirectResponse(location, status_code=status)
    response.headers.update(NO_STORE)
    return response


def page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A hosted page, in the language of the request's ``ui_locales`` (``context["ui_locales"]``, when the
    page belongs to an authorization or logout request) or of the browser (``identity.i18n``)."""
    locale = i18n.negotiate(context.get("ui_locales"), request.headers.get("accept-language"))
    templates = request.app.state.templates.in_language(locale)
    response: Response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Language"] = locale
    return response


def form_post_page(
    request: Request, action: str, fields: list[tuple[str, str]], tenant: Any = None, *, ui_locales: str | None = None
) -> Response:
    """response_mode=form_post: a page that POSTs the authorization response to the client's redirect URI
    (a script submits it at once; without scripts, the user presses Continue)."""
    context: dict[str, Any] = {"action": action, "fields": fields, "ui_locales": ui_locales}
    if tenant is not None:
        context.update(branding_context(tenant), tenant_name=tenant.name)
    response = page(request, "identity/form_post.html", context)
    response.headers["Content-Security-Policy"] = FORM_POST_CSP
    return response


def error_page(
    request: Request,
    title: str,
    message: str,
    status: int,
    tenant_name: str | None = None,
    code: str | None = None,
    *,
    tenant: Any = None,
    ui_locales: str | None = None,
    message_args: dict[str, str] | None = None,
) -> Response:
    """An error page; branded when it names the tenant (``tenant``: the row, with its logo too; a bare
    ``tenant_name`` under ``/t/{tenant}`` still gets the tenant's colours)."""
    context: dict[str, Any] = {
        "title": title,
        "message": message,
        "message_args": message_args,  # when ``message`` is a msgid with %(name)s placeholders
        "tenant_name": tenant_name,
        "code": code,
        "ui_locales": ui_locales,
    }
    if tenant is not None:
        context.update(branding_context(tenant), tenant_name=tenant_name or tenant.name)
    elif tenant_name and request.path_params.get("tenant"):
        context["tenant_slug"] = request.path_params["tenant"]
    return page(request, "identity/error.html", context, status)
