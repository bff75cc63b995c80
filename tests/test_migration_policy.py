"""Expand/contract (docs/upgrades.md): a release's migrations only add, so the previous release's code still
runs on the new schema while both are deployed. The ``upgrade()`` of every migration newer than the
baseline release (tests/upgrade_baseline.txt) is read with ``ast``; a step that would break the old code is
refused unless its line (or the line above) carries ``# contract-step: <why old code no longer needs it>``,
which is allowed only once no release that needs the old shape is running.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VERSIONS = REPO / "identity" / "migrations" / "versions"
BASELINE_FILE = REPO / "tests" / "upgrade_baseline.txt"
MARKER = "contract-step:"

# Operations the old code cannot live with: it reads and writes the dropped or renamed thing.
DROPS_AND_RENAMES = {"drop_column", "drop_table", "drop_constraint", "rename_table"}


def contract_steps(source: str) -> list[str]:
    """``line: what`` for each step of ``upgrade()`` in a migration's source that is not expand-only."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found: list[tuple[int, str]] = []
    for function in ast.walk(tree):
        if not (isinstance(function, ast.FunctionDef) and function.name == "upgrade"):
            continue
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            problem = _problem(node.func.attr, node)
            if problem and not _marked(lines, node.lineno):
                found.append((node.lineno, problem))
    return [f"{lineno}: {problem}" for lineno, problem in sorted(found)]


def _problem(name: str, call: ast.Call) -> str:
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    if name in DROPS_AND_RENAMES:
        return name
    if name == "alter_column":
        if "new_column_name" in keywords:
            return "alter_column renames a column"
        if "type_" in keywords:
            return "alter_column changes a type"
        if _is_false(keywords.get("nullable")) and "server_default" not in keywords:
            return "alter_column makes a column NOT NULL without a server default"
    if name == "add_column":
        column = next((a for a in call.args if isinstance(a, ast.Call)), None)
        column_keywords = {k.arg: k.value for k in column.keywords if k.arg} if column else {}
        if _is_false(column_keywords.get("nullable")) and "server_default" not in column_keywords:
            return "add_column NOT NULL without a server default (the old code's inserts would fail)"
    if name == "execute":
        sql = " ".join(a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
        if any(word in sql.upper() for word in ("DROP ", "RENAME ", "ALTER COLUMN")):
            return "execute() of SQL that drops, renames or alters"
    return ""


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _marked(lines: list[str], lineno: int) -> bool:
    return any(MARKER in line for line in lines[max(lineno - 2, 0) : lineno])


def baseline_migrations() -> set[str]:
    commit = BASELINE_FILE.read_text().split()[0]
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", commit, "identity/migrations/versions/"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:
        pytest.fail(f"the upgrade baseline {commit} is not in this clone (git fetch --unshallow): {listed.stderr}")
    return {Path(name).name for name in listed.stdout.split()}


def test_migrations_since_the_baseline_only_expand():
    shipped = baseline_migrations()
    assert "0001_initial_schema.py" in shipped
    for path in sorted(VERSIONS.glob("*.py")):
        if path.name not in shipped:
            assert contract_steps(path.read_text()) == [], f"{path.name} is not expand-only (docs/upgrades.md)"


def test_every_shipped_migration_was_expand_only():
    """The rule held from the first migration on, so a rolling upgrade between any two releases works."""
    for path in sorted(VERSIONS.glob("*.py")):
        assert contract_steps(path.read_text()) == [], path.name


def test_the_check_refuses_what_breaks_old_code_and_allows_a_marked_contract_step():
    source = """
import sqlalchemy as sa
from alembic import op


def upgrade():
    op.add_column("users", sa.Column("nickname", sa.String(), nullable=True))
    op.add_column("users", sa.Column("plan", sa.String(), nullable=False, server_default="free"))
    op.create_index("ix_users_plan", "users", ["tenant_id", "plan"])
    op.add_column("users", sa.Column("tier", sa.String(), nullable=False))
    op.drop_column("users", "legacy")
    with op.batch_alter_table("clients") as batch_op:
        batch_op.alter_column("name", new_column_name="title")
        batch_op.alter_column("kind", nullable=False)
        batch_op.alter_column("size", type_=sa.BigInteger())
    op.rename_table("grants", "authorizations")
    op.execute("ALTER TABLE users DROP COLUMN old")
    # contract-step: 0014 stopped reading it; every release since 0015 runs without it
    op.drop_table("old_things")


def downgrade():
    op.drop_column("users", "nickname")
"""
    assert contract_steps(source) == [
        "10: add_column NOT NULL without a server default (the old code's inserts would fail)",
        "11: drop_column",
        "13: alter_column renames a column",
        "14: alter_column makes a column NOT NULL without a server default",
        "15: alter_column changes a type",
        "16: rename_table",
        "17: execute() of SQL that drops, renames or alters",
    ]
