"""Each request observed once, outermost of our middleware (so the fast lane's answers are seen too): its
request id, the context of its log lines, its HTTP metrics, and one access log line when
``IDENTITY_ACCESS_LOG`` asks for it.

The request id is the client's ``X-Request-ID`` when it is 1-128 characters of ``[A-Za-z0-9._-]``, else a
new one: 32 hex digits, a random prefix per process then a counter (it must be unique, not secret: it is
logged and echoed; random bytes per request cost more). It is echoed in the response's ``X-Request-ID``.
Routes are named by their template (``/t/{tenant}/token``), never the raw path, and the access line never
has the query string or the body:
``/authorize``, ``/device`` and ``/logout`` carry codes, user codes and ID tokens there.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity import metrics
from identity.logging import current_request
from identity.settings import Settings

access_log = logging.getLogger("identity.access")

REQUEST_ID_HEADER = b"x-request-id"
_GOOD_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
UNMATCHED = "unmatched"
FAST_ROUTE = "identity.route"  # the scope key ``identity.fastlane`` sets on the requests it answers
ACCESS_FORMAT = "%s %s %d %.1fms"
MAX_TENANT_LENGTH = 64  # a slug in the path is the client's: log at most this much of it


def route_templates(routes: Sequence[BaseRoute], prefix: str = "") -> dict[int, str]:
    """id(route) -> its full template, for every route the router can pick (Starlette's routes compare
    by value, so they are not hashable). A Mount with routes of its own is left out: the router ends on
    it only when none of them matched."""
    templates: dict[int, str] = {}
    for route in routes:
        path = prefix + str(getattr(route, "path", ""))
        if isinstance(route, Mount) and route.routes:
            templates.update(route_templates(route.routes, path))
        elif isinstance(route, Mount):
            templates[id(route)] = path + "/{path}"
        else:
            templates[id(route)] = path
    return templates


def _log_access(method: str, route: str, status: int, seconds: float) -> None:
    """``access_log.info`` without its search of the stack for the caller's file and line (a quarter of
    the cost of the line, on every request; the line says where it comes from by its logger)."""
    record = logging.LogRecord(
        access_log.name, logging.INFO, "", 0, ACCESS_FORMAT, (method, route, status, seconds * 1000), None
    )
    record.method, record.status, record.duration_ms = method, status, round(seconds * 1000, 2)
    access_log.handle(record)


class _RequestIds:
    """New request ids: a prefix drawn again in every forked worker, so no two processes share one."""

    def __init__(self) -> None:
        self.restart()
        os.register_at_fork(after_in_child=self.restart)

    def restart(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_request_ids = _RequestIds()


def request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _GOOD_REQUEST_ID.fullmatch(value):
                return str(value, "ascii")
            break
    return _request_ids.new()


class _Request:
    """The log context of one request; route and tenant are read from the scope when asked for, since the
    router fills it in after this middleware has started."""

    __slots__ = ("request_id", "_scope", "_templates")

    def __init__(self, request_id: str, scope: Scope, templates: dict[int, str]) -> None:
        self.request_id = request_id
        self._scope = scope
        self._templates = templates

    @property
    def route(self) -> str:
        scope = self._scope
        fast: str | None = scope.get(FAST_ROUTE)
        if fast is not None:
            return fast
        route = scope.get("route")
        return UNMATCHED if route is None else self._templates.get(id(route), UNMATCHED)

    @property
    def tenant(self) -> str:
        params: dict[str, Any] | None = self._scope.get("path_params")
        slug = params.get("tenant") if params else None
        if slug is None:
            path: str = self._scope["path"]
            slug = path[3:].partition("/")[0] if path.startswith("/t/") else ""
        return str(slug)[:MAX_TENANT_LENGTH]


class Observed:
    """ASGI middleware. Metrics are recorded when ``metrics.configure`` says they are on."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.metrics_on = metrics.configure(settings)
        self.metrics_tenants = frozenset(settings.metrics_tenants)
        self.access_on = settings.access_log
        self._templates: dict[int, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if self._templates is None:
            self._templates = route_templates(scope["app"].routes)
        request = _Request(request_id_of(scope), scope, self._templates)
        echoed = (REQUEST_ID_HEADER, request.request_id.encode("ascii"))
        status = 500  # what the server error handler outside answers if the app raises before a response

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # (a new message: responses the fast lane keeps are sent again and again)
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        token = current_request.set(request)
        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            route, tenant, method = request.route, request.tenant, scope["method"]
            if self.access_on and access_log.isEnabledFor(logging.INFO):
                _log_access(method[:16], route, status, seconds)
            current_request.reset(token)
            if self.metrics_on:
                label = "" if not tenant else tenant if tenant in self.metrics_tenants else "other"
                metrics.record_request(route, metrics.bounded_method(method), status, label, seconds)
