"""Request and response plumbing every API endpoint shares: JSON bodies, pagination, ETags, the
transaction, and turning refusals into problem+json."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from identity.crypto import etag_of
from identity.problems import ApiProblem, problem_response
from identity.web import NO_STORE, in_transaction
from tenants.api.auth import Caller, authenticate
from tenants.manage.errors import ManageError

T = TypeVar("T")
MAX_LIMIT = 100
MAX_BODY = 64 * 1024


def json_body(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return Response(raw, status_code=status, media_type="application/json", headers={**NO_STORE, **(headers or {})})


def representation_etag(data: Any) -> str:
    return etag_of(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())


def one(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A single resource, with the ETag a later If-Match must name."""
    return json_body(status, data, {"ETag": representation_etag(data), **(headers or {})})


def check_if_match(request: Request, current: dict[str, Any]) -> None:
    """Safe concurrent edits: with If-Match, the change applies only to the representation it names."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" not in tags and representation_etag(current) not in tags:
        raise ApiProblem(412, "precondition_failed", "The resource changed since you read it: GET it again.")


async def read_object(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise ApiProblem(415, "unsupported_media_type", "Send the body as application/json.")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiProblem(400, "bad_request", "The body is too large.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiProblem(400, "bad_request", "The body is not valid JSON.") from error
    if not isinstance(data, dict):
        raise ApiProblem(400, "bad_request", "The body must be a JSON object.")
    return data


class Fields:
    """Typed access to a JSON object's members; a wrong type is a 422 naming the member."""

    def __init__(self, data: dict[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ApiProblem(422, "invalid", f"Unknown member {unknown[0]!r}.", errors={unknown[0]: ["unknown member"]})
        self.data = data

    def has(self, name: str) -> bool:
        return name in self.data

    def _typed(self, name: str, kinds: tuple[type, ...], label: str, default: Any) -> Any:
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ApiProblem(422, "invalid", f"{name} must be {label}.", errors={name: [f"must be {label}"]})
        return value

    def text(self, name: str, default: str = "", *, required: bool = False, most: int = 2000) -> str:
        if required and name not in self.data:
            raise ApiProblem(422, "invalid", f"{name} is required.", errors={name: ["is required"]})
        value: str = self._typed(name, (str,), "a string", default)
        if len(value) > most:
            raise ApiProblem(422, "invalid", f"{name} is too long.", errors={name: [f"at most {most} characters"]})
        if "\x00" in value:
            raise ApiProblem(422, "invalid", f"{name} contains NUL.", errors={name: ["must not contain NUL"]})
        return value

    def texts(self, name: str, default: list[str] | None = None) -> list[str] | None:
        value = self._typed(name, (list,), "an array of strings", default)
        if value is not None and (len(value) > 100 or not all(isinstance(v, str) and len(v) <= 2000 for v in value)):
            raise ApiProblem(422, "invalid", f"{name} must be an array of strings.", errors={name: ["invalid"]})
        if value is not None and any("\x00" in v for v in value):
            raise ApiProblem(422, "invalid", f"{name} contains NUL.", errors={name: ["must not contain NUL"]})
        return value  # type: ignore[no-any-return]

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        return self._typed(name, (bool,), "true or false", default)  # type: ignore[no-any-return]

    def number(self, name: str, default: int | None = None) -> int | None:
        value = self._typed(name, (int, type(None)), "a whole number or null", default)
        if isinstance(value, int) and not -(2**62) < value < 2**62:
            raise ApiProblem(422, "invalid", f"{name} is out of range.", errors={name: ["out of range"]})
        return value  # type: ignore[no-any-return]


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def query_text(request: Request, name: str, most: int = 200) -> str:
    """A text filter from the query string; control characters are refused (PostgreSQL rejects NUL)."""
    value = request.query_params.get(name, "")
    if len(value) > most or _has_control(value):
        raise ApiProblem(400, "bad_request", f"{name} must be at most {most} printable characters.")
    return value


def page_params(request: Request) -> tuple[int, int]:
    """``limit`` (1-100, default 25) and ``offset`` (default 0) from the query."""
    try:
        limit = int(request.query_params.get("limit", "25"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError as error:
        raise ApiProblem(400, "bad_request", "limit and offset must be whole numbers.") from error
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= 10**9:
        raise ApiProblem(400, "bad_request", f"limit must be 1-{MAX_LIMIT} and offset 0 or more.")
    return limit, offset


def page(request: Request, items: list[Any], total: int, limit: int, offset: int) -> Response:
    """A page of a collection; ``Link: rel="next"`` when there is more (RFC 8288)."""
    headers = {}
    if offset + limit < total:
        query = {**request.query_params, "limit": str(limit), "offset": str(offset + limit)}
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    body = {"items": items, "total": total, "limit": limit, "offset": offset}
    return json_body(200, body, headers)


Work = Callable[[Session, Caller], Response]


def endpoint(scope: str, *, platform: bool = False, body: bool = False) -> Callable[..., Any]:
    """Wrap ``handler(request, caller[, data]) -> work(session, caller)``: authenticate, read the body, run
    the work in one transaction (rolled back on any refusal), answer refusals as problem+json."""

    def wrap(handler: Callable[..., Awaitable[Work] | Work]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                if any(_has_control(str(value)) for value in request.path_params.values()):
                    raise ApiProblem(404, "not_found", "No such resource.")  # no id holds control characters
                caller = await authenticate(request, scope, platform=platform)
                args = (request, caller, await read_object(request)) if body else (request, caller)
                work = handler(*args)
                if not callable(work):
                    work = await work  # type: ignore[misc]
                return await in_transaction(request, lambda session: _guarded(work, session, caller))  # type: ignore[arg-type]
            except ApiProblem as problem:
                return problem_response(problem)

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap


def _guarded(work: Work, session: Session, caller: Caller) -> Response:
    try:
        return work(session, caller)
    except ManageError as error:
        raise from_manage_error(error) from error


def from_manage_error(error: ManageError) -> ApiProblem:
    code = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}.get(error.status, "invalid")
    return ApiProblem(error.status, code, error.message, errors=error.fields)
