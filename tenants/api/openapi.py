"""The OpenAPI 3.1 document of the management API, served at ``/api/openapi.json``.

Generated from the operations (``tenants.api.operations``) and their models (``tenants.api.contract``):
the same declarations that make the routes and validate the requests, so the document cannot leave a
route out or state a limit the API does not enforce. Our schemathesis test holds responses to it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from identity.web import app_context, cacheable
from tenants.api import contract, platform_api, tenant_api
from tenants.api.operations import Api, Operation
from tenants.resolution import SLUG_PATTERN

APIS: tuple[Api, ...] = (tenant_api.api, platform_api.api)
DOCUMENT_PATH = "/api/openapi.json"
STR = {"type": "string"}

ERRORS = {
    400: "Malformed request: not JSON, too large, or a query parameter out of range",
    401: "Missing, invalid, expired or wrong-audience access token",
    403: "The token lacks the scope, the role rules refuse, or the tenant is suspended",
    404: "No such resource in this tenant",
    409: "Conflicts with the current state",
    412: "If-Match names an outdated representation",
    415: "The body is not application/json",
    422: "The input breaks a rule; errors names each member",
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": STR,
    "description": "The ETag of the representation this change is based on (optional; 412 when outdated)",
}
DESCRIPTION = (
    "Tenant scope under {issuer}/api, platform scope under /api/admin. Authenticate with a bearer access token "
    "from the tenant's token endpoint ({issuer}/token, grant_type=client_credentials) for a machine-to-machine "
    "app allowed the scopes named on each operation; platform tokens come from the platform tenant "
    "(/t/platform/token). Errors are RFC 9457 problem+json; a 422 names each refused member in errors."
)


def operations() -> list[tuple[str, Operation]]:
    """Every operation with its full path."""
    return [(api.prefix + op.path, op) for api in APIS for op in api.operations]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [(contract.Problem, "serialization")]
    for _, op in operations():
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = top["$defs"]
    return schemas


def _path_parameters(path: str) -> list[dict[str, Any]]:
    parameters = []
    for name in re.findall(r"\{(\w+)\}", path):
        schema = {"type": "string", "pattern": SLUG_PATTERN.pattern} if name == "tenant" else {"minLength": 1, **STR}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "schema": {key: value for key, value in prop.items() if key not in ("title", "description")},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema["properties"].items()
    ]


def _success(op: Operation) -> dict[str, Any]:
    response: dict[str, Any] = {"description": op.summary}
    if op.response is None:
        return response
    response["content"] = {"application/json": {"schema": _ref(op.response)}}
    is_page = op.response in contract.PAGES.values()
    if op.status == 200 and not is_page:
        response["headers"] = {"ETag": {"schema": STR, "description": "For If-Match"}}
    elif op.status == 201:
        response["headers"] = {"Location": {"schema": STR, "description": "The new resource, where it has a URL"}}
    elif is_page:
        response["headers"] = {"Link": {"schema": STR, "description": 'The next page (rel="next"), if any'}}
    return response


def _operation(path: str, op: Operation) -> dict[str, Any]:
    parameters = _path_parameters(path)
    if op.query is not None:
        parameters += _query_parameters(op.query)
    if op.if_match:
        parameters.append(IF_MATCH)
    problem = {"application/problem+json": {"schema": _ref(contract.Problem)}}
    described: dict[str, Any] = {
        "operationId": op.handler.__name__,
        "summary": op.summary,
        "security": [{"bearer": [op.scope]}],
        "parameters": parameters,
        "responses": {
            str(op.status): _success(op),
            **{str(code): {"description": text, "content": problem} for code, text in ERRORS.items()},
        },
    }
    if op.body is not None:
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    return described


@cache
def document(public_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {
        DOCUMENT_PATH: {
            "get": {
                "operationId": "openapi_document",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {}}}}},
            }
        }
    }
    for path, op in operations():
        paths.setdefault(path, {})[op.method.lower()] = _operation(path, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Identity platform management API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": public_url}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


async def openapi_json(request: Request) -> Response:
    body = json.dumps(document(app_context(request).settings.public_url), separators=(",", ":")).encode()
    return cacheable(request, body, "application/json")
