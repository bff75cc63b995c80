"""Engine, the unit of work, and the one helper every tenant-owned query goes through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
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
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The single place that commits or rolls back. Services only flush."""
    session = factory()
    try:
        yield session
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            session.commit()  # (a session that did nothing skips it: the in-memory hot path's saving)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def tenant_query(model: type[M], tenant_id: str) -> SelectOfScalar[M]:
    """``SELECT model WHERE tenant_id = …``: every read of tenant-owned rows starts here."""
    return select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
