"""Creating tenants (CLI now; sign-up and admin console later)."""

from __future__ import annotations

from sqlmodel import Session

from identity.crypto import KeyEncryptor
from identity.keys import create_initial_keys
from tenants.models import Tenant, TenantScope
from tenants.resolution import SLUG_PATTERN, find_tenant


class TenantError(ValueError):
    """A tenant we refuse to create, with a message fit to show."""


def create_tenant(session: Session, encryptor: KeyEncryptor, *, slug: str, name: str | None = None) -> Tenant:
    if not SLUG_PATTERN.fullmatch(slug):
        raise TenantError(
            f"invalid slug {slug!r}: 3-40 characters, lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    if find_tenant(session, slug) is not None:
        raise TenantError(f"tenant {slug!r} already exists")
    tenant = Tenant(slug=slug, name=(name or slug).strip() or slug)
    session.add(tenant)
    session.flush()
    create_initial_keys(session, tenant, encryptor)
    return tenant


def define_scope(session: Session, tenant: Tenant, *, name: str, description: str) -> TenantScope:
    from identity.scopes import STANDARD_SCOPES  # noqa: PLC0415 - identity imports tenants, not the reverse at load

    if not name or len(name) > 100 or any(ch.isspace() or ch in '"\\' for ch in name):
        raise TenantError(f"invalid scope name {name!r}")
    if name in STANDARD_SCOPES:
        raise TenantError(f"{name!r} is a standard OpenID Connect scope")
    scope = TenantScope(tenant_id=tenant.id, name=name, description=description.strip())
    session.merge(scope)
    session.flush()
    return scope
