"""Citus readiness of the MIGRATED schema (SQLite and PostgreSQL): what ``identity.migrate.upgrade`` builds,
read back with SQLAlchemy's inspector, not what the models say.

Citus distributes a table by one column; it then needs that column in the primary key and in every unique
constraint (uniqueness is checked inside one shard), and a foreign key between distributed tables must
include it on both sides (both rows live in the same colocated shard). Our distribution column is
``tenant_id``; a table is tenant-owned exactly when it has that column, the same rule
``identity.db.require_tenant_filter`` uses to demand a tenant filter in every statement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Inspector

from identity.db import make_engine

TENANT_COLUMN = "tenant_id"

# The tables without tenant_id, each a Citus reference table (one copy on every node; small, rarely written):
REFERENCE_TABLES = {
    # The tenants themselves: every request resolves one by slug (a lookup that names no tenant_id), and
    # every tenant-owned table's tenant_id references it, which Citus allows from distributed to reference tables.
    "tenants": "resolved by slug; referenced by every tenant-owned table",
    # Platform admins and their sessions belong to no tenant (the /admin console spans tenants).
    "platform_admins": "platform operators, not tenant data",
    "admin_sessions": "sessions of platform admins",
}
# Alembic's own bookkeeping stays a plain table on the coordinator (only `identity migrate` reads it).
LOCAL_TABLES = {"alembic_version"}
# The table every distributed table is colocated with (it references only ``tenants``).
COLOCATION_ANCHOR = "users"
CITUS_SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "citus-distribute.sql"


def schema(database_url: str) -> dict[str, dict[str, Any]]:
    """Per table: its columns (name → type), primary key, unique column lists and foreign keys."""
    engine = make_engine(database_url)
    inspector: Inspector = inspect(engine)
    tables: dict[str, dict[str, Any]] = {}
    for name in inspector.get_table_names():
        uniques = [u["column_names"] for u in inspector.get_unique_constraints(name)]
        uniques += [ix["column_names"] for ix in inspector.get_indexes(name) if ix["unique"]]
        tables[name] = {
            "columns": {c["name"]: str(c["type"]) for c in inspector.get_columns(name)},
            "pk": inspector.get_pk_constraint(name)["constrained_columns"],
            "uniques": uniques,
            "fks": [
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in inspector.get_foreign_keys(name)
            ],
        }
    engine.dispose()
    return tables


def tenant_owned(tables: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(name for name, table in tables.items() if TENANT_COLUMN in table["columns"])


def violations(tables: dict[str, dict[str, Any]]) -> list[str]:
    """Every break of the distribution rules, one line each (empty: the schema is ready for Citus)."""
    owned = set(tenant_owned(tables))
    found = []
    for name in sorted(set(tables) - owned - LOCAL_TABLES - set(REFERENCE_TABLES)):
        found.append(f"{name}: no tenant_id and not listed as a reference table")
    for name in sorted(set(REFERENCE_TABLES) - set(tables)):
        found.append(f"{name}: listed as a reference table but not in the schema")
    for name in sorted(owned & (set(REFERENCE_TABLES) | LOCAL_TABLES)):
        found.append(f"{name}: has tenant_id but is listed as a reference/local table")
    tenant_type = tables["tenants"]["columns"]["id"]
    for name in sorted(owned):
        table = tables[name]
        if table["columns"][TENANT_COLUMN] != tenant_type:  # colocation needs one distribution column type
            found.append(f"{name}.tenant_id is {table['columns'][TENANT_COLUMN]}, tenants.id is {tenant_type}")
        if table["pk"][:1] != [TENANT_COLUMN]:
            found.append(f"{name}: primary key {table['pk']} does not lead with tenant_id")
        for columns in table["uniques"]:
            if columns[:1] != [TENANT_COLUMN]:
                found.append(f"{name}: unique {columns} does not lead with tenant_id")
        for local, referred_table, referred in table["fks"]:
            if referred_table == "tenants":
                if (local, referred) != ([TENANT_COLUMN], ["id"]):
                    found.append(f"{name}: foreign key {local} -> tenants{referred} is not tenant_id -> tenants.id")
            elif referred_table in REFERENCE_TABLES:
                continue  # distributed -> reference: allowed by Citus on any columns
            elif local[:1] != [TENANT_COLUMN] or referred[:1] != [TENANT_COLUMN]:
                found.append(f"{name}: foreign key {local} -> {referred_table}{referred} does not lead with tenant_id")
    for name in sorted(set(REFERENCE_TABLES) & set(tables)):
        for _local, referred_table, _referred in tables[name]["fks"]:
            if referred_table in owned:  # Citus refuses reference -> distributed foreign keys
                found.append(f"{name} (reference table) references the distributed table {referred_table}")
    return found


def citus_script(tables: dict[str, dict[str, Any]]) -> str:
    """The distribution calls, in an order Citus accepts: reference tables first, then the distributed
    tables, each after the tables its foreign keys reference, all colocated with the anchor."""
    reference = _dependency_order(tables, sorted(REFERENCE_TABLES))
    distributed = _dependency_order(tables, tenant_owned(tables))
    distributed.remove(COLOCATION_ANCHOR)
    # Distributed first, so it may reference only reference tables.
    assert {fk[1] for fk in tables[COLOCATION_ANCHOR]["fks"]} <= set(REFERENCE_TABLES)
    lines = [
        "-- Generated from the migrated schema and checked by tests/test_schema_rules.py: do not edit by hand.",
        "-- Run once on the Citus coordinator after `identity migrate` (see docs/citus.md).",
        "BEGIN;",
        *(f"SELECT create_reference_table('{name}');" for name in reference),
        f"SELECT create_distributed_table('{COLOCATION_ANCHOR}', '{TENANT_COLUMN}');",
        *(
            f"SELECT create_distributed_table('{name}', '{TENANT_COLUMN}', colocate_with => '{COLOCATION_ANCHOR}');"
            for name in distributed
        ),
        "COMMIT;",
    ]
    return "\n".join(lines) + "\n"


def _dependency_order(tables: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    """``names`` sorted so each comes after the tables (among ``names``) it references; ties by name."""
    pending = {name: {fk[1] for fk in tables[name]["fks"]} & set(names) - {name} for name in names}
    ordered: list[str] = []
    while pending:
        ready = sorted(name for name, needs in pending.items() if not needs - set(ordered))
        assert ready, f"foreign key cycle among {sorted(pending)}"
        ordered += ready
        for name in ready:
            del pending[name]
    return ordered


def test_every_tenant_owned_key_leads_with_tenant_id(database_url):
    tables = schema(database_url)
    assert len(tenant_owned(tables)) >= 20  # the rule is checked on the real schema, not an empty one
    assert violations(tables) == []


def test_the_rules_catch_what_citus_refuses(database_url):
    """The checker itself: the same schema with one break of each kind is refused, line by line."""
    tables = schema(database_url)
    tables["clients"]["pk"] = ["id"]
    tables["users"]["uniques"].append(["email_normalized"])
    tables["grants"]["fks"].append((["client_id"], "clients", ["id"]))
    tables["webhooks"] = {"columns": {"id": "VARCHAR(32)"}, "pk": ["id"], "uniques": [], "fks": []}
    tables["tenants"]["fks"].append((["owner_id"], "users", ["id"]))
    assert violations(tables) == [
        "webhooks: no tenant_id and not listed as a reference table",
        "clients: primary key ['id'] does not lead with tenant_id",
        "grants: foreign key ['client_id'] -> clients['id'] does not lead with tenant_id",
        "users: unique ['email_normalized'] does not lead with tenant_id",
        "tenants (reference table) references the distributed table users",
    ]


def test_the_citus_script_matches_the_schema(database_url):
    """docs/citus-distribute.sql names every table exactly once, as the schema now is."""
    expected = citus_script(schema(database_url))
    assert CITUS_SCRIPT.read_text() == expected, "regenerate docs/citus-distribute.sql:\n" + expected
