"""Every module imports on its own, in a fresh interpreter: no import cycle hides behind import order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("identity", "tenants")
# Alembic's scripts ship inside the package but are loaded by path (env.py needs Alembic's context).
NOT_MODULES = (ROOT / "identity" / "migrations",)


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(path.is_relative_to(folder) for folder in NOT_MODULES):
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_list_covers_the_packages() -> None:
    modules = _modules()
    assert "identity.models.tenant" in modules and "tenants.portal.routes" in modules
    assert len(modules) > 80


@pytest.mark.parametrize("module", _modules())
def test_module_imports_alone(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
