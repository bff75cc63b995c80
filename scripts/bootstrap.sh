#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project into it; sourced by serve.sh and test.sh.
# Every version comes from requirements.lock (pip constraints; ./scripts/lock.sh remakes it), so two
# installs of one commit get the same packages.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${IDENTITY_VENV:-$ROOT/.venv}
EXTRAS=${1:-}
LOCK=$ROOT/requirements.lock
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.installed${EXTRAS:+-$EXTRAS}"
if [[ ! -f $stamp || $ROOT/pyproject.toml -nt $stamp || $LOCK -nt $stamp ]]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade -c "$LOCK" pip
  "$VENV/bin/python" -m pip install --quiet -c "$LOCK" -e "$ROOT${EXTRAS:+[$EXTRAS]}"
  touch "$stamp"
fi
