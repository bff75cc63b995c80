"""The management API's operations, each declared once: its method and path, scope, request and response
models. The Starlette routes and the OpenAPI document are both made from these declarations, so a route
cannot go undocumented and a documented limit is the one enforced.

A handler is ``handler(request, caller[, payload]) -> work``; ``payload`` is the validated body (or the
validated query) and ``work(session, caller)`` runs in one transaction, rolled back on any refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.problems import ApiProblem, problem_response
from identity.web import in_transaction
from tenants.api.auth import Caller, authenticate
from tenants.api.contract import Body, Out, Query
from tenants.api.http import read_object
from tenants.manage.errors import ManageError

Work = Callable[[Session, Caller], Response]
Handler = Callable[..., Work]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as routed; tenant-scope paths sit under /t/{tenant}
    summary: str
    scope: str
    handler: Handler
    status: int  # of success
    response: type[Out] | None  # None: no body (204)
    body: type[Body] | None = None
    query: type[Query] | None = None
    if_match: bool = False  # takes If-Match (RFC 9110 §13.1.1)


@dataclass
class Api:
    """One scope's operations: the tenant API (under ``/t/{tenant}``) or the platform API."""

    prefix: str
    platform: bool
    operations: list[Operation] = field(default_factory=list)

    def operation(
        self,
        method: str,
        path: str,
        summary: str,
        scope: str,
        *,
        status: int = 200,
        response: type[Out] | None = None,
        body: type[Body] | None = None,
        query: type[Query] | None = None,
        if_match: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            spec = Operation(method, path, summary, scope, handler, status, response, body, query, if_match)
            self.operations.append(spec)
            return handler

        return register

    def routes(self) -> list[Route]:
        return [Route(op.path, _endpoint(op, self.platform), methods=[op.method]) for op in self.operations]


def _endpoint(op: Operation, platform: bool) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        try:
            if any(_has_control(str(value)) for value in request.path_params.values()):
                raise ApiProblem(404, "not_found", "No such resource.")  # no id holds control characters
            caller = await authenticate(request, op.scope, platform=platform)
            args: tuple[Any, ...] = (request, caller)
            if op.body is not None:
                args += (_validated_body(op.body, await read_object(request)),)
            elif op.query is not None:
                args += (_validated_query(op.query, request),)
            work = op.handler(*args)
            return await in_transaction(request, lambda session: _guarded(work, session, caller))
        except ApiProblem as problem:
            return problem_response(problem)

    run.__name__ = op.handler.__name__
    run.__doc__ = op.summary
    return run


def _validated_body(model: type[Body], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = member_errors(error)
        first = next(iter(errors))
        raise ApiProblem(422, "invalid", f"{first}: {errors[first][0]}.", errors=errors) from error


def _validated_query(model: type[Query], request: Request) -> BaseModel:
    if len(request.query_params.multi_items()) != len(request.query_params):
        raise ApiProblem(400, "bad_request", "Give each query parameter once.")
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as error:
        name, messages = next(iter(member_errors(error).items()))
        raise ApiProblem(400, "bad_request", f"Query parameter {name}: {messages[0]}.") from error


def member_errors(error: ValidationError) -> dict[str, list[str]]:
    """Pydantic's errors as ``{member: [messages]}``: the member each one is about, dotted into nested
    objects (``claims.zoneinfo``) but not into lists (an item of ``redirect_uris`` is ``redirect_uris``)."""
    errors: dict[str, list[str]] = {}
    for item in error.errors(include_url=False, include_input=False):
        path = []
        for part in item["loc"]:
            if not isinstance(part, str):
                break
            path.append(part)
        member = ".".join(path) or "body"
        message = "unknown member" if item["type"] == "extra_forbidden" else item["msg"]
        errors.setdefault(member, []).append(message)
    return errors


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def _guarded(work: Work, session: Session, caller: Caller) -> Response:
    try:
        return work(session, caller)
    except ManageError as error:
        raise from_manage_error(error) from error


def from_manage_error(error: ManageError) -> ApiProblem:
    code = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}.get(error.status, "invalid")
    return ApiProblem(error.status, code, error.message, errors=error.fields)
