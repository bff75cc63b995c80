"""How each resource looks in the API: rows turned into the contract's response models."""

from __future__ import annotations

from identity.models.audit import AuditEvent
from identity.models.client import Client
from identity.models.tenant import Tenant, TenantScope
from identity.models.user import User
from tenants.api import contract
from tenants.manage.tenants import TenantRow


def client_view(client: Client) -> contract.Client:
    return contract.Client(
        client_id=client.id,
        name=client.name,
        app_type=client.app_type,
        public=client.is_public,
        description=client.description,
        logo_url=client.logo_url,
        redirect_uris=list(client.redirect_uris),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        backchannel_logout_uri=client.backchannel_logout_uri,
        frontchannel_logout_uri=client.frontchannel_logout_uri,
        grant_types=list(client.grant_types),
        scopes=list(client.scopes),
        require_pkce=client.require_pkce,
        access_token_ttl=client.access_token_ttl,
        refresh_token_ttl=client.refresh_token_ttl,
        refresh_token_grace=client.refresh_token_grace,
        require_pushed_authorization_requests=client.require_pushed_requests,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        require_dpop_nonce=client.require_dpop_nonce,
        previous_secret_expires_at=client.previous_secret_expires_at,
        registered_dynamically=client.registered_dynamically,
        created_at=client.created_at,
    )


def client_with_secret(client: Client, secret: str | None) -> contract.ClientWithSecret:
    return contract.ClientWithSecret(**client_view(client).model_dump(), client_secret=secret)


def user_view(user: User, role: str | None) -> contract.User:
    return contract.User(
        id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        claims=dict(user.claims or {}),
        disabled=user.disabled,
        portal_role=role,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def member_view(user: User, role: str) -> contract.Member:
    return contract.Member(user_id=user.id, email=user.email, name=user.name, role=role)


def scope_view(scope: TenantScope) -> contract.Scope:
    return contract.Scope(name=scope.name, description=scope.description)


def event_view(event: AuditEvent) -> contract.AuditEvent:
    return contract.AuditEvent(
        id=event.id,
        time=event.created_at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        ip=event.ip,
        details=event.details or {},
    )


def platform_event_view(event: AuditEvent, tenant_slug: str) -> contract.PlatformAuditEvent:
    return contract.PlatformAuditEvent(**event_view(event).model_dump(), tenant=tenant_slug)


def tenant_view(row: TenantRow, issuer: str) -> contract.Tenant:
    tenant = row.tenant
    return contract.Tenant(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        status=tenant.status,
        status_reason=tenant.status_reason,
        issuer=issuer,
        created_at=tenant.created_at,
        counts=contract.TenantCounts(
            users=row.users, apps=row.apps, active_sessions=row.active_sessions, tokens_24h=row.tokens_24h
        ),
    )


def settings_view(tenant: Tenant) -> contract.Settings:
    return contract.Settings(dynamic_registration=tenant.dynamic_registration)
