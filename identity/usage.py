"""Tokens issued per tenant, counted in memory and added to ``token_usage`` every few seconds.

A database write per token would double the cost of ``client_credentials`` (which otherwise touches no
database); each process instead keeps per-(tenant, hour) deltas and one flush adds them all with one
UPDATE (or INSERT) per row. A crash loses at most one flush interval of counts: this is a usage figure,
not a ledger.
"""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from identity.clock import now
from identity.db import session_scope, tenant_update
from identity.models.tenant import TokenUsage


def hour_of(t: int) -> int:
    return t - t % 3600


class UsageCounter:
    def __init__(self) -> None:
        self._pending: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    def count(self, tenant_id: str) -> None:
        with self._lock:
            self._pending[(tenant_id, hour_of(now()))] += 1

    def flush(self, sessions: sessionmaker[Session]) -> None:
        """Add what was counted since the last flush (blocking: run it on a thread)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            with session_scope(sessions) as session:
                for (tenant_id, hour), delta in pending.items():
                    _add(session, tenant_id, hour, delta)
        except Exception:
            with self._lock:  # keep the counts for the next flush (a deleted tenant's are dropped there)
                self._pending.update(pending)
            raise


def _add(session: Session, tenant_id: str, hour: int, delta: int) -> None:
    counter = tenant_update(TokenUsage, tenant_id).where(col(TokenUsage.hour) == hour)
    if session.exec(counter.values(issued=TokenUsage.issued + delta)).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(TokenUsage(tenant_id=tenant_id, hour=hour, issued=delta))
    except IntegrityError:  # another replica inserted the row first, or the tenant was deleted
        session.exec(counter.values(issued=TokenUsage.issued + delta))
