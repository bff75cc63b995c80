"""Tenant slugs and resolving the tenant named in a URL."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from identity.models.tenant import Tenant

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")


class TenantNotFound(LookupError):
    """No tenant has this slug (HTTP 404)."""


class TenantSuspended(PermissionError):
    """The tenant exists but is suspended: every endpoint refuses (HTTP 403, ``tenant_suspended``)."""


def is_valid_slug(slug: str) -> bool:
    return bool(SLUG_PATTERN.fullmatch(slug))


def find_tenant(session: Session, slug: str) -> Tenant | None:
    if not is_valid_slug(slug):
        return None
    return session.exec(select(Tenant).where(Tenant.slug == slug)).first()


def resolve_tenant(session: Session, slug: str) -> Tenant:
    tenant = find_tenant(session, slug)
    if tenant is None:
        raise TenantNotFound(slug)
    if tenant.is_suspended:
        raise TenantSuspended(slug)
    return tenant
