"""Creating tenants (CLI now; sign-up and admin console later)."""

from __future__ import annotations

from sqlmodel import Session

from identity.clients import register_client
from identity.crypto import KeyEncryptor
from identity.keys import create_initial_keys
from identity.scopes import STANDARD_SCOPES
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
    create_portal_client(session, tenant)
    return tenant


PORTAL_CALLBACK = "/portal/callback"


def create_portal_client(session: Session, tenant: Tenant) -> None:
    """The developer portal is a first-party app of the tenant: it signs members in with the tenant's own
    authorization code flow (public client, PKCE). Its redirect URI is relative to the issuer."""
    register_client(
        session,
        tenant.id,
        hasher=None,  # a public client has no secret to hash
        name="Developer portal",
        redirect_uris=[PORTAL_CALLBACK],
        public=True,
        grant_types=["authorization_code"],
        scopes=["openid", "profile", "email"],
        first_party=True,
    )


def define_scope(session: Session, tenant: Tenant, *, name: str, description: str) -> TenantScope:
    if not name or len(name) > 100 or any(ch.isspace() or ch in '"\\' for ch in name):
        raise TenantError(f"invalid scope name {name!r}")
    if name in STANDARD_SCOPES:
        raise TenantError(f"{name!r} is a standard OpenID Connect scope")
    scope = TenantScope(tenant_id=tenant.id, name=name, description=description.strip())
    session.merge(scope)
    session.flush()
    return scope
