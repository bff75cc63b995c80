"""Engine, the unit of work, and the tenant filter every tenant-owned statement goes through.

Reads start from ``tenant_query``, bulk changes from ``tenant_update`` / ``tenant_delete``; the few statements
that span tenants on purpose (the platform's views, deleting a tenant, the usage flush) are marked with
``across_tenants``. Every Session checks this before it runs a statement (``require_tenant_filter``): a
statement on a tenant-owned table that names no ``tenant_id`` is refused, so a forgotten filter is an error
in the first test that runs it, never another tenant's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Delete, Select, Update, delete, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import ORMExecuteState, sessionmaker
from sqlalchemy.sql import visitors
from sqlalchemy.sql.schema import Column, Table
from sqlalchemy.sql.selectable import Join
from sqlmodel import Session, SQLModel, create_engine, select
from sqlmodel.sql.expression import SelectOfScalar

# Deterministic constraint names, identical on SQLite and PostgreSQL (Alembic needs names to alter them).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

M = TypeVar("M", bound=SQLModel)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Sized to the threadpool's concurrency, so connections are reused rather than opened and closed under
    # load; no pre-ping (a round trip per checkout): stale connections are recycled instead.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, connect_args=pg_connect_args(url), **kwargs)


APPLICATION_NAME = "identity"
CONNECT_TIMEOUT_SECONDS = 5
PG_DEFAULTS: dict[str, Any] = {
    "application_name": APPLICATION_NAME,
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    # A database host that vanished without a word (no RST: a partition, a dead node): sent data
    # unacknowledged for 20 s, or an idle connection unanswered for 30 + 3 x 10 s, is a broken connection.
    "tcp_user_timeout": 20_000,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def pg_connect_args(url: str) -> dict[str, Any]:
    """Who we are in ``pg_stat_activity`` (operators find the service's sessions by it), a bounded connect
    (a database that does not answer fails a request within seconds, a 503, instead of hanging it), and
    dead peers detected. Each can be set in the URL's query instead (``?application_name=…``): the URL wins."""
    given = make_url(url).query
    return {name: value for name, value in PG_DEFAULTS.items() if name not in given}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    event.listen(factory, "do_orm_execute", require_tenant_filter)
    return factory


@contextmanager
def session_scope(factory: sessionmaker[Session], *, lazy: bool = False) -> Iterator[Session]:
    """The single place that commits or rolls back. Services only flush.

    ``lazy``: the Session is made on first use, for work that usually needs none (a warm
    ``client_credentials`` request: making and closing an unused Session was an eighth of its time)."""
    session: Session = LazySession(factory) if lazy else factory()  # type: ignore[assignment]
    try:
        yield session
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            session.commit()  # (a session that did nothing skips it: the in-memory hot path's saving)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class LazySession:
    """Stands for a Session and makes the real one when anything beyond "did it do anything?" is asked."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._session: Session | None = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = self._factory()
        return getattr(self._session, name)

    def in_transaction(self) -> bool:
        return self._session is not None and self._session.in_transaction()

    @property
    def new(self) -> Any:
        return () if self._session is None else self._session.new

    @property
    def dirty(self) -> Any:
        return () if self._session is None else self._session.dirty

    @property
    def deleted(self) -> Any:
        return () if self._session is None else self._session.deleted

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def tenant_query(model: type[M], tenant_id: str) -> SelectOfScalar[M]:
    """``SELECT model WHERE tenant_id = …``: every read of tenant-owned rows starts here."""
    return select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


def tenant_update(model: type[M], tenant_id: str) -> Update:
    """``UPDATE model WHERE tenant_id = …``: every bulk change of tenant-owned rows starts here."""
    return update(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


def tenant_delete(model: type[M], tenant_id: str) -> Delete:
    """``DELETE FROM model WHERE tenant_id = …``: every bulk removal of tenant-owned rows starts here."""
    return delete(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


def insert_once(session: Session, model: type[M], **values: Any) -> bool:
    """Insert one row unless its primary key is taken: True if this call inserted it. One statement
    (``INSERT … ON CONFLICT DO NOTHING RETURNING``), so the database decides between concurrent callers,
    and a taken key does not abort the transaction around it (a failed plain INSERT would on PostgreSQL).
    ``RETURNING`` says what happened: with psycopg the ORM reports rowcount -1."""
    table = model.__table__  # type: ignore[attr-defined]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    keys = [column.name for column in table.primary_key.columns]
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return session.execute(statement.returning(table.c[keys[0]])).first() is not None


S = TypeVar("S", Select[Any], Update, Delete, SelectOfScalar[Any])
ACROSS_TENANTS = "across_tenants"


def across_tenants(statement: S) -> S:
    """Marks a statement that spans tenants on purpose (platform admin views, deleting a tenant, usage)."""
    return statement.execution_options(**{ACROSS_TENANTS: True})


def spanning_tenants(session: Session) -> Session:
    """Marks a whole session as spanning tenants (a test's or an operator's inspection of the database)."""
    session.info[ACROSS_TENANTS] = True
    return session


class UnscopedStatement(InvalidRequestError):
    """A statement on tenant-owned rows without a tenant filter (a programming error, never user input)."""


def require_tenant_filter(state: ORMExecuteState) -> None:
    """``do_orm_execute`` hook: every tenant-owned table a statement reads or changes must have its
    ``tenant_id`` in a WHERE or a JOIN's ON clause, unless the statement is marked ``across_tenants``.
    Rows loaded by primary key (``session.get``, flushes) carry ``tenant_id`` in the key already."""
    statement = state.statement
    if state.execution_options.get(ACROSS_TENANTS) or state.session.info.get(ACROSS_TENANTS):
        return
    if not isinstance(statement, Select | Update | Delete):
        return
    owned: set[str] = set()
    named: set[str] = set()
    _scan(statement, owned, named)
    missing = owned - named
    if missing:
        raise UnscopedStatement(f"statement on {', '.join(sorted(missing))} without a tenant_id filter: {statement}")


def _scan(statement: Any, owned: set[str], named: set[str]) -> None:
    """Adds the tenant-owned tables ``statement`` reads or changes to ``owned``, and the tables whose
    ``tenant_id`` its filters (WHERE, JOIN ON, and those of subqueries) name to ``named``. Walks only the
    FROM list and the filters, not whole tables: this runs before every ORM statement."""
    filters = [statement.whereclause]
    froms: list[Any]
    if isinstance(statement, Update | Delete):
        froms = [statement.table]
    else:
        # Not get_final_froms(): for ORM statements it builds the whole ORM compile state (~0.5 ms). The
        # FROM list is the tables of the selected columns, select_from()'s and join()'s targets.
        froms = [*statement.columns_clause_froms, *statement._from_obj]  # noqa: SLF001
        for target, onclause, _left, _flags in statement._setup_joins:  # noqa: SLF001
            froms.append(target)
            filters.append(onclause)
    while froms:
        element = froms.pop()
        if isinstance(element, Table):
            if "tenant_id" in element.c:
                owned.add(element.name)
        elif isinstance(element, Join):
            froms += (element.left, element.right)
            filters.append(element.onclause)
        elif hasattr(element, "element"):  # an alias or a subquery in FROM
            inner = element.element
            if isinstance(inner, Select):
                _scan(inner, owned, named)
            else:
                froms.append(inner)
    for clause in filters:
        if clause is None:
            continue
        for node in visitors.iterate(clause):
            if isinstance(node, Column) and node.name == "tenant_id" and isinstance(node.table, Table):
                named.add(node.table.name)
            elif isinstance(node, Select):
                _scan(node, owned, named)
