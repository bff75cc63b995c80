#!/usr/bin/env bash
# Lint, format check (ruff) and strict type check of identity/ (mypy; settings in pyproject), the versions in
# requirements.lock; CI runs it before the tests.
# To fix what it reports: .venv/bin/ruff check --fix . && .venv/bin/ruff format .
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/bootstrap.sh" test
cd "$ROOT"
RUFF="${IDENTITY_VENV:-$ROOT/.venv}/bin/ruff"
"$RUFF" check .
"$RUFF" format --check .
"${IDENTITY_VENV:-$ROOT/.venv}/bin/mypy"
