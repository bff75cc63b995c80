"""How each resource looks in the API (and in the OpenAPI document's schemas)."""

from __future__ import annotations

from typing import Any

from identity.models.audit import AuditEvent
from identity.models.client import Client
from identity.models.tenant import TenantScope
from identity.models.user import User
from tenants.manage.tenants import TenantRow


def client_view(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.id,
        "name": client.name,
        "app_type": client.app_type,
        "public": client.is_public,
        "description": client.description,
        "logo_url": client.logo_url,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": list(client.grant_types),
        "scopes": list(client.scopes),
        "require_pkce": client.require_pkce,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "previous_secret_expires_at": client.previous_secret_expires_at,
        "created_at": client.created_at,
    }


def user_view(user: User, role: str | None) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
        "disabled": user.disabled,
        "portal_role": role,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def member_view(user: User, role: str) -> dict[str, Any]:
    return {"user_id": user.id, "email": user.email, "name": user.name, "role": role}


def scope_view(scope: TenantScope) -> dict[str, Any]:
    return {"name": scope.name, "description": scope.description}


def event_view(event: AuditEvent, tenant_slug: str | None = None) -> dict[str, Any]:
    view = {
        "id": event.id,
        "time": event.created_at,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "ip": event.ip,
        "details": event.details or {},
    }
    if tenant_slug is not None:
        view["tenant"] = tenant_slug
    return view


def tenant_view(row: TenantRow, issuer: str) -> dict[str, Any]:
    tenant = row.tenant
    return {
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "status": tenant.status,
        "status_reason": tenant.status_reason,
        "issuer": issuer,
        "created_at": tenant.created_at,
        "counts": {
            "users": row.users,
            "apps": row.apps,
            "active_sessions": row.active_sessions,
            "tokens_24h": row.tokens_24h,
        },
    }
