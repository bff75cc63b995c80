"""Tenants and clients as the hot path reads them: cached in process.

Discovery, JWKS, the token endpoint and userinfo read the tenant (the client, the token's grant and user)
on every request; fetched from the database each time, those reads dominated the profile. A change is
seen at once, everywhere: ``identity.invalidation`` drops the entries a committed transaction changed, in
this process at its commit and in every other one through PostgreSQL ``LISTEN/NOTIFY`` (a suspension, a
rotated or deleted client secret, a revoked grant, a disabled user). Entries also live at most
``IDENTITY_CACHE_SECONDS`` (default 2 s), the backstop should a notification be lost. Key rotation bumps
the tenant's ``keys_version``: its key rings are keyed by it (see ``identity.keys``).
Cached rows are detached snapshots, read-only; writes always load the row in their own transaction.

Refresh-ahead: a tenant or client entry read in the last quarter of its life is reloaded by one background
thread while requests keep using it, so a busy entry never expires and no burst of requests queues on the
database when it would (that stampede was the p99 of discovery and the token endpoint). An entry past its
life is never served, and a load that was in flight when an invalidation came is not stored (the
directory's generation changed), so it cannot bring back what was just forgotten.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from identity import metrics
from identity.changes import Change
from identity.clients import find_client
from identity.db import session_scope
from identity.grants import revoked_access_tokens, user_of_live_grant
from identity.models.client import Client
from identity.models.tenant import Tenant
from identity.models.user import User
from tenants.resolution import TenantNotFound, TenantSuspended, find_tenant

MAX_ENTRIES = 50_000
PURGE_ABOVE = 1_000  # entries in a table before expired ones are swept out
REFRESH_AFTER = 0.75  # of an entry's life

log = logging.getLogger("identity.directory")

T = TypeVar("T")
Derive = Callable[[Session, Tenant], Any]  # a value computed from a tenant (its discovery document)


@dataclass
class _Entry:
    value: Any
    expires: float
    refresh_at: float
    derived: dict[str, tuple[Any, Derive]] = field(default_factory=dict)
    refreshing: bool = False
    views: dict[Any, Any] = field(default_factory=dict)  # values computed from ``value``; they go with it


def _nothing() -> None:
    return None


class Directory:
    def __init__(self, sessions: sessionmaker[Session], ttl: float) -> None:
        self._sessions = sessions
        self.ttl = ttl
        self._tenants: dict[str, _Entry] = {}
        self._clients: dict[tuple[str, str], _Entry] = {}
        self._grant_users: dict[tuple[str, str, str], _Entry] = {}
        self._revoked_tokens: dict[str, _Entry] = {}  # by tenant id: the jti of revoked, unexpired access tokens
        # (by id: the cache label of identity_cache_lookups_total)
        self._names = {
            id(self._tenants): "tenant",
            id(self._clients): "client",
            id(self._grant_users): "grant_user",
            id(self._revoked_tokens): "revoked_tokens",
        }
        self._lock = threading.Lock()
        self._refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="directory-refresh")
        self.loads = 0  # database reads made by this directory (the CI guard counts them)
        self._purged_at: dict[int, float] = {}  # per table (by id): when its expired entries were last dropped
        self._generation = 0  # bumped by every invalidation: loads begun before it are not stored
        self._trusted = True  # False while invalidations may be missed (the listener is away)
        # Called before any entry is served: applies invalidations already delivered to this process but
        # not yet handled (identity.invalidation.Listener.catch_up), so none races the next request.
        self.catch_up: Callable[[], None] = _nothing

    # -- invalidation (identity.invalidation) ----------------------------------------------------------
    def forget(self, changes: Iterable[Change]) -> None:
        """Drop every entry these committed changes touch."""
        with self._lock:
            self._generation += 1
            for change in changes:
                self._forget(change)

    def _forget(self, change: Change) -> None:
        kind, rest = change[0], change[1:]
        if kind == "tenant" and len(rest) == 2:
            tenant_id, slug = rest
            self._tenants.pop(slug, None)
            # A suspended or deleted tenant takes all its entries with it.
            for client_key in [key for key in self._clients if key[0] == tenant_id]:
                del self._clients[client_key]
            for grant_key in [key for key in self._grant_users if key[0] == tenant_id]:
                del self._grant_users[grant_key]
            self._revoked_tokens.pop(tenant_id, None)
        elif kind == "client" and len(rest) == 2:
            self._clients.pop((rest[0], rest[1]), None)
        elif kind == "grant" and len(rest) == 2:
            for key in [key for key in self._grant_users if key[0] == rest[0] and key[1] == rest[1]]:
                del self._grant_users[key]
        elif kind == "grants" and len(rest) == 1:
            for key in [key for key in self._grant_users if key[0] == rest[0]]:
                del self._grant_users[key]
        elif kind == "access_tokens" and len(rest) == 1:
            self._revoked_tokens.pop(rest[0], None)
        elif kind == "user" and len(rest) == 2:
            for key in [key for key in self._grant_users if key[0] == rest[0] and key[2] == rest[1]]:
                del self._grant_users[key]
        else:  # "all", or anything this version does not know: forgetting everything is always safe
            self._tenants.clear()
            self._clients.clear()
            self._grant_users.clear()
            self._revoked_tokens.clear()

    def distrust(self) -> None:
        """Invalidations may be missed from now on: serve nothing from memory, store nothing."""
        with self._lock:
            self._trusted = False
            self._generation += 1

    def trust(self) -> None:
        """Invalidations arrive again: start from nothing (what was missed meanwhile is gone with it)."""
        self.forget([("all",)])
        self._trusted = True

    # -- tenants --------------------------------------------------------------------------------
    def cached_tenant(self, slug: str) -> Tenant | None:
        """The tenant if a fresh entry is in memory (never touches the database); raises like ``tenant``."""
        entry = self._fresh(self._tenants, slug, self._reload_tenant)
        return None if entry is None else _usable(entry.value, slug)

    def _reload_tenant(self, slug: str) -> None:
        self._load_tenant(slug, rederive=True)

    def tenant(self, slug: str) -> Tenant:
        """The tenant of this slug; 404 (TenantNotFound) or 403 (TenantSuspended) otherwise. Blocking."""
        cached = self.cached_tenant(slug)
        if cached is not None:
            return cached
        return _usable(self._load_tenant(slug), slug)

    def _load_tenant(self, slug: str, *, rederive: bool = False) -> Tenant | None:
        """Load and cache; ``rederive`` (a refresh) also recomputes the old entry's derived values, so the
        new entry is published complete."""
        derived: dict[str, tuple[Any, Derive]] = {}
        generation = self._generation
        with session_scope(self._sessions) as session:
            found = find_tenant(session, slug)
            old = self._tenants.get(slug)
            if rederive and found is not None and old is not None:
                derived = {name: (make(session, found), make) for name, (_, make) in old.derived.items()}
        self.loads += 1
        self._store(self._tenants, slug, found, generation, derived)
        return found

    def derived(self, tenant: Tenant, name: str) -> Any:
        """A value computed from this tenant snapshot (its discovery document), or None."""
        entry = self._tenants.get(tenant.slug)
        if entry is None or entry.value is not tenant or name not in entry.derived:
            return None
        return entry.derived[name][0]

    def keep_derived(self, tenant: Tenant, name: str, value: Any, make: Derive) -> None:
        """Kept as long as the tenant entry; ``make(session, tenant)`` recomputes it when the entry is
        refreshed."""
        entry = self._tenants.get(tenant.slug)
        if entry is not None and entry.value is tenant:
            entry.derived[name] = (value, make)

    # -- clients --------------------------------------------------------------------------------
    def cached_client(self, tenant_id: str, client_id: str) -> bool:
        """Whether a fresh entry (client or known absence) is in memory: looking it up needs no database."""
        return self._fresh_client(tenant_id, client_id) is not None

    def _fresh_client(self, tenant_id: str, client_id: str) -> _Entry | None:
        return self._fresh(self._clients, (tenant_id, client_id), self._reload_client)

    def _reload_client(self, key: tuple[str, str]) -> None:
        with session_scope(self._sessions) as session:
            self._load_client(session, *key)

    def client(self, session: Session, tenant_id: str, client_id: str) -> Client | None:
        entry = self._fresh_client(tenant_id, client_id)
        if entry is not None:
            return entry.value  # type: ignore[no-any-return]
        return self._load_client(session, tenant_id, client_id)

    def _load_client(self, session: Session, tenant_id: str, client_id: str) -> Client | None:
        key, generation = (tenant_id, client_id), self._generation
        found = find_client(session, tenant_id, client_id)
        self.loads += 1
        if found is not None:
            session.expunge(found)  # a snapshot shared by threads, never written through
        self._store(self._clients, key, found, generation)
        return found

    # -- userinfo: the user of a live grant -----------------------------------------------------------
    def cached_grant_user(self, tenant_id: str, grant_id: str, user_id: str) -> tuple[bool, User | None]:
        """(found in memory, the user or None if the grant is revoked / the user disabled)."""
        entry = self._live_grant_user(tenant_id, grant_id, user_id)
        return (False, None) if entry is None else (True, entry.value)

    def cached_grant_user_view(
        self, tenant_id: str, grant_id: str, user_id: str, view: Any, make: Callable[[User], T]
    ) -> tuple[bool, T | None]:
        """(found in memory, ``make(user)`` or None if the grant is revoked / the user disabled).
        ``make`` runs once per cache entry and ``view`` (e.g. userinfo's body for one set of scopes): the
        result lives exactly as long as the user snapshot it was made from."""
        entry = self._live_grant_user(tenant_id, grant_id, user_id)
        if entry is None:
            return False, None
        if entry.value is None:
            return True, None
        try:
            return True, entry.views[view]
        except KeyError:
            made = entry.views[view] = make(entry.value)  # racing threads may both make it: same value
            return True, made

    def _live_grant_user(self, tenant_id: str, grant_id: str, user_id: str) -> _Entry | None:
        self.catch_up()
        entry = self._grant_users.get((tenant_id, grant_id, user_id))
        return None if entry is None or entry.expires < time.monotonic() or not self._trusted else entry

    def grant_user(self, session: Session, tenant: Tenant, grant_id: str, user_id: str) -> User | None:
        generation = self._generation
        user = user_of_live_grant(session, tenant, grant_id, user_id)
        self.loads += 1
        if user is not None:
            session.expunge(user)
        self._store(self._grant_users, (tenant.id, grant_id, user_id), user, generation)
        return user

    # -- access tokens revoked one by one (RFC 7009) ----------------------------------------------------
    def cached_revoked_tokens(self, tenant_id: str) -> frozenset[str] | None:
        """The tenant's revoked access tokens' ``jti`` if in memory, else None. Skips ``catch_up``: called
        right after a grant-user lookup, which just did it."""
        entry = self._fresh(self._revoked_tokens, tenant_id, self._reload_revoked_tokens, caught_up=True)
        return None if entry is None else entry.value

    def revoked_tokens(self, session: Session, tenant_id: str) -> frozenset[str]:
        self.catch_up()
        cached = self.cached_revoked_tokens(tenant_id)
        return cached if cached is not None else self._load_revoked_tokens(session, tenant_id)

    def _reload_revoked_tokens(self, tenant_id: str) -> None:
        with session_scope(self._sessions) as session:
            self._load_revoked_tokens(session, tenant_id)

    def _load_revoked_tokens(self, session: Session, tenant_id: str) -> frozenset[str]:
        generation = self._generation
        found = revoked_access_tokens(session, tenant_id)
        self.loads += 1
        self._store(self._revoked_tokens, tenant_id, found, generation)
        return found

    def _fresh(
        self, table: dict[Any, _Entry], key: Any, reload: Callable[[Any], object], *, caught_up: bool = False
    ) -> _Entry | None:
        """The entry if it is still within its life; past ``REFRESH_AFTER`` of it, one ``reload(key)`` is
        started. (A callable taking the key, so the hot path builds no closure per lookup.)"""
        if not caught_up:
            self.catch_up()
        entry = table.get(key)
        now = time.monotonic()
        if entry is None or entry.expires < now or not self._trusted:
            metrics.count_cache(self._names[id(table)], hit=False)
            return None
        metrics.count_cache(self._names[id(table)], hit=True)
        if now >= entry.refresh_at and not entry.refreshing:
            entry.refreshing = True  # racing readers may start a second reload: harmless
            self._refresher.submit(self._refresh, entry, reload, key)
        return entry

    def _refresh(self, entry: _Entry, reload: Callable[[Any], object], key: Any) -> None:
        try:
            reload(key)  # stores a new entry
        except Exception:  # the database is away: the entry lives out its life, the next reader retries
            log.warning("could not refresh a cached entry", exc_info=True)
            entry.refreshing = False

    def _store(
        self,
        table: dict[Any, _Entry],
        key: Any,
        value: Any,
        generation: int,
        derived: dict[str, tuple[Any, Derive]] | None = None,
    ) -> None:
        if self.ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if generation != self._generation:  # invalidated while it was loading: maybe stale
                return
            if len(table) >= PURGE_ABOVE and now >= self._purged_at.get(id(table), 0.0) + self.ttl:
                self._purge(table, now)
            if len(table) >= MAX_ENTRIES:
                table.clear()
            table[key] = _Entry(value, now + self.ttl, now + self.ttl * REFRESH_AFTER, derived or {})

    def _purge(self, table: dict[Any, _Entry], now: float) -> None:
        """Drop the entries past their life (at most once per life, so it costs O(1) per store on average):
        memory follows the tenants in use, not every tenant ever served (10,000 tenants' discovery
        documents were ~45 MB per worker)."""
        for key in [key for key, entry in table.items() if entry.expires < now]:
            del table[key]
        self._purged_at[id(table)] = now


def _usable(tenant: Tenant | None, slug: str) -> Tenant:
    if tenant is None:
        raise TenantNotFound(slug)
    if tenant.is_suspended:
        raise TenantSuspended(slug)
    return tenant
