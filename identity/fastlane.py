"""The fast lane: the hot endpoints answered from memory before Starlette routes the request.

Which endpoints have a lane is said once, in the route table (``identity.routes``: an ``Endpoint`` with
``fast=``); ``FastLane`` is built from that table, so there is no second list of paths to keep in step.

Discovery, JWKS, userinfo (GET with a Bearer header) and ``client_credentials`` token requests run no
database statement once the tenant, the client and the keys are in memory (``identity.directory``,
``identity.keys``). For those, Starlette's routing, its Request object and its form parser were the
largest share of the profile. This ASGI middleware recognises the paths and answers with the very
functions and Response objects the endpoints use. Whatever it cannot answer from memory, and every request
out of the ordinary (HEAD, a query string, a body that is not plain ``a=b&c=d`` ASCII), goes on to the app
unchanged, its body replayed: the lane only skips work, it never changes an answer
(``tests/identity/test_fastlane.py`` compares the two lanes' responses).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity.bearer import BearerError, token_from
from identity.context import AppContext
from identity.endpoints.discovery import discovery_in_memory, jwks_in_memory
from identity.endpoints.token import all_in_memory, bad_form, is_form, issue_inline, token_work
from identity.endpoints.userinfo import bearer_error, is_dpop, response_in_memory
from identity.models.tenant import Tenant
from identity.observe import FAST_ROUTE
from tenants.resolution import TenantNotFound, TenantSuspended

log = logging.getLogger("identity.fastlane")

TENANT_PREFIX = "/t/{tenant}"  # where the app mounts the tenant routes
MAX_TOKEN_BODY = 8 * 1024  # a client_credentials request is a few hundred bytes; longer ones take the app's way

Lane = Callable[[AppContext, Tenant, Scope, Headers, Receive], Awaitable[tuple[Response | None, Receive]]]


async def discovery_lane(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    return discovery_in_memory(ctx, tenant, headers.get("if-none-match", "")), receive


async def jwks_lane(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    return jwks_in_memory(ctx, tenant, headers.get("if-none-match", "")), receive


async def userinfo_lane(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    authorization = headers.get("authorization", "")
    if scope["method"] != "GET" or not authorization or scope["query_string"]:  # a POST may carry a body token
        return None, receive
    try:
        return response_in_memory(ctx, tenant, token_from(authorization)), receive
    except BearerError as error:
        if is_dpop(authorization):  # RFC 9449: its proof's jti is claimed in the database, the app's way
            return None, receive
        return bearer_error(error), receive


async def token_lane(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    if scope["query_string"] or not is_form(headers.get("content-type", "")) or "dpop" in headers:
        return None, receive  # (a DPoP proof's jti is claimed in the database: the app's way)
    messages, body = await _buffer(receive, MAX_TOKEN_BODY)
    receive = _replay(messages, receive)
    form = _plain_form(body) if body is not None else None
    if form is None or bad_form(form) is not None:  # the app answers those
        return None, receive
    if not all_in_memory(ctx, tenant, headers, dict(form)):
        return None, receive
    uri = ctx.settings.public_url + scope["path"]
    return issue_inline(ctx, token_work(ctx, tenant.slug, uri, headers, form)), receive


def _plain_form(body: bytes) -> list[tuple[str, str]] | None:
    """``a=b&c=d`` in ASCII (percent-escapes allowed), parsed; None for anything else, which the app's
    own form parser then handles."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if ";" in text or any("=" not in pair for pair in text.split("&")):
        return None
    return parse_qsl(text, keep_blank_values=True)


async def _buffer(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's messages read so far, and the whole body (None if it is longer than ``limit`` or the
    client went away)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)
        if size > limit:
            return messages, None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


class Endpoint(Route):
    """A route of the issuer's table; ``fast`` (if any) answers it from memory. The lane only skips work:
    it calls the endpoint's own response builder, and hands on (body intact) whatever it cannot answer."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *, methods: list[str], fast: Lane | None = None):
        super().__init__(path, endpoint, methods=methods)
        if fast is not None and "{" in path:
            raise ValueError(f"a fast lane needs a fixed path: {path}")
        self.fast = fast


def lanes_of(routes: Sequence[BaseRoute]) -> dict[tuple[str, str], Lane]:
    """(method, path below the tenant's prefix) -> lane, for the routes that have one."""
    return {
        (method, route.path): route.fast
        for route in routes
        if isinstance(route, Endpoint) and route.fast is not None
        for method in route.methods or ()
        if method != "HEAD"  # Starlette adds HEAD to GET routes; HEAD is left to the app
    }


class FastLane:
    """ASGI middleware (inside Starlette's error handling, outside its router) for the tenant routes
    mounted at ``/t/{tenant}``. A lane that raises (the tenant suspended meanwhile, the database away)
    answers nothing: the request goes on to the app, which handles it and its error as always."""

    def __init__(self, app: ASGIApp, lanes: dict[tuple[str, str], Lane]) -> None:
        self.app = app
        self.lanes = lanes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/t/"):
            slug, slash, endpoint = scope["path"][3:].partition("/")
            lane = self.lanes.get((scope["method"], slash + endpoint))
            if lane is not None and slug:
                ctx: AppContext = scope["app"].state.ctx
                tenant = _cached_tenant(ctx, slug)
                if tenant is not None:
                    response, receive = await _run(lane, ctx, tenant, scope, receive)
                    if response is not None:
                        scope[FAST_ROUTE] = TENANT_PREFIX + slash + endpoint  # (no router ran: the metrics' route)
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)


async def _run(
    lane: Lane, ctx: AppContext, tenant: Tenant, scope: Scope, receive: Receive
) -> tuple[Response | None, Receive]:
    # The body a lane reads is kept for the app: on an exception the lane's receive is replayed too.
    keep = _Recorder(receive)
    try:
        return await lane(ctx, tenant, scope, Headers(scope=scope), keep)
    except Exception:
        log.info("fast lane handed a request on after an error", exc_info=True)
        return None, keep.replay()


class _Recorder:
    """A receive that remembers what it returned, to hand the same messages to the app."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._seen: list[Message] = []

    async def __call__(self) -> Message:
        message = await self._receive()
        self._seen.append(message)
        return message

    def replay(self) -> Receive:
        return _replay(self._seen, self._receive)


def _cached_tenant(ctx: AppContext, slug: str) -> Tenant | None:
    try:
        return ctx.directory.cached_tenant(slug)
    except (TenantNotFound, TenantSuspended):  # the app renders these
        return None
