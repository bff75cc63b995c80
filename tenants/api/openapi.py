"""The OpenAPI 3.1 document of the management API, served at ``/api/openapi.json``.

Written out here rather than inferred: it is the contract clients and our schemathesis test hold us to.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from identity.web import app_context, cacheable
from tenants.resolution import SLUG_PATTERN

STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
NULLABLE_INT = {"type": ["integer", "null"]}
STRINGS = {"type": "array", "items": STR}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], properties: dict[str, Any], *, extra: bool = False) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": extra}


def _page_of(name: str) -> dict[str, Any]:
    return _object(
        ["items", "total", "limit", "offset"],
        {"items": {"type": "array", "items": _ref(name)}, "total": INT, "limit": INT, "offset": INT},
    )


CLIENT_EDITABLE = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "maxLength": 500},
    "logo_url": {"type": "string", "maxLength": 500},
    "redirect_uris": STRINGS,
    "post_logout_redirect_uris": STRINGS,
    "scopes": STRINGS,
    "access_token_ttl": NULLABLE_INT,
    "refresh_token_ttl": NULLABLE_INT,
}
CLIENT = {
    "client_id": STR,
    "app_type": {"enum": ["web", "spa", "native", "m2m"]},
    "public": BOOL,
    "grant_types": STRINGS,
    "require_pkce": BOOL,
    "previous_secret_expires_at": NULLABLE_INT,
    "created_at": INT,
    **CLIENT_EDITABLE,
}
ROLE = {"enum": ["owner", "admin", "developer"]}
USER = {
    "id": STR,
    "email": STR,
    "email_verified": BOOL,
    "name": STR,
    "disabled": BOOL,
    "portal_role": {"enum": ["owner", "admin", "developer", None]},
    "created_at": INT,
    "updated_at": INT,
}
TENANT = {
    "id": STR,
    "slug": STR,
    "name": STR,
    "status": {"enum": ["active", "suspended"]},
    "status_reason": STR,
    "issuer": STR,
    "created_at": INT,
    "counts": _object(
        ["users", "apps", "active_sessions", "tokens_24h"],
        {"users": INT, "apps": INT, "active_sessions": INT, "tokens_24h": INT},
    ),
}
EVENT = {
    "id": STR,
    "time": INT,
    "actor": STR,
    "action": STR,
    "target": STR,
    "ip": STR,
    "details": {"type": "object"},
    "tenant": STR,
}

SCHEMAS: dict[str, Any] = {
    "Problem": _object(
        ["type", "title", "status", "detail"],
        {
            "type": STR,
            "title": STR,
            "status": INT,
            "detail": STR,
            "errors": {"type": "object", "additionalProperties": STRINGS},
        },
    ),
    "Client": _object(list(CLIENT), CLIENT),
    "ClientWithSecret": _object(
        list(CLIENT) + ["client_secret"], {**CLIENT, "client_secret": {"type": ["string", "null"]}}
    ),
    "ClientCreate": _object(["name"], {**CLIENT_EDITABLE, "app_type": CLIENT["app_type"], "grant_types": STRINGS}),
    "ClientUpdate": _object([], CLIENT_EDITABLE),
    "SecretRotation": _object([], {"grace_seconds": {"type": "integer", "minimum": 0, "maximum": 604800}}),
    "User": _object(list(USER), USER),
    "UserCreate": _object(["email", "password"], {"email": STR, "password": STR, "name": STR}),
    "UserUpdate": _object([], {"name": STR, "disabled": BOOL, "password": STR}),
    "Consent": _object(
        ["client_id", "client_name", "scopes", "updated_at"],
        {"client_id": STR, "client_name": STR, "scopes": STRINGS, "updated_at": INT},
    ),
    "ConsentList": _object(["items", "total"], {"items": {"type": "array", "items": _ref("Consent")}, "total": INT}),
    "Member": _object(["user_id", "email", "name", "role"], {"user_id": STR, "email": STR, "name": STR, "role": ROLE}),
    "MemberInvite": _object(["email", "role"], {"email": STR, "role": STR}),
    "MemberUpdate": _object(["role"], {"role": STR}),
    "Invitation": _object(
        ["id", "email", "role", "expires_at", "invitation_url"],
        {"id": STR, "email": STR, "role": ROLE, "expires_at": INT, "invitation_url": STR},
    ),
    "Scope": _object(["name", "description"], {"name": STR, "description": STR}),
    "ScopeCreate": _object(["name", "description"], {"name": STR, "description": STR}),
    "ScopeUpdate": _object(["description"], {"description": STR}),
    "AuditEvent": _object(["id", "time", "actor", "action", "target", "ip", "details"], EVENT),
    "Tenant": _object(list(TENANT), TENANT),
    "TenantCreated": _object(list(TENANT), {**TENANT, "owner_invitation_url": STR}),
    "TenantCreate": _object(["slug", "name"], {"slug": STR, "name": STR, "owner_email": STR}),
    "TenantUpdate": _object(["name"], {"name": STR}),
    "Suspension": _object([], {"reason": {"type": "string", "maxLength": 500}}),
}
for _name in ("Client", "User", "Member", "Scope", "AuditEvent", "Tenant"):
    SCHEMAS[f"{_name}Page"] = _page_of(_name)

PROBLEM_CONTENT = {"application/problem+json": {"schema": _ref("Problem")}}
ERRORS = {
    str(code): {"description": text, "content": PROBLEM_CONTENT}
    for code, text in [
        (400, "Malformed request"),
        (401, "Missing, invalid, expired or wrong-audience access token"),
        (403, "The token lacks the scope, the role rules refuse, or the tenant is suspended"),
        (404, "No such resource in this tenant"),
        (409, "Conflicts with the current state"),
        (412, "If-Match names an outdated representation"),
        (415, "The body is not application/json"),
        (422, "The input breaks a rule; errors names each field"),
    ]
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": STR,
    "description": "The ETag of the representation this change is based on (optional; 412 when outdated)",
}
PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000000, "default": 0}},
]


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _op(
    summary: str,
    scope: str,
    ok: tuple[int, str | None],
    *,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    status, schema = ok
    success: dict[str, Any] = {"description": "Success"}
    if schema:
        success["content"] = _json(schema)
        success["headers"] = {"ETag": {"schema": STR}} if status == 200 and not schema.endswith("Page") else {}
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": [scope]}],
        "parameters": params or [],
        "responses": {str(status): success, **ERRORS},
    }
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    return op


def _path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string", "minLength": 1}}


# The query's text filters: the lengths tenants.api.http.query_text allows, and no control characters.
QUERY_LIMITS = {"q": 200, "status": 20, "tenant": 40, "action": 80, "actor": 200}


def _query(*names: str) -> list[dict[str, Any]]:
    return [
        {
            "name": n,
            "in": "query",
            "schema": {"type": "string", "maxLength": QUERY_LIMITS[n], "pattern": "^[^\\u0000-\\u001f\\u007f]*$"},
        }
        for n in names
    ]


def _collection(
    noun: str, schema: str, scope: str, *, create: str, extra_query: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "get": _op(f"List {noun}", scope, (200, f"{schema}Page"), params=PAGING + _query(*extra_query)),
        "post": _op(f"Create {noun}", scope, (201, create.split(":")[1]), body=create.split(":")[0]),
    }


def _item(noun: str, schema: str, scope: str, update: str | None) -> dict[str, Any]:
    item = {
        "get": _op(f"Read one of the {noun}", scope, (200, schema)),
        "delete": _op(f"Delete one of the {noun} (idempotent)", scope, (204, None), params=[IF_MATCH]),
    }
    if update:
        item["patch"] = _op(f"Change one of the {noun}", scope, (200, schema), body=update, params=[IF_MATCH])
    return item


def _with_params(params: list[dict[str, Any]], operations: dict[str, Any]) -> dict[str, Any]:
    return {"parameters": params, **operations}


TENANT_PARAM = _path_param("tenant", {"type": "string", "pattern": SLUG_PATTERN.pattern})


def document(public_url: str) -> dict[str, Any]:
    t = [TENANT_PARAM]
    paths = {
        "/t/{tenant}/api/clients": _with_params(
            t, _collection("applications", "Client", "manage:clients", create="ClientCreate:ClientWithSecret")
        ),
        "/t/{tenant}/api/clients/{client_id}": _with_params(
            t + [_path_param("client_id")], _item("applications", "Client", "manage:clients", "ClientUpdate")
        ),
        "/t/{tenant}/api/clients/{client_id}/secret": _with_params(
            t + [_path_param("client_id")],
            {
                "post": _op(
                    "Rotate the secret (shown once)", "manage:clients", (200, "ClientWithSecret"), body="SecretRotation"
                )
            },
        ),
        "/t/{tenant}/api/users": _with_params(
            t, _collection("users", "User", "manage:users", create="UserCreate:User", extra_query=("q",))
        ),
        "/t/{tenant}/api/users/{user_id}": _with_params(
            t + [_path_param("user_id")], _item("users", "User", "manage:users", "UserUpdate")
        ),
        "/t/{tenant}/api/users/{user_id}/consents": _with_params(
            t + [_path_param("user_id")],
            {"get": _op("The user's remembered consents", "manage:users", (200, "ConsentList"))},
        ),
        "/t/{tenant}/api/users/{user_id}/consents/{client_id}": _with_params(
            t + [_path_param("user_id"), _path_param("client_id")],
            {"delete": _op("Revoke a consent and the app's grants (idempotent)", "manage:users", (204, None))},
        ),
        "/t/{tenant}/api/members": _with_params(
            t, _collection("team members", "Member", "manage:members", create="MemberInvite:Invitation")
        ),
        "/t/{tenant}/api/members/{user_id}": _with_params(
            t + [_path_param("user_id")], _item("team members", "Member", "manage:members", "MemberUpdate")
        ),
        "/t/{tenant}/api/scopes": _with_params(
            t, _collection("scopes", "Scope", "manage:scopes", create="ScopeCreate:Scope")
        ),
        "/t/{tenant}/api/scopes/{name}": _with_params(
            t + [_path_param("name")], _item("scopes", "Scope", "manage:scopes", "ScopeUpdate")
        ),
        "/t/{tenant}/api/audit-events": _with_params(
            t,
            {
                "get": _op(
                    "Audit events, newest first",
                    "read:audit",
                    (200, "AuditEventPage"),
                    params=PAGING + _query("action", "actor"),
                )
            },
        ),
        "/api/admin/tenants": _collection(
            "tenants", "Tenant", "admin:tenants", create="TenantCreate:TenantCreated", extra_query=("q", "status")
        ),
        "/api/admin/tenants/{slug}": _with_params(
            [_path_param("slug")], _item("tenants", "Tenant", "admin:tenants", "TenantUpdate")
        ),
        "/api/admin/tenants/{slug}/suspend": _with_params(
            [_path_param("slug")],
            {
                "post": _op(
                    "Suspend: every endpoint of the tenant refuses", "admin:tenants", (200, "Tenant"), body="Suspension"
                )
            },
        ),
        "/api/admin/tenants/{slug}/resume": _with_params(
            [_path_param("slug")], {"post": _op("Resume a suspended tenant", "admin:tenants", (200, "Tenant"))}
        ),
        "/api/admin/audit-events": {
            "get": _op(
                "The platform-wide audit log, newest first",
                "admin:audit",
                (200, "AuditEventPage"),
                params=PAGING + _query("tenant", "action", "actor"),
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Identity platform management API",
            "version": "1",
            "description": (
                "Tenant scope under {issuer}/api, platform scope under /api/admin. Authenticate with a bearer "
                "access token from the tenant's token endpoint ({issuer}/token, grant_type=client_credentials) "
                "for a machine-to-machine app allowed the scopes named on each operation; platform tokens come "
                "from the platform tenant (/t/platform/token). Errors are RFC 9457 problem+json."
            ),
        },
        "servers": [{"url": public_url}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


async def openapi_json(request: Request) -> Response:
    import json  # noqa: PLC0415

    body = json.dumps(document(app_context(request).settings.public_url), separators=(",", ":")).encode()
    return cacheable(request, body, "application/json")
