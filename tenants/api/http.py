"""Request and response plumbing every API endpoint shares: JSON bodies, pagination and ETags."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from identity.crypto import etag_of
from identity.problems import ApiProblem
from identity.web import NO_STORE

MAX_BODY = 64 * 1024


def json_body(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return Response(raw, status_code=status, media_type="application/json", headers={**NO_STORE, **(headers or {})})


def representation_etag(data: Any) -> str:
    return etag_of(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())


def one(resource: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A single resource, with the ETag a later If-Match must name."""
    data = resource.model_dump(mode="json")
    return json_body(status, data, {"ETag": representation_etag(data), **(headers or {})})


def created(resource: BaseModel, location: str | None = None) -> Response:
    """201 for a new resource (``Location`` names it, when it has a URL of its own)."""
    return json_body(201, resource.model_dump(mode="json"), {"Location": location} if location else None)


def no_content() -> Response:
    return Response(status_code=204, headers=NO_STORE)


def check_if_match(request: Request, current: BaseModel) -> None:
    """Safe concurrent edits: with If-Match, the change applies only to the representation it names."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" not in tags and representation_etag(current.model_dump(mode="json")) not in tags:
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


def page(request: Request, items: Sequence[BaseModel], total: int, limit: int, offset: int) -> Response:
    """A page of a collection; ``Link: rel="next"`` when there is more (RFC 8288)."""
    headers = {}
    if offset + limit < total:
        query = {**request.query_params, "limit": str(limit), "offset": str(offset + limit)}
        headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    body = {"items": [item.model_dump(mode="json") for item in items], "total": total, "limit": limit, "offset": offset}
    return json_body(200, body, headers)
