"""Which database errors mean "the database is unavailable" (answered 503, retry later), and which stay
what they are (a constraint violation, a deadlock, a bug: never disguised as an outage)."""

from __future__ import annotations

from sqlalchemy import exc

# SQLSTATEs of a database that is away, restarting or full, not of a statement that is wrong:
# class 08 (connection exception) by prefix, and these.
UNAVAILABLE_STATES = {
    "57P01",  # admin_shutdown: pg_terminate_backend, a fast shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: starting up, shutting down, in recovery
    "53300",  # too_many_connections
    "53100",  # disk_full
}
# SQLite reports outages only in its messages.
SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked", "disk i/o error")

RETRY_AFTER_SECONDS = 2


def database_unavailable(error: BaseException) -> bool:
    """True if ``error`` says the database could not be reached or used right now."""
    if isinstance(error, exc.TimeoutError):  # no pooled connection free within pool_timeout
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, exc.InterfaceError):
        return True
    if not isinstance(error, exc.OperationalError):
        return False  # IntegrityError, DataError, ProgrammingError...: the statement, not the database
    state = getattr(error.orig, "sqlstate", None)
    if state is None:  # psycopg: no answer from a server at all (connection refused, timed out, lost)
        return "sqlite" not in type(error.orig).__module__ or str(error.orig).lower().startswith(SQLITE_UNAVAILABLE)
    return bool(state.startswith("08") or state in UNAVAILABLE_STATES)
