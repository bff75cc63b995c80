"""A tenant's branding and settings (display name, logo, colour, sign-up, lifetimes, grants, retention)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from identity.models.tenant import Tenant
from tenants import audit
from tenants.manage.errors import Invalid
from tenants.service import settings_of, update_settings


def change_settings(session: Session, tenant: Tenant, actor: audit.Actor, **values: Any) -> dict[str, Any]:
    """Validate all values together and apply them only when every one is valid (``Invalid`` names each
    field at fault). Settings not given keep their value. Returns what changed (empty: no event)."""
    before = settings_of(tenant)
    errors = update_settings(session, tenant, **{**before, **values})
    if errors:
        session.expire(tenant)
        raise Invalid("; ".join(m for ms in errors.values() for m in ms), errors)
    after = settings_of(tenant)
    changed = {name: after[name] for name in after if after[name] != before[name]}
    if changed:
        audit.record(session, tenant.id, actor, "tenant.settings_updated", tenant.slug, changed=changed)
        if "audit_retention_days" in changed:  # a shorter retention applies now, not at the next log visit
            audit.purge_expired(session, tenant.id, tenant.audit_retention_days)
    return changed
