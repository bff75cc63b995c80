"""Portal: the audit log (admins and owners), newest first, 50 a page, filtered by action prefix.

Opening the page first deletes the tenant's events older than its retention, in the same transaction, so
the page never shows what the tenant asked us not to keep. (Saving a shorter retention in the settings
purges at once too.) Nothing else purges yet: a tenant whose admins never open this page keeps old events
until a scheduled purge exists.
"""

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

from identity.models.audit import AuditEvent
from identity.models.team import ADMIN
from identity.web import in_transaction
from tenants import audit
from tenants.portal import forms
from tenants.portal.access import require_member
from tenants.portal.web import portal_page
from tenants.resolution import resolve_tenant

PAGE_SIZE = 50
# Action names are dotted lowercase words ("client.created"); a prefix of one is what the filter takes.
ACTION_PREFIX = re.compile(r"^[a-z0-9_.-]{1,80}$")
ACTION_HELP = (
    "Use the start of an action name: lowercase letters, digits, dots, hyphens or underscores, such as client."
)


def _actor(label: str) -> dict[str, str]:
    """``user:<id> <email>`` shows as the email with the id beside it; other actors ("cli") as they are."""
    if label.startswith("user:") and " " in label:
        user_id, email = label.removeprefix("user:").split(" ", 1)
        return {"name": email, "id": user_id}
    return {"name": label, "id": ""}


def _detail_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    """``key: value`` lines; a nested mapping (such as the settings that changed) one line per entry."""
    lines: list[tuple[str, str]] = []
    for key, value in sorted(details.items()):
        if isinstance(value, dict) and value:
            lines.extend((f"{key} {sub}", _detail_text(inner)) for sub, inner in sorted(value.items()))
        else:
            lines.append((key, _detail_text(value)))
    return lines


def _row(event: AuditEvent) -> dict[str, Any]:
    stamp = int(event.created_at)
    return {
        "iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)),
        "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp)),
        "actor": _actor(event.actor),
        "action": event.action,
        "target": event.target,
        "ip": event.ip,
        "details": _details(event.details or {}),
    }


def _events(session: Session, tenant_id: str, page: int, action: str) -> tuple[list[AuditEvent], int]:
    return audit.events(session, tenant_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, action=action)


async def audit_page(request: Request) -> Response:
    slug = request.path_params["tenant"]
    action = forms.query_text(request, "action")
    wanted = forms.page_number(request.query_params.get("page", "1"))

    def work(session: Session) -> Response:
        member = require_member(session, request, resolve_tenant(session, slug), ADMIN)
        tenant = member.tenant
        audit.purge_expired(session, tenant.id, tenant.audit_retention_days)
        errors: dict[str, list[str]] = {}
        if action and not ACTION_PREFIX.fullmatch(action):
            errors["action"] = [ACTION_HELP]
        rows: list[AuditEvent] = []
        total, number = 0, 1
        if not errors:
            number = wanted
            rows, total = _events(session, tenant.id, number, action)
            last = max(1, -(-total // PAGE_SIZE))
            if number > last:  # past the end (events were purged, or a hand-typed page): show the last page
                number = last
                rows, total = _events(session, tenant.id, number, action)
        pages = max(1, -(-total // PAGE_SIZE))

        def link(page: int) -> str:
            query = {"action": action, "page": str(page)} if action else {"page": str(page)}
            return f"/t/{slug}/portal/audit?" + urlencode(query)

        context = {
            "events": [_row(event) for event in rows],
            "total": total,
            "page": number,
            "pages": pages,
            "first_shown": (number - 1) * PAGE_SIZE + 1 if rows else 0,
            "last_shown": (number - 1) * PAGE_SIZE + len(rows),
            "newer": link(number - 1) if number > 1 else "",
            "older": link(number + 1) if number < pages else "",
            "action": action,
            "errors": errors,
            "retention_days": tenant.audit_retention_days,
        }
        return portal_page(
            request, member, "portal/audit.html", context, section="audit", status=400 if errors else 200
        )

    return await in_transaction(request, work)


routes = [
    Route("/portal/audit", audit_page, methods=["GET"]),
]
