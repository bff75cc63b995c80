"""Management apps and their real tokens, from our own token endpoint (client_credentials)."""

from __future__ import annotations

from sqlmodel import select

from identity.db import session_scope
from identity.models.audit import AuditEvent
from identity.scopes import TENANT_API_SCOPES
from tenants.manage.tenants import platform_tenant
from tests.factories import make_client

ALL_TENANT_SCOPES = sorted(TENANT_API_SCOPES)
ALL_PLATFORM_SCOPES = ["admin:audit", "admin:tenants"]


def management_token(http, ctx, tenant, scopes: list[str], *, slug: str | None = None) -> str:
    """A machine-to-machine app of ``tenant`` allowed ``scopes``, and an access token for all of them."""
    app = make_client(
        ctx,
        tenant,
        name=f"Automation {'+'.join(scopes)}"[:200],
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=scopes,
    )
    response = http.post(
        f"/t/{slug or tenant.slug}/token",
        data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
        auth=(app.client_id, app.client_secret),
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def platform(ctx):
    with session_scope(ctx.sessions) as session:
        return platform_tenant(session, ctx.encryptor)


def platform_token(http, ctx, scopes: list[str] | None = None) -> str:
    return management_token(http, ctx, platform(ctx), scopes or ALL_PLATFORM_SCOPES)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_rows(ctx, tenant_id: str, action: str | None = None) -> list[AuditEvent]:
    with session_scope(ctx.sessions) as session:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(session.exec(query).all())


def audit_count(ctx, tenant_id: str) -> int:
    return len(audit_rows(ctx, tenant_id))
