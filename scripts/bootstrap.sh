#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project into it; sourced by serve.sh and test.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${IDENTITY_VENV:-$ROOT/.venv}
EXTRAS=${1:-}
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.installed${EXTRAS:+-$EXTRAS}"
if [[ ! -f $stamp || $ROOT/pyproject.toml -nt $stamp ]]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT${EXTRAS:+[$EXTRAS]}"
  touch "$stamp"
fi
