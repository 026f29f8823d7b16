#!/usr/bin/env bash
# Redis Sentinel fail-over under load, against a real `gatehouse` binary.
#
# usage: tests/redis-ha/failover.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# env:   FAILOVER_MAX_OUTAGE  seconds of 503s allowed after the kill (default 8)
#        FAILOVER_KEEP_LOGS   a directory to copy the server and Redis logs into
#        FAILOVER_REDIS_OPTIONS  the Sentinel URL's options (default
#                             wait_replicas=1&wait_timeout_ms=500; wait_replicas=0 fails check 4)
#
# Starts tests/redis-ha/start-sentinel.sh (primary :18411, replicas :18412 :18413, sentinels
# :18421-18423) in a temp dir, runs the server on it (SQLite database, port 18450, metrics 18451,
# sessions.redis_url = redis+sentinel://…/gatehouse?wait_replicas=1&wait_timeout_ms=500), and:
#   1. under load (4 connections rotating refresh tokens and asking for client_credentials tokens)
#      kills the primary with SIGKILL 3 s in: answers are only 200 or 503 (with Retry-After),
#      503s last at most FAILOVER_MAX_OUTAGE seconds, then requests succeed again on the same
#      server process;
#   2. no acknowledged grant is lost: refresh tokens acknowledged before the kill (left idle, and
#      the last one of each rotating chain) all refresh after it;
#   3. Sentinel promoted a replica, and the server follows it without a restart;
#   4. a write no replica confirms is not acknowledged: with the remaining replica stopped
#      (SIGSTOP), a refresh answers 503 within about a second instead of 200.
# One PASS/FAIL line per check, then `N passed, N failed`; exits 1 if any check failed.
# Needs: redis-server, redis-cli, curl, python3 (stdlib only). Takes about 25 s.
set -Eeuo pipefail

case "${1:-}" in -h | --help) sed -n '2,22p' "$0"; exit 0 ;; esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/redis-ha"
bin="${1:-$root/target/debug/gatehouse}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
max_outage="${FAILOVER_MAX_OUTAGE:-8}"
port=18450
base="http://127.0.0.1:$port"
primary_port=18411

passed=0
failed=0
summary_done=""
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+ — $2}"; }
summary() {
  summary_done=1
  echo "$passed passed, $failed failed"
}

missing=""
for cmd in redis-server redis-cli curl python3; do
  command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
[ -x "$bin" ] || missing="$missing $bin"
if [ -n "$missing" ]; then
  echo "FAIL setup — missing:$missing"
  echo "0 passed, 1 failed"
  exit 1
fi

work="$(mktemp -d)"
export REDIS_SENTINEL_DIR="$work/sentinel"
server=""
stopped_pids=()
cleanup() {
  local status=$?
  set +e
  trap '' PIPE
  for pid in "${stopped_pids[@]}"; do kill -CONT "$pid" 2>/dev/null; done
  if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
  if [ -n "${FAILOVER_KEEP_LOGS:-}" ]; then
    mkdir -p "$FAILOVER_KEEP_LOGS" && cp "$work"/*.log "$FAILOVER_KEEP_LOGS"/ 2>/dev/null
    for log in "$REDIS_SENTINEL_DIR"/*/redis.log; do
      cp "$log" "$FAILOVER_KEEP_LOGS/redis-$(basename "$(dirname "$log")").log" 2>/dev/null
    done
  fi
  bash "$here/start-sentinel.sh" stop
  rm -rf "$work"
  if [ -z "$summary_done" ]; then
    fail "aborted" "the script stopped early (status $status${err_line:+, line $err_line})"
    summary
    status=1
  fi
  exit "$status"
}
err_line=""
trap 'err_line=$LINENO' ERR
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  fail "setup" "$1"
  if [ -f "$work/server.log" ]; then tail -n 30 "$work/server.log" >&2; fi
  summary
  exit 1
}

sentinel_url=$(bash "$here/start-sentinel.sh" start) || die "the Sentinel set-up did not start"
master() { redis-cli -p 18421 SENTINEL get-master-addr-by-name gatehouse | paste -sd:; }
[ "$(master)" = "127.0.0.1:$primary_port" ] || die "Sentinel names $(master) as the primary"

export GATEHOUSE__DATABASE__URL="sqlite://$work/gatehouse.db"
export GATEHOUSE__SESSIONS__REDIS_URL="$sentinel_url?${FAILOVER_REDIS_OPTIONS:-wait_replicas=1&wait_timeout_ms=500}"
export GATEHOUSE__SESSIONS__KEY_PREFIX="gatehouse:"
export GATEHOUSE__SERVER__LISTEN="127.0.0.1:$port"
export GATEHOUSE__METRICS__LISTEN="127.0.0.1:$((port + 1))"
export GATEHOUSE__SERVER__ISSUER="$base"
export GATEHOUSE__SERVER__SHUTDOWN_TIMEOUT_SECS=2
GATEHOUSE__KEYS__MASTER_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
export GATEHOUSE__KEYS__MASTER_KEY
export GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="failover admin password"
export GATEHOUSE__PASSWORDS__MEMORY_KIB=256
export GATEHOUSE__PASSWORDS__ITERATIONS=1
export GATEHOUSE__PASSWORDS__PARALLELISM=1
export GATEHOUSE__LOGGING__FORMAT=pretty

user=failoveruser
password="failover test passphrase"
redirect="http://failover.example.test/callback"
echo "$password" | "$bin" user create --username "$user" --email failover@example.com \
  >/dev/null 2>>"$work/cli.log" || die "gatehouse user create failed: $(tail -n 3 "$work/cli.log")"
client_json=$("$bin" client create --name "Failover RP" --redirect-uri "$redirect" \
  --grant authorization-code --grant refresh-token --grant client-credentials --first-party \
  --json 2>>"$work/cli.log") || die "client create failed: $(tail -n 3 "$work/cli.log")"
{ read -r client_id; read -r client_secret; } < <(python3 "$root/tests/faults/oidc.py" json \
  client_id client_secret <<<"$client_json")

"$bin" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || die "the server exited: $(tail -n 5 "$work/server.log")"
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null 2>&1 || die "the server never became ready"
echo "gatehouse Redis fail-over checks: $bin on $base, $sentinel_url"

# --- 1 + 2: the primary killed mid-load --------------------------------------------------------
echo "== 1. primary killed (SIGKILL) 3 s into a 12 s load; 2. no acknowledged grant lost"
primary_pid=$(cat "$REDIS_SENTINEL_DIR/$primary_port/redis.pid")
set +e
python3 "$here/failover.py" load "$base" "$client_id" "$client_secret" "$redirect" "$user" \
  "$password" 12 4 3 "$max_outage" "kill -9 $primary_pid" >"$work/load.out" 2>"$work/load.err"
set -e
cat "$work/load.out"
[ -s "$work/load.err" ] && sed 's/^/  load: /' "$work/load.err" | tail -n 5
passed=$((passed + $(grep -c '^PASS' "$work/load.out" || true)))
failed=$((failed + $(grep -c '^FAIL' "$work/load.out" || true)))
grep -q '^PASS' "$work/load.out" || fail "load" "the load script reported nothing"

# --- 3: Sentinel promoted a replica; the same server process serves ---------------------------
echo "== 3. a replica was promoted and the server followed it"
new_master=$(master)
if [ "$new_master" != "127.0.0.1:$primary_port" ] && [ -n "$new_master" ]; then
  pass "Sentinel promoted $new_master"
else
  fail "Sentinel promoted a replica" "it still names ${new_master:-nothing}"
fi
if kill -0 "$server" 2>/dev/null && curl -fsS "$base/readyz" >/dev/null 2>&1; then
  pass "the same server process is ready (no restart)"
else
  fail "the same server process is ready (no restart)" "$(curl -sS "$base/readyz" 2>&1 | head -c 200)"
fi

# --- 4: a write no replica confirms is not acknowledged ----------------------------------------
echo "== 4. with no replica to confirm it, a refresh is refused (503), not acknowledged"
new_port="${new_master##*:}"
replica_pids=()
for p in 18412 18413; do
  [ "$p" = "$new_port" ] || replica_pids+=("$(cat "$REDIS_SENTINEL_DIR/$p/redis.pid")")
done
# The remaining replica must have resynchronised with the new primary before a grant can be made.
rt=""
for _ in $(seq 1 50); do
  rt=$(python3 "$here/failover.py" grant "$base" "$client_id" "$client_secret" "$redirect" "$user" \
    "$password" 2>/dev/null) && break
  rt=""
  sleep 0.2
done
if [ -z "$rt" ]; then
  fail "a grant after the fail-over" "no code flow succeeded within 10 s"
else
  stopped_pids=("${replica_pids[@]}")
  kill -STOP "${replica_pids[@]}"
  read -r status secs < <(python3 "$here/failover.py" refresh-once "$base" "$client_id" \
    "$client_secret" "$rt")
  kill -CONT "${replica_pids[@]}"
  stopped_pids=()
  if [ "$status" = 503 ]; then
    pass "refresh with its replica stopped: 503 after ${secs}s (not acknowledged)"
  else
    fail "refresh with its replica stopped: 503 (not acknowledged)" "HTTP $status after ${secs}s"
  fi
fi

summary
[ "$failed" = 0 ]
