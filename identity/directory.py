"""Tenants and clients as the hot path reads them: cached in process for a few seconds.

Discovery, JWKS, the token endpoint and userinfo read the tenant (the client, the token's grant and user)
on every request;
fetched from the database each time, those reads dominated the profile. Entries live for
``IDENTITY_CACHE_SECONDS`` (default 2 s), so a change made on any replica (suspension, a rotated or
deleted client secret, new scopes, a revoked grant or disabled user at userinfo) is seen everywhere within
that time, with no messaging between
replicas. Key rotation needs no wait: key rings are keyed by ``keys_version`` (see ``identity.keys``).
Cached rows are detached snapshots, read-only; writes always load the row in their own transaction.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from identity.clients import find_client
from identity.db import session_scope
from identity.models.client import Client
from identity.models.user import User
from identity.oauth.store import user_of_live_grant
from tenants.models import Tenant
from tenants.resolution import TenantNotFound, TenantSuspended, find_tenant

MAX_ENTRIES = 50_000


@dataclass
class _Entry:
    value: Any
    expires: float
    derived: dict[str, Any] = field(default_factory=dict)


class Directory:
    def __init__(self, sessions: sessionmaker[Session], ttl: float) -> None:
        self._sessions = sessions
        self.ttl = ttl
        self._tenants: dict[str, _Entry] = {}
        self._clients: dict[tuple[str, str], _Entry] = {}
        self._grant_users: dict[tuple[str, str, str], _Entry] = {}
        self._lock = threading.Lock()
        self.loads = 0  # database reads made by this directory (the CI guard counts them)

    # -- tenants --------------------------------------------------------------------------------
    def cached_tenant(self, slug: str) -> Tenant | None:
        """The tenant if a fresh entry is in memory (never touches the database); raises like ``tenant``."""
        entry = self._tenants.get(slug)
        if entry is None or entry.expires < time.monotonic():
            return None
        return _usable(entry.value, slug)

    def tenant(self, slug: str) -> Tenant:
        """The tenant of this slug; 404 (TenantNotFound) or 403 (TenantSuspended) otherwise. Blocking."""
        cached = self.cached_tenant(slug)
        if cached is not None:
            return cached
        with session_scope(self._sessions) as session:
            found = find_tenant(session, slug)
        self.loads += 1
        self._store(self._tenants, slug, found)
        return _usable(found, slug)

    def derived(self, tenant: Tenant, name: str) -> Any:
        """A value computed from this tenant snapshot (its discovery document), or None."""
        entry = self._tenants.get(tenant.slug)
        return entry.derived.get(name) if entry is not None and entry.value is tenant else None

    def keep_derived(self, tenant: Tenant, name: str, value: Any) -> None:
        """Kept as long as the tenant entry: a reload of the tenant recomputes it."""
        entry = self._tenants.get(tenant.slug)
        if entry is not None and entry.value is tenant:
            entry.derived[name] = value

    # -- clients --------------------------------------------------------------------------------
    def cached_client(self, tenant_id: str, client_id: str) -> bool:
        """Whether a fresh entry (client or known absence) is in memory: looking it up needs no database."""
        entry = self._clients.get((tenant_id, client_id))
        return entry is not None and entry.expires >= time.monotonic()

    def client(self, session: Session, tenant_id: str, client_id: str) -> Client | None:
        key = (tenant_id, client_id)
        entry = self._clients.get(key)
        if entry is not None and entry.expires >= time.monotonic():
            return entry.value  # type: ignore[no-any-return]
        found = find_client(session, tenant_id, client_id)
        self.loads += 1
        if found is not None:
            session.expunge(found)  # a snapshot shared by threads, never written through
        self._store(self._clients, key, found)
        return found

    # -- userinfo: the user of a live grant -----------------------------------------------------------
    def cached_grant_user(self, tenant_id: str, grant_id: str, user_id: str) -> tuple[bool, User | None]:
        """(found in memory, the user or None if the grant is revoked / the user disabled)."""
        entry = self._grant_users.get((tenant_id, grant_id, user_id))
        if entry is None or entry.expires < time.monotonic():
            return False, None
        return True, entry.value

    def grant_user(self, session: Session, tenant: Tenant, grant_id: str, user_id: str) -> User | None:
        user = user_of_live_grant(session, tenant, grant_id, user_id)
        self.loads += 1
        if user is not None:
            session.expunge(user)
        self._store(self._grant_users, (tenant.id, grant_id, user_id), user)
        return user

    def _store(self, table: dict[Any, _Entry], key: Any, value: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(table) >= MAX_ENTRIES:
                table.clear()
            table[key] = _Entry(value, time.monotonic() + self.ttl)


def _usable(tenant: Tenant | None, slug: str) -> Tenant:
    if tenant is None:
        raise TenantNotFound(slug)
    if tenant.is_suspended:
        raise TenantSuspended(slug)
    return tenant
