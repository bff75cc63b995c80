#!/usr/bin/env bash
# The project's benchmark, in one command: ours vs the yardstick (panva's oidc-provider), then our own
# scenarios, profiles and statement counts, then a report.
#
# usage: bench/run.sh [--tenants N] [--time-budget SECONDS] [--ref GITREF] [--quick]
#
#   --tenants N       also run the many-tenants mode: provision N tenants (4 keys, 3 clients, 10 users each)
#                     through the service functions, rerun the scenarios against one, sweep all, measure memory
#   --time-budget S   stop provisioning new tenants after S seconds (default 540); the report says how many
#   --ref GITREF      benchmark a committed version (git archive into a temp dir, PYTHONPATH) instead of
#                     the working tree, e.g. --ref HEAD while the tree holds unfinished work
#   --quick           smoke test: 1 round, 3 s loads (numbers meaningless)
#
# Environment: ROUNDS (3), DURATION (10s), CONNS (32), WARMUP (2s) for the yardstick; LOGIN_DURATION (20s),
# PROFILE_DURATION (15s); VENV (the repo's .venv), YARDSTICK (../shared/bench beside the repo), PG_LOG (the PostgreSQL log file).
#
# Everything runs on loopback; every load is bounded in time; every process this script starts is stopped
# on exit (by PID). Results: bench/results/<stamp>/ (raw) and bench/results/report-<stamp>.md (+ PNG).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
VENV=${VENV:-$REPO/.venv}
YARD=${YARDSTICK:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd || echo "$REPO/../shared/bench")}
PY=$VENV/bin/python
PYSPY=$VENV/bin/py-spy
PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres
export PGHOST PGPORT PGUSER
DB=bench
PORT=8000
PEER_PORT=4901
PEER_ID=bench-client
PEER_SECRET=bench-secret-0123456789abcdef0123456789abcdef

TENANTS=0
TIME_BUDGET=540
REF=""
QUICK=0
while (($#)); do
  case $1 in
    --tenants) TENANTS=$2; shift 2 ;;
    --time-budget) TIME_BUDGET=$2; shift 2 ;;
    --ref) REF=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} CONNS=${CONNS:-32} WARMUP=${WARMUP:-2s}
LOGIN_DURATION=${LOGIN_DURATION:-20s}
PROFILE_DURATION=${PROFILE_DURATION:-15s}
ARGON2_DURATION=10s
DBCOUNT_N=20
if ((QUICK)); then
  ROUNDS=1 DURATION=3s WARMUP=1s LOGIN_DURATION=5s PROFILE_DURATION=4s ARGON2_DURATION=3s DBCOUNT_N=3
fi

STAMP=$(date -u +%Y-%m-%d-%H%M%S)
OUT=$HERE/results/$STAMP
mkdir -p "$OUT"
REPORT=$HERE/results/report-$STAMP.md
log() { printf '\n=== %s  [load %s]\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }

# -- preflight ---------------------------------------------------------------------------------------
for tool in wrk jq curl node npm psql; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required (apt-get install -y wrk jq curl; node/npm)" >&2; exit 2; }
done
[[ -x $PY ]] || { echo "run.sh: no python at $PY" >&2; exit 2; }
"$PY" -c 'import aiohttp, httpx, psycopg, matplotlib' 2>/dev/null ||
  { echo "run.sh: install the bench dependencies: $VENV/bin/pip install -r $HERE/requirements.txt" >&2; exit 2; }
[[ -x $PYSPY ]] || { echo "run.sh: py-spy missing: $VENV/bin/pip install -r $HERE/requirements.txt" >&2; exit 2; }
[[ -x $YARD/compare.sh && -x $YARD/run.sh ]] || { echo "run.sh: yardstick not found at $YARD" >&2; exit 2; }
for p in $PORT $PEER_PORT; do
  if curl -s --max-time 1 "http://127.0.0.1:$p/" >/dev/null 2>&1; then
    echo "run.sh: something already listens on 127.0.0.1:$p; stop it first (this script only stops what it starts)" >&2
    exit 2
  fi
done
[[ $DB != test ]] || { echo "run.sh: refusing to use the database 'test'" >&2; exit 2; }

# -- cleanup: only what we started, by PID -----------------------------------------------------------
STARTED=()
SRC_TMP=""
PEER_TMP=""
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  [[ -n $SRC_TMP ]] && rm -rf "$SRC_TMP"
  [[ -n $PEER_TMP ]] && rm -rf "$PEER_TMP"
  if ((rc != 0)); then echo "run.sh: failed (exit $rc); partial results in $OUT" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- which source -------------------------------------------------------------------------------------
if [[ -n $REF ]]; then
  SRC_TMP=$(mktemp -d /tmp/identity-bench-src.XXXXXX)
  git -C "$REPO" archive "$REF" | tar -x -C "$SRC_TMP"
  export PYTHONPATH=$SRC_TMP
  SOURCE="git $REF = $(git -C "$REPO" rev-parse --short "$REF") (snapshot via git archive; working tree not used)"
else
  SOURCE="working tree at $(git -C "$REPO" rev-parse --short HEAD)"
  [[ -z $(git -C "$REPO" status --porcelain -- identity tenants) ]] || SOURCE+=" + uncommitted changes"
fi
IDENTITY=("$VENV/bin/identity")  # the console script; PYTHONPATH (with --ref) decides which source it imports

# -- the peer: install where possible, else in a temporary copy --------------------------------------
PEER_DIR=$YARD/peer
if [[ ! -d $PEER_DIR/node_modules/oidc-provider ]]; then
  if ! (cd "$PEER_DIR" && npm install --no-audit --no-fund >/dev/null 2>&1); then
    PEER_TMP=$(mktemp -d /tmp/bench-peer.XXXXXX)
    cp "$PEER_DIR"/package.json "$PEER_DIR"/package-lock.json "$PEER_DIR"/server.mjs "$PEER_TMP"/
    (cd "$PEER_TMP" && npm install --no-audit --no-fund >/dev/null)
    PEER_DIR=$PEER_TMP
    echo "run.sh: $YARD/peer is read-only; peer installed and run from the temporary copy $PEER_DIR" >&2
  fi
fi

# -- environment of our server ------------------------------------------------------------------------
DB_URL=postgresql+psycopg://postgres@127.0.0.1:5432/$DB
export IDENTITY_ENV=prod
IDENTITY_SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
export IDENTITY_SECRET_KEY
export IDENTITY_PUBLIC_URL=http://127.0.0.1:$PORT
export IDENTITY_DATABASE_URL=$DB_URL
ISSUER=$IDENTITY_PUBLIC_URL/t/acme
PEER_ISSUER=http://127.0.0.1:$PEER_PORT
PG_LOG=${PG_LOG:-/var/log/postgresql/postgresql-$(psql -d postgres -Atc 'show server_version_num' | cut -c1-2)-main.log}

SERVER_PID=""
PEER_PID=""
start_server() { # log-file [extra env assignments...]
  local logf=$1; shift
  env "$@" "${IDENTITY[@]}" serve --port "$PORT" --workers 2 >"$logf" 2>&1 &
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
  for _ in $(seq 1 120); do
    if curl -fsS --max-time 1 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
      curl -fsS --max-time 5 "$ISSUER/.well-known/openid-configuration" >/dev/null 2>&1 || true
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; echo "run.sh: our server died" >&2; exit 1; }
    sleep 0.5
  done
  echo "run.sh: our server did not answer /healthz" >&2; exit 1
}
stop_server() { [[ -n $SERVER_PID ]] && stop_pid "$SERVER_PID"; SERVER_PID=""; }
start_peer() { # alg
  (cd "$PEER_DIR" && PORT=$PEER_PORT PEER_ALG=$1 exec node server.mjs) >"$OUT/peer-$1.log" 2>&1 &
  PEER_PID=$!
  STARTED+=("$PEER_PID")
  for _ in $(seq 1 60); do
    curl -fsS --max-time 1 "$PEER_ISSUER/.well-known/openid-configuration" >/dev/null 2>&1 && return 0
    kill -0 "$PEER_PID" 2>/dev/null || { cat "$OUT/peer-$1.log" >&2; echo "run.sh: peer died" >&2; exit 1; }
    sleep 0.5
  done
  echo "run.sh: peer did not start" >&2; exit 1
}
stop_peer() { [[ -n $PEER_PID ]] && stop_pid "$PEER_PID"; PEER_PID=""; }
set_alg() { # alg [slug]: no restart needed; each worker rereads the tenant row once its cache entry ends
  psql -d "$DB" -v ON_ERROR_STOP=1 -qc "UPDATE tenants SET access_token_alg = '$1' WHERE slug = '${2:-acme}'" >/dev/null
  sleep 3  # IDENTITY_CACHE_SECONDS (2 s) and a margin
}
token_alg() { # issuer id secret -> the alg in the access token's header
  local tok
  tok=$(curl -fsS --max-time 5 -u "$2:$3" -d grant_type=client_credentials -d scope=api:read "$1/token" | jq -r .access_token)
  "$PY" -c 'import base64, json, sys; h = sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["alg"])' "$tok"
}

# -- 1. database and tenant ---------------------------------------------------------------------------
log "database $DB: reset, migrate, provision acme ($SOURCE)"
psql -d postgres -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
"${IDENTITY[@]}" migrate --json >/dev/null
"${IDENTITY[@]}" tenant create acme --name "Acme (bench)" --json >"$OUT/tenant.json"
"${IDENTITY[@]}" scope create --tenant acme --name api:read --description "Read the bench API" --json >/dev/null
"${IDENTITY[@]}" client create --tenant acme --name "bench m2m" --grant-type client_credentials --scope api:read \
  --json >"$OUT/client-m2m.json"
REDIRECT=http://127.0.0.1:8089/callback
"${IDENTITY[@]}" client create --tenant acme --name "bench web" --redirect-uri "$REDIRECT" \
  --grant-type authorization_code --grant-type refresh_token \
  --scope openid --scope profile --scope email --scope offline_access --json >"$OUT/client-web.json"
USER_PASSWORD=bench-password-123
echo "$USER_PASSWORD" | "${IDENTITY[@]}" user create --tenant acme --email alice@acme.test --password-stdin \
  --name "Alice Bench" --json >"$OUT/user.json"
CID=$(jq -r .client_id "$OUT/client-m2m.json")
CSECRET=$(jq -r .client_secret "$OUT/client-m2m.json")
jq -n --arg issuer "$ISSUER" --slurpfile m2m "$OUT/client-m2m.json" --slurpfile web "$OUT/client-web.json" \
  --arg redirect "$REDIRECT" --arg email alice@acme.test --arg password "$USER_PASSWORD" \
  '{issuer: $issuer, m2m: {client_id: $m2m[0].client_id, client_secret: $m2m[0].client_secret},
    web: {client_id: $web[0].client_id, client_secret: $web[0].client_secret, redirect_uri: $redirect},
    user: {email: $email, password: $password}}' >"$OUT/fixture.json"

jq -n --arg stamp "$STAMP" --arg source "$SOURCE" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  --arg nproc "$(nproc)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg python "$("$PY" -V 2>&1)" \
  --arg node "$(node -v)" --arg peer "oidc-provider $(jq -r .version "$PEER_DIR/node_modules/oidc-provider/package.json")" \
  --arg wrk "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" --arg pg "$(psql -d postgres -Atc 'show server_version')" \
  --arg shape "identity serve --workers 2 (IDENTITY_ENV=prod, PostgreSQL $DB)" \
  --arg load_cfg "ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS WARMUP=$WARMUP" \
  '{stamp: $stamp, source: $source, cpu: $cpu, nproc: $nproc, "load average at start": $load, python: $python,
    node: $node, peer: $peer, wrk: $wrk, postgresql: $pg, "our server": $shape, yardstick: $load_cfg}' >"$OUT/meta.json"

# -- 2. the yardstick, ES256 then RS256 ---------------------------------------------------------------
start_server "$OUT/server.log"
log "our server up (master pid $SERVER_PID)"
compare_round() { # alg
  local alg=$1
  stop_peer
  start_peer "$alg"
  set_alg "$alg"
  echo "ours=$(token_alg "$ISSUER" "$CID" "$CSECRET") peer=$(token_alg "$PEER_ISSUER" "$PEER_ID" "$PEER_SECRET")" \
    >"$OUT/alg-check-$alg.txt"
  log "compare.sh $alg ($(cat "$OUT/alg-check-$alg.txt"))"
  grep -q "ours=$alg peer=$alg" "$OUT/alg-check-$alg.txt" || { echo "run.sh: algorithm mismatch" >&2; exit 1; }
  ROUNDS=$ROUNDS SCENARIOS="discovery jwks token" TOKEN_PARAMS="scope=api:read" \
    OURS_PIDS=$SERVER_PID PEER_PIDS=$PEER_PID RAW="$OUT/compare-$alg.raw" \
    "$YARD/compare.sh" "$ISSUER" "$CID" "$CSECRET" "$PEER_ISSUER" "$PEER_ID" "$PEER_SECRET" \
    2>"$OUT/compare-$alg.stderr" | tee "$OUT/compare-$alg.txt"
  # one more run per side with the whole latency distribution (the plot)
  local body="grant_type=client_credentials&scope=api:read"
  "$PY" "$HERE/scenarios.py" wrk --name "ours token $alg" --url "$ISSUER/token" --method POST --body "$body" \
    --auth "Basic $(printf '%s:%s' "$CID" "$CSECRET" | base64 -w0)" --duration "$DURATION" --warmup "$WARMUP" \
    --conns "$CONNS" --server-pids "$SERVER_PID" --out "$OUT/curve-token-ours-$alg.json"
  "$PY" "$HERE/scenarios.py" wrk --name "peer token $alg" --url "$PEER_ISSUER/token" --method POST --body "$body" \
    --auth "Basic $(printf '%s:%s' "$PEER_ID" "$PEER_SECRET" | base64 -w0)" --duration "$DURATION" \
    --warmup "$WARMUP" --conns "$CONNS" --server-pids "$PEER_PID" --out "$OUT/curve-token-peer-$alg.json"
}
compare_round ES256
compare_round RS256
stop_peer

# -- 3. our scenarios (RS256, the default) -------------------------------------------------------------
log "full login flow (consent remembered afterwards) and a user access token"
"$PY" "$HERE/scenarios.py" setup-login --fixture "$OUT/fixture.json" --out "$OUT/user-token.json"
log "userinfo vs discovery"
"$PY" "$HERE/scenarios.py" userinfo --fixture "$OUT/fixture.json" --token-file "$OUT/user-token.json" \
  --server-pids "$SERVER_PID" --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" --conns "$CONNS" \
  --out "$OUT/userinfo.json"
"$PY" "$HERE/scenarios.py" memory --server-pid "$SERVER_PID" --label "acme, after yardstick + userinfo" \
  --out "$OUT/memory-1-acme.json"
log "password login at concurrency 16"
"$PY" "$HERE/scenarios.py" login --fixture "$OUT/fixture.json" --concurrency 16 --duration "$LOGIN_DURATION" \
  --server-pids "$SERVER_PID" --out "$OUT/login.json"
log "argon2id alone, process pool of 2 (server idle)"
"$PY" "$HERE/scenarios.py" argon2 --workers 2 --duration "$ARGON2_DURATION" --out "$OUT/argon2.json"

# -- 4. profiles ---------------------------------------------------------------------------------------
profile() { # name kind url method body auth
  local mode extra
  for mode in wall gil; do
    extra=()
    [[ $mode == gil ]] && extra=(--gil)
    "$PY" "$HERE/scenarios.py" profile --name "$1-$mode" --kind "$2" --url "$3" --method "$4" --body "$5" \
      --auth "$6" --duration "$PROFILE_DURATION" --server-pid "$SERVER_PID" --py-spy "$PYSPY" \
      "${extra[@]}" --out-dir "$OUT"
  done
}
CC_BODY="grant_type=client_credentials&scope=api:read"
CC_AUTH="Basic $(printf '%s:%s' "$CID" "$CSECRET" | base64 -w0)"
USER_AT=$(jq -r .access_token "$OUT/user-token.json")
log "py-spy: token RS256"
profile token-RS256 token "$ISSUER/token" POST "$CC_BODY" "$CC_AUTH"
log "py-spy: discovery"
profile discovery discovery "$ISSUER/.well-known/openid-configuration" GET "" ""
log "py-spy: userinfo"
profile userinfo userinfo "$ISSUER/userinfo" GET "" "Bearer $USER_AT"
set_alg ES256
log "py-spy: token ES256"
profile token-ES256 token "$ISSUER/token" POST "$CC_BODY" "$CC_AUTH"
set_alg RS256
"$PY" "$HERE/scenarios.py" memory --server-pid "$SERVER_PID" --label "acme, end of the main run" \
  --out "$OUT/memory-2-acme.json"
stop_server

# -- 5. statements per request (server restarted with log_statement=all on its own connections) ------
log "statements per request from the PostgreSQL log ($PG_LOG)"
start_server "$OUT/server-dbcount.log" PGOPTIONS="-c log_statement=all"
"$PY" "$HERE/scenarios.py" dbcount --fixture "$OUT/fixture.json" --token-file "$OUT/user-token.json" \
  --dsn "host=127.0.0.1 port=5432 user=postgres dbname=$DB" --pg-log "$PG_LOG" --n "$DBCOUNT_N" \
  --out "$OUT/dbcount.json" || echo "run.sh: dbcount failed (see above); continuing" >&2
stop_server

# -- 6. many tenants (optional) ------------------------------------------------------------------------
if ((TENANTS > 0)); then
  MANY=$OUT/many
  mkdir -p "$MANY"
  log "provisioning up to $TENANTS tenants (time budget ${TIME_BUDGET}s)"
  "$PY" "$HERE/many_tenants.py" --tenants "$TENANTS" --time-budget "$TIME_BUDGET" --password "$USER_PASSWORD" \
    --out "$MANY/provision.json"
  psql -d "$DB" -qc "VACUUM ANALYZE" >/dev/null
  SLUG=$(jq -r .target.slug "$MANY/provision.json")
  jq --arg issuer "$IDENTITY_PUBLIC_URL/t/$SLUG" --arg redirect "$REDIRECT" --arg password "$USER_PASSWORD" \
    '{issuer: $issuer, m2m: {client_id: .target.m2m_id, client_secret: .target.m2m_secret},
      web: {client_id: .target.web_id, client_secret: .target.web_secret, redirect_uri: $redirect},
      user: {email: ("user0@" + .target.slug + ".test"), password: $password}}' "$MANY/provision.json" >"$MANY/fixture.json"
  start_server "$MANY/server.log"
  "$PY" "$HERE/scenarios.py" memory --server-pid "$SERVER_PID" --label "fresh start, $(jq .provisioned "$MANY/provision.json") tenants in the DB" \
    --out "$MANY/memory-1-start.json"
  T_ID=$(jq -r .target.m2m_id "$MANY/provision.json")
  T_SECRET=$(jq -r .target.m2m_secret "$MANY/provision.json")
  log "yardstick run.sh (ours alone): $SLUG and acme alternated"
  {
    printf '%-7s %-11s %10s %9s %9s %8s %8s %10s\n' tenant scenario req/s p50_ms p99_ms non2xx sock_err cpu_us/req
    for ((r = 1; r <= ROUNDS; r++)); do
      SCENARIOS="discovery jwks token" TOKEN_PARAMS="scope=api:read" SERVER_PIDS=$SERVER_PID \
        "$YARD/run.sh" "$IDENTITY_PUBLIC_URL/t/$SLUG" "$T_ID" "$T_SECRET" 2>>"$MANY/yardstick-run.stderr" | sed "s/^/$SLUG  /"
      SCENARIOS="discovery jwks token" TOKEN_PARAMS="scope=api:read" SERVER_PIDS=$SERVER_PID \
        "$YARD/run.sh" "$ISSUER" "$CID" "$CSECRET" 2>>"$MANY/yardstick-run.stderr" | sed 's/^/acme    /'
    done
  } | tee "$MANY/yardstick-run.txt"
  "$PY" "$HERE/scenarios.py" setup-login --fixture "$MANY/fixture.json" --out "$MANY/user-token.json"
  "$PY" "$HERE/scenarios.py" userinfo --fixture "$MANY/fixture.json" --token-file "$MANY/user-token.json" \
    --server-pids "$SERVER_PID" --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" --conns "$CONNS" \
    --out "$MANY/userinfo.json"
  "$PY" "$HERE/scenarios.py" login --fixture "$MANY/fixture.json" --concurrency 16 --duration "$LOGIN_DURATION" \
    --server-pids "$SERVER_PID" --out "$MANY/login.json"
  "$PY" "$HERE/scenarios.py" memory --server-pid "$SERVER_PID" --label "after the scenarios on $SLUG" \
    --out "$MANY/memory-2-one-tenant.json"
  log "sweep: every tenant once (jwks + token)"
  "$PY" "$HERE/scenarios.py" sweep --tenants-file "$MANY/provision.json" --base-url "$IDENTITY_PUBLIC_URL" \
    --concurrency 16 --max-seconds 240 --out "$MANY/sweep.json"
  "$PY" "$HERE/scenarios.py" memory --server-pid "$SERVER_PID" --label "after touching every tenant" \
    --out "$MANY/memory-3-all-tenants.json"
  stop_server
fi

# -- 7. report -------------------------------------------------------------------------------------------
jq --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '. + {"load average at end": $load}' "$OUT/meta.json" >"$OUT/meta.tmp" &&
  mv "$OUT/meta.tmp" "$OUT/meta.json"
"$PY" "$HERE/report.py" "$OUT" "$REPORT"
echo "run.sh: report $REPORT" >&2
