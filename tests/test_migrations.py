"""Migrations build the schema the models describe: upgrade an empty database, then autogenerate finds no diff."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import identity.models  # noqa: F401
from identity.db import make_engine


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_keeps_existing_rows(tmp_path):
    """Columns added later get defaults on rows that already exist (0001 -> head)."""
    from sqlalchemy import text  # noqa: PLC0415

    from identity.migrate import upgrade  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, slug, name, status, created_at, id_token_alg, access_token_alg, "
                "access_token_ttl, id_token_ttl, refresh_token_ttl, refresh_without_offline_access, "
                "keys_version) VALUES ('t1', 'old', 'Old', 'active', 1, 'RS256', 'RS256', 1, 1, 1, 0, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO clients (tenant_id, id, name, is_public, redirect_uris, grant_types, scopes, "
                "require_pkce, created_at) VALUES ('t1', 'c1', 'App', 0, '[]', '[]', '[]', 1, 1)"
            )
        )
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT app_type, first_party FROM clients")).one() == ("web", 0)
        assert conn.execute(text("SELECT primary_color, signup_open FROM tenants")).one() == ("#4f46e5", 0)
    engine.dispose()
