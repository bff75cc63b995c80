"""Alembic environment: the models' metadata, the URL from our settings (not alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import identity.models  # noqa: F401 - registers every table on SQLModel.metadata
from identity.db import make_engine
from identity.settings import Settings

config = context.config
url = config.attributes.get("database_url") or Settings.from_env().database_url
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table (create copy, drop old): with foreign keys on, dropping the old
            # tenants table would cascade-delete every tenant's rows. The pragma only works outside a
            # transaction, so set it before Alembic begins one.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,  # ALTER support on SQLite
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
