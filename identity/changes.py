"""What a transaction changed that caches may hold: named here, forgotten by ``identity.invalidation``
once the transaction commits. No imports of the rest of the app, so any service can announce."""

from __future__ import annotations

from typing import Any

Change = tuple[str, ...]
PENDING = "identity.invalidate"  # session.info: the changes of the transaction in progress
EVERYTHING: Change = ("all",)


def announce(session: Any, *changes: Change) -> None:
    """Changes a service made with a bulk statement (the ORM flush events do not see those)."""
    session.info.setdefault(PENDING, set()).update(changes)


def tenant_changed(tenant_id: str, slug: str) -> Change:
    return ("tenant", tenant_id, slug)


def client_changed(tenant_id: str, client_id: str) -> Change:
    return ("client", tenant_id, client_id)


def grant_revoked(tenant_id: str, grant_id: str) -> Change:
    return ("grant", tenant_id, grant_id)


def user_changed(tenant_id: str, user_id: str) -> Change:
    """The user's profile, status or any of their grants: every cached grant of theirs goes."""
    return ("user", tenant_id, user_id)


def tenant_grants(tenant_id: str) -> Change:
    """Every cached grant of the tenant (grants that went by a cascade the ORM did not see)."""
    return ("grants", tenant_id)


def access_tokens_revoked(tenant_id: str) -> Change:
    """The tenant's list of individually revoked access tokens changed."""
    return ("access_tokens", tenant_id)
