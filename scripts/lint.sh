#!/usr/bin/env bash
# Lint and format check (ruff, the version in requirements.lock); CI runs it before the tests.
# To fix what it reports: .venv/bin/ruff check --fix . && .venv/bin/ruff format .
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/bootstrap.sh" test
cd "$ROOT"
RUFF="${IDENTITY_VENV:-$ROOT/.venv}/bin/ruff"
"$RUFF" check .
"$RUFF" format --check .
