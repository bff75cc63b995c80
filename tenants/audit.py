"""The audit log: one row per change, written in the same transaction as the change it records.

Never pass secrets, passwords, codes or tokens in ``details``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, delete, func, select

from identity.clock import now
from identity.db import tenant_query
from tenants.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: a portal member, the CLI, a platform admin; and from which address."""

    label: str
    ip: str = ""


CLI = Actor("cli")


def record(session: Session, tenant_id: str, actor: Actor, action: str, target: str = "", **details: Any) -> None:
    session.add(
        AuditEvent(tenant_id=tenant_id, actor=actor.label, action=action, target=target, ip=actor.ip, details=details)
    )


def events(
    session: Session, tenant_id: str, *, limit: int = 50, offset: int = 0, action: str = ""
) -> tuple[list[AuditEvent], int]:
    query = tenant_query(AuditEvent, tenant_id)
    count = select(func.count()).select_from(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if action:
        query = query.where(col(AuditEvent.action).startswith(action, autoescape=True))
        count = count.where(col(AuditEvent.action).startswith(action, autoescape=True))
    rows = session.exec(
        query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id)).offset(offset).limit(limit)
    )
    return list(rows.all()), int(session.exec(count).one())


def purge_expired(session: Session, tenant_id: str, retention_days: int) -> None:
    cutoff = now() - retention_days * 86400
    session.exec(delete(AuditEvent).where(col(AuditEvent.tenant_id) == tenant_id, col(AuditEvent.created_at) < cutoff))
