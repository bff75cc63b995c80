"""RFC 9457 problem details: every API error is ``application/problem+json`` with a stable ``type``."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from identity.web import NO_STORE

PROBLEM_TYPE = "https://identity.invalid/problems/"  # a stable, documented identifier (RFC 9457 §3.1.1)

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Invalid input",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.headers = errors or {}, headers or {}


def problem_response(problem: ApiProblem) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + problem.code,
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = problem.errors
    return Response(
        json.dumps(body),
        status_code=problem.status,
        media_type="application/problem+json",
        headers={**NO_STORE, **problem.headers},
    )
