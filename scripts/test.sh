#!/usr/bin/env bash
# Quick start, command 2: install if needed, then run the whole test suite.
# SQLite by default; set IDENTITY_TEST_DATABASE_URL=postgresql+psycopg://… to run it on PostgreSQL.
# Browser tests need Debian's chromium (/usr/bin/chromium): installed here when we are root with apt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/bootstrap.sh" test
if [[ ! -x /usr/bin/chromium && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "Installing Debian chromium for the browser tests…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
fi
cd "$ROOT"
# Two workers (the machines here have 2 cores); each gets its own SQLite files or PostgreSQL database.
exec "${IDENTITY_VENV:-$ROOT/.venv}/bin/python" -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
