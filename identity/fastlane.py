"""The fast lane: the hot endpoints answered from memory before Starlette routes the request.

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

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity.bearer import BearerError, token_from
from identity.context import AppContext
from identity.endpoints.discovery import discovery_in_memory, jwks_in_memory
from identity.endpoints.token import all_in_memory, is_form, issue_inline, repeated_parameter, token_work
from identity.endpoints.userinfo import bearer_error, response_in_memory
from identity.models.tenant import Tenant
from tenants.resolution import TenantNotFound, TenantSuspended

MAX_TOKEN_BODY = 8 * 1024  # a client_credentials request is a few hundred bytes; longer ones take the app's way

Lane = Callable[[AppContext, Tenant, Scope, Headers, Receive], Awaitable[tuple[Response | None, Receive]]]


async def _discovery(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    return discovery_in_memory(ctx, tenant, headers.get("if-none-match", "")), receive


async def _jwks(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    return jwks_in_memory(ctx, tenant, headers.get("if-none-match", "")), receive


async def _userinfo(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    authorization = headers.get("authorization", "")
    if not authorization or scope["query_string"]:
        return None, receive
    try:
        return response_in_memory(ctx, tenant, token_from(authorization)), receive
    except BearerError as error:
        return bearer_error(error), receive


async def _token(
    ctx: AppContext, tenant: Tenant, scope: Scope, headers: Headers, receive: Receive
) -> tuple[Response | None, Receive]:
    if scope["query_string"] or not is_form(headers.get("content-type", "")):
        return None, receive
    messages, body = await _buffer(receive, MAX_TOKEN_BODY)
    receive = _replay(messages, receive)
    form = _plain_form(body) if body is not None else None
    if form is None or repeated_parameter(form):
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


LANES: dict[tuple[str, str], Lane] = {
    ("GET", ".well-known/openid-configuration"): _discovery,
    ("GET", ".well-known/oauth-authorization-server"): _discovery,
    ("GET", ".well-known/jwks.json"): _jwks,
    ("GET", "userinfo"): _userinfo,
    ("POST", "token"): _token,
}


class FastLane:
    """ASGI middleware (innermost of Starlette's error handling, outside its router)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/t/"):
            slug, _, endpoint = scope["path"][3:].partition("/")
            lane = LANES.get((scope["method"], endpoint))
            if lane is not None and slug:
                ctx: AppContext = scope["app"].state.ctx
                tenant = _cached_tenant(ctx, slug)
                if tenant is not None:
                    response, receive = await lane(ctx, tenant, scope, Headers(scope=scope), receive)
                    if response is not None:
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)


def _cached_tenant(ctx: AppContext, slug: str) -> Tenant | None:
    try:
        return ctx.directory.cached_tenant(slug)
    except (TenantNotFound, TenantSuspended):  # the app renders these
        return None
