"""What counts as "the database is unavailable" (a 503, retry later) and what stays the error it is: real
errors, raised by real statements on SQLite (tests/postgres/test_database_faults.py has PostgreSQL's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import exc, text

from identity.db import make_engine
from identity.outage import database_unavailable


def raised(url: str, *statements: str) -> exc.SQLAlchemyError:
    engine = make_engine(url)
    try:
        with pytest.raises(exc.SQLAlchemyError) as caught, engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
        return caught.value
    finally:
        engine.dispose()


def test_a_database_that_cannot_be_opened_is_unavailable(tmp_path: Path):
    assert database_unavailable(raised(f"sqlite:///{tmp_path / 'missing' / 'x.db'}", "SELECT 1"))


def test_a_constraint_violation_or_a_bad_statement_is_not(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    duplicate = raised(
        url, "CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"
    )
    assert isinstance(duplicate, exc.IntegrityError) and not database_unavailable(duplicate)
    missing_table = raised(url, "SELECT * FROM no_such_table")  # a bug: a 500, never disguised as an outage
    assert isinstance(missing_table, exc.OperationalError) and not database_unavailable(missing_table)
