"""``GET /readyz``: may this process take traffic? The database answers, its schema is at this code's
migration head or ahead of it, and a signing key decrypts under this process's ``IDENTITY_SECRET_KEY``.

Ahead counts as ready: during a rolling upgrade the new release's migration Job runs first, and its
migrations only expand (docs/upgrades.md), so the old pods keep serving until the new ones replace them;
after a ``helm rollback`` the old code runs on the newer schema the same way. Behind is not ready.

Probed every few seconds on every pod, so it is cheap: one connection, three small statements, one
symmetric decryption, and a success is reused for a second. A
database that does not answer makes the probe say so within ``TIMEOUT_SECONDS``, never hang."""

from __future__ import annotations

import functools
import time

import anyio
from alembic.script import ScriptDirectory
from cryptography.fernet import InvalidToken
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from identity.context import AppContext
from identity.crypto import KeyEncryptor
from identity.migrate import alembic_config
from identity.models.tenant import PLATFORM_SLUG
from identity.outage import database_unavailable
from identity.web import json_response

OK = "ok"
NOT_CHECKED = "not checked"
TIMEOUT_SECONDS = 2.0
FRESH_SECONDS = 1.0

# The platform tenant's current key when there is one, else any tenant's: all are sealed with one secret.
# Across tenants on purpose (a probe of the process, not a tenant's request); a plain connection, no Session.
SEALED_KEY = text(
    "SELECT k.private_jwk_encrypted FROM signing_keys k JOIN tenants t ON t.id = k.tenant_id"
    " WHERE k.status = 'current' ORDER BY CASE WHEN t.slug = :platform THEN 0 ELSE 1 END, k.created_at LIMIT 1"
)


@functools.cache
def migration_head() -> str | None:
    """The newest revision this code ships (read once per process)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision this code ships: a database at one of them that is not the head is behind."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return frozenset(revision.revision for revision in script.walk_revisions())


def _failure(error: SQLAlchemyError) -> str:
    return "unavailable" if database_unavailable(error) else f"failed ({type(error).__name__})"


def _schema(conn: Connection) -> str:
    try:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError as error:
        if database_unavailable(error):
            raise
        return "not migrated"
    head = migration_head()
    if versions == [head]:
        return OK
    if len(versions) == 1 and versions[0] not in known_revisions():
        return OK  # a newer release migrated ahead of this code (expand-only: this code still runs on it)
    return f"at {', '.join(versions) or 'nothing'}, expected {head}"


def _keys(conn: Connection, encryptor: KeyEncryptor) -> str:
    sealed = conn.execute(SEALED_KEY, {"platform": PLATFORM_SLUG}).scalar()
    if sealed is None:
        return OK  # no tenant yet: nothing is signed, nothing to decrypt
    try:
        encryptor.decrypt(sealed)
    except InvalidToken:
        return "signing key does not decrypt with IDENTITY_SECRET_KEY"
    return OK


def check(ctx: AppContext) -> dict[str, str]:
    checks = {"database": NOT_CHECKED, "migrations": NOT_CHECKED, "keys": NOT_CHECKED}
    step = "database"
    try:
        # Autocommit: a failed statement (no alembic_version yet) does not abort the ones after it.
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = OK
            step = "migrations"
            checks["migrations"] = _schema(conn)
            step = "keys"
            checks["keys"] = _keys(conn, ctx.encryptor)
    except SQLAlchemyError as error:
        checks[step] = _failure(error)
    return checks


class Readiness:
    """One process's readiness, checked at most once per ``FRESH_SECONDS`` while it is ready."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._ready_at = float("-inf")

    async def checks(self) -> dict[str, str]:
        if time.monotonic() - self._ready_at < FRESH_SECONDS:
            return dict.fromkeys(("database", "migrations", "keys"), OK)
        with anyio.move_on_after(TIMEOUT_SECONDS):
            checks = await anyio.to_thread.run_sync(check, self._ctx, abandon_on_cancel=True)
            if all(value == OK for value in checks.values()):
                self._ready_at = time.monotonic()
            return checks
        return {"database": "timeout", "migrations": NOT_CHECKED, "keys": NOT_CHECKED}


async def ready(request: Request) -> Response:
    readiness: Readiness = request.app.state.readiness
    checks = await readiness.checks()
    if all(value == OK for value in checks.values()):
        return json_response({"status": "ready", "checks": checks})
    return json_response({"status": "not_ready", "checks": checks}, 503)
