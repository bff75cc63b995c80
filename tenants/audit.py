"""The audit log: one row per change, written in the same transaction as the change it records.

Never pass secrets, passwords, codes or tokens in ``details``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from identity.clock import now
from identity.db import across_tenants, tenant_delete, tenant_query
from identity.models.audit import AuditEvent
from identity.models.tenant import Tenant


@dataclass(frozen=True)
class Actor:
    """Who acts: a portal member, an API client, the CLI, a platform admin; and from which address.

    ``role`` is the portal role the actor acts with (its rules live in ``tenants.manage``): a member's own
    role; an API client acts as an admin; the CLI and platform API clients as owners; anyone else (a
    signing-in user, a client at the token endpoint) has none. ``user_id`` is the acting
    member's account, so nobody disables or deletes themselves."""

    label: str
    ip: str = ""
    role: str = ""  # no portal rank unless given
    user_id: str | None = None


CLI = Actor("cli", role="owner")  # the operator of the platform's machines


def record(session: Session, tenant_id: str, actor: Actor, action: str, target: str = "", **details: Any) -> None:
    session.add(
        AuditEvent(tenant_id=tenant_id, actor=actor.label, action=action, target=target, ip=actor.ip, details=details)
    )


def events(
    session: Session, tenant_id: str, *, limit: int = 50, offset: int = 0, action: str = "", actor: str = ""
) -> tuple[list[AuditEvent], int]:
    """The tenant's events, newest first; ``action`` is a prefix (``client.``), ``actor`` a substring."""
    query = tenant_query(AuditEvent, tenant_id)
    count = select(func.count()).select_from(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if action:
        query = query.where(col(AuditEvent.action).startswith(action, autoescape=True))
        count = count.where(col(AuditEvent.action).startswith(action, autoescape=True))
    if actor:
        query = query.where(col(AuditEvent.actor).contains(actor, autoescape=True))
        count = count.where(col(AuditEvent.actor).contains(actor, autoescape=True))
    rows = session.exec(
        query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id)).offset(offset).limit(limit)
    )
    return list(rows.all()), int(session.exec(count).one())


def purge_expired(session: Session, tenant_id: str, retention_days: int) -> None:
    cutoff = now() - retention_days * 86400
    session.exec(tenant_delete(AuditEvent, tenant_id).where(col(AuditEvent.created_at) < cutoff))


# -- the platform-wide log: events of every tenant (the platform's own included), for the admin console
# and the platform API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformEvent:
    event: AuditEvent
    tenant_slug: str  # empty only if the tenant row is gone (its events go with it, so in practice never)


def _filters(tenant_id: str | None, action: str, actor: str, target: str) -> list[object]:
    where: list[object] = []
    if tenant_id is not None:
        where.append(col(AuditEvent.tenant_id) == tenant_id)
    if action:
        where.append(col(AuditEvent.action).startswith(action, autoescape=True))
    if actor:  # case-insensitive on every database (SQLite's LIKE is, PostgreSQL's is not)
        where.append(func.lower(col(AuditEvent.actor)).contains(actor.lower(), autoescape=True))
    if target:
        where.append(col(AuditEvent.target) == target)
    return where


def platform_events(
    session: Session,
    *,
    tenant_id: str | None = None,
    action: str = "",
    actor: str = "",
    target: str = "",
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[PlatformEvent], int]:
    """A page of events and the total matching: optionally of one tenant, whose action starts with
    ``action``, whose actor contains ``actor``, about exactly ``target``."""
    where = _filters(tenant_id, action, actor, target)
    # The platform's view spans tenants unless one is asked for.
    total = int(session.exec(across_tenants(select(func.count()).select_from(AuditEvent).where(*where))).one())
    query = across_tenants(
        select(AuditEvent, Tenant.slug)
        .join(Tenant, col(Tenant.id) == col(AuditEvent.tenant_id), isouter=True)
        .where(*where)
        .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id))
        .offset(offset)
        .limit(limit)
    )
    rows = [PlatformEvent(event, slug or "") for event, slug in session.exec(query).all()]
    return rows, total
