"""The management API's routes: the tenant scope (mounted under /t/{tenant}) and the root ones."""

from __future__ import annotations

from starlette.routing import Route

from tenants.api import openapi, platform_api, tenant_api

tenant_api_routes = tenant_api.routes
root_api_routes = [Route(openapi.DOCUMENT_PATH, openapi.openapi_json, methods=["GET"]), *platform_api.routes]
