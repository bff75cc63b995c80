"""Console: the platform-wide audit log, newest first, 50 a page, filtered by tenant, action prefix and actor."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity.web import in_transaction
from tenants.admin.access import require_admin
from tenants.admin.web import admin_page
from tenants.audit import PlatformEvent, platform_events
from tenants.portal import forms
from tenants.resolution import find_tenant

PAGE_SIZE = 50
ACTION_PREFIX = re.compile(r"^[a-z0-9_.-]{1,80}$")
ACTION_HELP = "Use the start of an action name: lowercase letters, digits, dots, hyphens or underscores."
ACTOR_PREFIXES = {"admin:": "admin", "user:": "user"}


def _actor(label: str) -> dict[str, str]:
    """``admin:<id> <email>`` and ``user:<id> <email>`` show as the email with the kind and id beside it."""
    for prefix, kind in ACTOR_PREFIXES.items():
        if label.startswith(prefix) and " " in label:
            actor_id, email = label.removeprefix(prefix).split(" ", 1)
            return {"name": email, "id": f"{kind} {actor_id}"}
    return {"name": label, "id": ""}


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)

    return [(key, text(value)) for key, value in sorted(details.items())]


def _row(item: PlatformEvent) -> dict[str, Any]:
    event, stamp = item.event, int(item.event.created_at)
    return {
        "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)),
        "date": time.strftime("%Y-%m-%d", time.gmtime(stamp)),
        "clock": time.strftime("%H:%M:%S UTC", time.gmtime(stamp)),
        "tenant": item.tenant_slug,
        "actor": _actor(event.actor),
        "action": event.action,
        "target": event.target,
        "ip": event.ip,
        "details": _details(event.details or {}),
    }


async def audit_page(request: Request) -> Response:
    filters = {
        "tenant": request.query_params.get("tenant", "").strip()[:40],
        "action": request.query_params.get("action", "").strip()[:80],
        "actor": request.query_params.get("actor", "").strip()[:200],
        "target": request.query_params.get("target", "").strip()[:400],
    }
    wanted = forms.page_number(request.query_params.get("page", "1"))

    def work(session: Session) -> Response:
        admin = require_admin(session, request)
        errors: dict[str, list[str]] = {}
        tenant_id = None
        if filters["tenant"]:
            tenant = find_tenant(session, filters["tenant"])
            if tenant is None:
                errors["tenant"] = [f"There is no tenant {filters['tenant']!r}."]
            else:
                tenant_id = tenant.id
        if filters["action"] and not ACTION_PREFIX.fullmatch(filters["action"]):
            errors["action"] = [ACTION_HELP]
        rows: list[PlatformEvent] = []
        total, page = 0, 1
        if not errors:
            page = wanted
            query = {"tenant_id": tenant_id, "action": filters["action"], "actor": filters["actor"]}
            query["target"] = filters["target"]
            rows, total = platform_events(session, **query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            last = max(1, -(-total // PAGE_SIZE))
            if page > last:  # past the end: show the last page
                page = last
                rows, total = platform_events(session, **query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        pages = max(1, -(-total // PAGE_SIZE))

        def link(number: int) -> str:
            return "/admin/audit?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": str(number)})

        context = {
            "events": [_row(item) for item in rows],
            "total": total,
            "page": page,
            "pages": pages,
            "first_shown": (page - 1) * PAGE_SIZE + 1 if rows else 0,
            "last_shown": (page - 1) * PAGE_SIZE + len(rows),
            "newer": link(page - 1) if page > 1 else "",
            "older": link(page + 1) if page < pages else "",
            "filters": filters,
            "filtered": any(filters.values()),
            "errors": errors,
        }
        return admin_page(request, admin, "admin/audit.html", context, section="audit", status=400 if errors else 200)

    return await in_transaction(request, work)


routes = [Route("/audit", audit_page, methods=["GET"])]
