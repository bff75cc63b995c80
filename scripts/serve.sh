#!/usr/bin/env bash
# Quick start, command 1: install if needed, then serve on SQLite with a demo tenant (dev mode).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/bootstrap.sh"
exec "${IDENTITY_VENV:-$ROOT/.venv}/bin/identity" serve "$@"
