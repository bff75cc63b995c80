#!/usr/bin/env bash
# What metrics and the access line cost: `identity serve --workers 2` (prod, PostgreSQL) with
# IDENTITY_METRICS_PORT=0 ("off"), with metrics on ("on", the default settings), and with metrics and
# IDENTITY_ACCESS_LOG=true ("access"), alternated in the same run (and optionally a baseline checkout: --baseline DIR, e.g. a worktree
# of the commit before), on discovery and the client_credentials token. Per variant: req/s and the server's
# CPU per request (the whole process tree; scenarios.py wrk). Prints the medians.
#
#   bench/metrics_cost.sh [--db NAME] [--rounds 3] [--duration 10s] [--baseline DIR]
#
# Resets the PostgreSQL database NAME (default: metrics_bench). Stops what it started, by PID.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY=${VENV:-$REPO/.venv}/bin/python
DB=metrics_bench ROUNDS=3 DURATION=10s BASELINE="" CONNS=${CONNS:-32}
while [[ $# -gt 0 ]]; do
  case $1 in
    --db) DB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --baseline) BASELINE=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "metrics_cost.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PG=${PG:-postgresql+psycopg://postgres@127.0.0.1:5432}
PORT=${PORT:-8100} MPORT=${MPORT:-9470}
OUT=$(mktemp -d -t metrics-cost-XXXX)
SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$OUT"' EXIT

export IDENTITY_ENV=prod IDENTITY_DATABASE_URL="$PG/$DB" IDENTITY_PUBLIC_URL="http://127.0.0.1:$PORT"
export IDENTITY_SECRET_KEY=metrics-cost-bench-secret-key-0123456789
psql -U postgres -h 127.0.0.1 -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
identity() { (cd "$REPO" && "$PY" -m identity.cli "$@"); }
identity migrate --json >/dev/null
identity tenant create acme --name "Acme (bench)" --json >/dev/null
identity scope create --tenant acme --name api:read --description "Read the bench API" --json >/dev/null
identity client create --tenant acme --name m2m --grant-type client_credentials --scope api:read --json >"$OUT/m2m.json"
AUTH=$("$PY" - "$OUT/m2m.json" <<'EOF'
import base64, json, sys
c = json.load(open(sys.argv[1]))
print("Basic " + base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode())
EOF
)

start_server() { # variant
  local src=$REPO port=$MPORT access=false
  [[ $1 == baseline ]] && src=$BASELINE
  [[ $1 == off ]] && port=0
  [[ $1 == access ]] && access=true
  (cd "$src" && IDENTITY_METRICS_PORT=$port IDENTITY_ACCESS_LOG=$access exec "$PY" -m identity.cli serve --port "$PORT" --workers 2) \
    >"$OUT/server-$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  cat "$OUT/server-$1.log" >&2; exit 1
}

VARIANTS=(off on access)
[[ -n $BASELINE ]] && VARIANTS=(baseline off on access)
ISS="http://127.0.0.1:$PORT/t/acme"
for round in $(seq "$ROUNDS"); do
  for variant in "${VARIANTS[@]}"; do
    start_server "$variant"
    pids=$("$PY" -c "import sys; sys.path.insert(0, '$HERE'); import scenarios; print(' '.join(map(str, scenarios.tree_pids($SERVER_PID))))")
    "$PY" "$HERE/scenarios.py" wrk --name "discovery-$variant" --url "$ISS/.well-known/openid-configuration" \
      --duration "$DURATION" --conns "$CONNS" --server-pids "$pids" --out "$OUT/discovery-$variant-$round.json"
    "$PY" "$HERE/scenarios.py" wrk --name "token-$variant" --url "$ISS/token" --method POST \
      --body "grant_type=client_credentials&scope=api%3Aread" --auth "$AUTH" \
      --duration "$DURATION" --conns "$CONNS" --server-pids "$pids" --out "$OUT/token-$variant-$round.json"
    stop_server
    rm -f "$OUT/server-$variant.log"  # (one access line per request)
  done
done

"$PY" - "$OUT" "${VARIANTS[@]}" <<'EOF'
import json, statistics, sys
from pathlib import Path
out, variants = Path(sys.argv[1]), sys.argv[2:]
for scenario in ("discovery", "token"):
    rows = {}
    for v in variants:
        runs = [json.loads(p.read_text()) for p in sorted(out.glob(f"{scenario}-{v}-*.json"))]
        rows[v] = (statistics.median(r["rps"] for r in runs), statistics.median(r["cpu_us_per_req"] for r in runs))
    for v, (rps, cpu) in rows.items():
        print(f"{scenario:10} {v:9} {rps:9.0f} req/s  {cpu:6.1f} us CPU/req")
    if "off" in rows and "on" in rows:
        (r0, c0), (r1, c1) = rows["off"], rows["on"]
        print(f"{scenario:10} metrics on vs off: +{c1 - c0:.1f} us CPU/req ({c1 / c0:.3f}x), throughput {r1 / r0:.3f}x")
    if "on" in rows and "access" in rows:
        (r1, c1), (r2, c2) = rows["on"], rows["access"]
        print(f"{scenario:10} access line on: +{c2 - c1:.1f} us CPU/req ({c2 / c1:.3f}x), throughput {r2 / r1:.3f}x")
EOF
