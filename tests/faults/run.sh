#!/usr/bin/env bash
# Fault injection against a real `gatehouse` binary on its own Postgres and Redis.
#
# usage: tests/faults/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# env:   FAULTS_MAX_TIME   seconds curl waits for any one answer (default 3)
#        FAULTS_KEEP_LOGS  a directory to copy the server, Postgres and Redis logs into
#
# Starts a scratch Redis (no persistence) and a scratch Postgres cluster (initdb in a temp dir,
# trust auth, 127.0.0.1 only; run as the `postgres` OS user when started as root), runs the
# server on them, and checks:
#   1. revoked access tokens stay revoked across a Redis restart that loses everything;
#      tokens issued after it work; refresh tokens from before it are `invalid_grant`;
#   2. while Postgres is stopped every surface answers within 1 s: 503 + Retry-After in its own
#      content type, unless it legitimately needs no database (a cached client, the login form);
#   3. after Postgres comes back, the very first request (no readiness probe before it) succeeds;
#   4. users, clients and revocations acknowledged before the outages are all still there;
#   5. Postgres restarted mid-load (registrations and token requests from 4 connections): no
#      answer but 200/201/503, service back within seconds of Postgres, the same server process,
#      and every registration answered 201 is in the database.
# The server reaches Postgres through a libpq multi-host URL whose first host is down
# (target_session_attrs=read-write), as a deployment listing a primary and a standby would.
# One PASS/FAIL line per check, then `N passed, N failed`; exits 1 if any check failed.
# Needs: redis-server, redis-cli, initdb, pg_ctl (PATH or /usr/lib/postgresql/*/bin),
# pg_isready, psql, curl, python3 (stdlib only), and runuser when run as root
# (Debian: apt-get install postgresql redis-server curl python3). Takes about 30 s.
set -Eeuo pipefail

case "${1:-}" in -h | --help) sed -n '2,20p' "$0"; exit 0 ;; esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/faults"
bin="${1:-$root/target/debug/gatehouse}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
max_time="${FAULTS_MAX_TIME:-3}"
started=$EPOCHREALTIME

passed=0
failed=0
summary_done=""
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+ — $2}"; }
summary() {
  summary_done=1
  echo "$passed passed, $failed failed"
}

# --- tools -------------------------------------------------------------------------------------
pg_bin=""
for cmd in initdb pg_ctl; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    pg_bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
    break
  fi
done
missing=""
for cmd in redis-server redis-cli pg_isready psql curl python3 ${pg_bin:+$pg_bin/}initdb \
  ${pg_bin:+$pg_bin/}pg_ctl; do
  command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
done
[ -x "$bin" ] || missing="$missing $bin"
if [ "$(id -u)" = 0 ]; then
  as_pg=(runuser -u postgres --)
  id postgres >/dev/null 2>&1 || missing="$missing postgres(OS user)"
  command -v runuser >/dev/null 2>&1 || missing="$missing runuser"
else
  as_pg=()
fi
if [ -n "$missing" ]; then
  echo "FAIL setup — missing:$missing"
  echo "0 passed, 1 failed"
  exit 1
fi

# --- scratch services, cleaned up whatever happens ---------------------------------------------
work="$(mktemp -d)"
chmod 711 "$work" # the postgres user must reach its data directory below
resp="$work/responses"
mkdir -p "$resp" "$work/redis1" "$work/redis2" "$work/pg"
server=""
redis=""
pg_started=""
pgdata="$work/pg/data"
cleanup() {
  local status=$?
  set +e
  trap '' PIPE # whoever reads our output may be gone already: clean up regardless
  if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
  if [ -n "$redis" ]; then kill "$redis" 2>/dev/null; wait "$redis" 2>/dev/null; fi
  if [ -n "$pg_started" ]; then
    "${as_pg[@]}" "${pg_bin:+$pg_bin/}pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1
  fi
  if [ -n "${FAULTS_KEEP_LOGS:-}" ]; then
    mkdir -p "$FAULTS_KEEP_LOGS" &&
      cp "$work"/*.log "$work"/pg/postgres.log "$FAULTS_KEEP_LOGS"/ 2>/dev/null
  fi
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { echo "$EPOCHREALTIME"; }
# elapsed SINCE: seconds since an EPOCHREALTIME value.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# rest_since SINCE SECS: sleeps until SECS seconds have passed since SINCE.
rest_since() {
  local left
  left=$(awk -v a="$1" -v b="$EPOCHREALTIME" -v s="$2" 'BEGIN { l = a + s - b; printf "%.2f", (l > 0 ? l : 0) }')
  sleep "$left"
}

redis_port=$(free_port)
pg_port=$(free_port)
dead_pg_port=$(free_port) # nothing listens there: the multi-host URL's first host is down
port=$(free_port)
base="http://127.0.0.1:$port"

start_redis() { # DIR
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --dir "$1" >"$1.log" 2>&1 &
  redis=$!
  for _ in $(seq 1 50); do
    [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  return 1
}
pg_ctl_() { "${as_pg[@]}" "${pg_bin:+$pg_bin/}pg_ctl" -D "$pgdata" "$@"; }
start_postgres() {
  pg_ctl_ -l "$work/pg/postgres.log" -w -t 30 \
    -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg" \
    start >/dev/null
}

start_redis "$work/redis1" || die "redis-server did not start on port $redis_port"
[ "$(id -u)" = 0 ] && chown postgres: "$work/pg"
"${as_pg[@]}" "${pg_bin:+$pg_bin/}initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 \
  --no-sync >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; die "initdb failed"; }
pg_started=1
start_postgres || die "Postgres did not start: $(tail -n 5 "$work/pg/postgres.log" 2>/dev/null)"
psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE gatehouse" >/dev/null ||
  die "cannot create the database"

export GATEHOUSE__DATABASE__URL="postgres://postgres@127.0.0.1:$dead_pg_port,127.0.0.1:$pg_port/gatehouse?target_session_attrs=read-write"
# Check 5's load registers a few hundred users from one address.
export GATEHOUSE__RATE_LIMITS__REGISTRATION_PER_IP__LIMIT=100000
export GATEHOUSE__SESSIONS__REDIS_URL="redis://127.0.0.1:$redis_port"
export GATEHOUSE__SESSIONS__KEY_PREFIX="gatehouse:"
export GATEHOUSE__SERVER__LISTEN="127.0.0.1:$port"
export GATEHOUSE__SERVER__ISSUER="$base"
export GATEHOUSE__SERVER__SHUTDOWN_TIMEOUT_SECS=2
GATEHOUSE__KEYS__MASTER_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
export GATEHOUSE__KEYS__MASTER_KEY
export GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="faults admin password"
export GATEHOUSE__PASSWORDS__MEMORY_KIB=256
export GATEHOUSE__PASSWORDS__ITERATIONS=1
export GATEHOUSE__PASSWORDS__PARALLELISM=1
export GATEHOUSE__LOGGING__FORMAT=pretty
unset GATEHOUSE__DATABASE__MAX_CONNECTIONS GATEHOUSE__TOKENS__USER_CACHE_SECS

# --- user and clients through the CLI, as an operator would -----------------------------------
user=faultuser
password="faults test passphrase"
redirect="http://faults.example.test/callback"
redirect_enc="http%3A%2F%2Ffaults.example.test%2Fcallback"
echo "$password" | "$bin" user create --username "$user" --email faultuser@example.com \
  >/dev/null 2>>"$work/cli.log" || die "gatehouse user create failed: $(tail -n 3 "$work/cli.log")"
jq_() { python3 "$here/oidc.py" json "$@"; }
new_client() { # NAME ARGS...: prints "client_id client_secret"
  local name="$1" out
  shift
  out=$("$bin" client create --name "$name" "$@" --json 2>>"$work/cli.log") || return 1
  jq_ client_id client_secret <<<"$out" | paste -sd' '
}
# rp: the relying party used throughout (so the one whose registration is cached at the outage).
read -r rp_id rp_secret < <(new_client "Faults RP" --redirect-uri "$redirect" --grant authorization-code \
  --grant refresh-token --grant client-credentials --first-party) || die "client create failed"
# cold_*: left alone for a while before the outage, so the server must read them from Postgres.
read -r cc_id cc_secret < <(new_client "Faults cold machine client" --grant client-credentials) ||
  die "client create failed"
read -r rs_id rs_secret < <(new_client "Faults cold resource server" --grant client-credentials) ||
  die "client create failed"
read -r cold_rp_id _ < <(new_client "Faults cold RP" --redirect-uri "$redirect" \
  --grant authorization-code --first-party) || die "client create failed"

"$bin" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || die "the server exited: $(tail -n 5 "$work/server.log")"
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null 2>&1 || die "the server never became ready"

# --- HTTP helpers ------------------------------------------------------------------------------
# call NAME METHOD PATH [curl args...]: one request, bounded by FAULTS_MAX_TIME. Sets status
# (000 when nothing came back in time), secs (time_total), ctype, retry_after, location; the body
# is in $resp/NAME.body.
call() {
  local name="$1" method="$2" path="$3" out
  shift 3
  : >"$resp/$name.hdr"
  : >"$resp/$name.body"
  out=$(curl -sS -X "$method" -o "$resp/$name.body" -D "$resp/$name.hdr" --max-time "$max_time" \
    -w '%{http_code} %{time_total}' "$@" "$base$path" 2>"$resp/$name.err") || true
  status="${out%% *}"
  secs="${out##* }"
  [ -n "$status" ] || status=000
  error=""
  active=""
  ctype=$(header "$name" content-type)
  retry_after=$(header "$name" retry-after)
  location=$(header "$name" location)
}
header() { # NAME HEADER
  grep -i "^$2:" "$resp/$1.hdr" 2>/dev/null | tail -n1 | cut -d: -f2- | tr -d '\r' |
    sed 's/^[[:space:]]*//; s/[[:space:]]*$//' || true
}
body() { cat "$resp/$1.body"; }
field() { jq_ "$2" <"$resp/$1.body"; } # NAME FIELD
form=(-H "Content-Type: application/x-www-form-urlencoded")

cc_token() { # NAME ID SECRET: sets token (empty on failure)
  call "$1" POST /token "${form[@]}" -u "$2:$3" --data grant_type=client_credentials
  token=""
  [ "$status" = 200 ] && token=$(field "$1" access_token)
  return 0
}
introspect() { # NAME ID SECRET TOKEN: sets active (true/false/"" when no 200)
  call "$1" POST /introspect "${form[@]}" -u "$2:$3" --data-urlencode "token=$4"
  active=""
  [ "$status" = 200 ] && active=$(field "$1" active)
  return 0
}
userinfo() { call "$1" GET /userinfo -H "Authorization: Bearer $2"; } # NAME TOKEN
refresh() { # NAME REFRESH_TOKEN: sets error (the OAuth error code, if any)
  call "$1" POST /token "${form[@]}" -u "$rp_id:$rp_secret" --data grant_type=refresh_token \
    --data-urlencode "refresh_token=$2"
  error=$(field "$1" error)
}
revoke() { # NAME TOKEN ID SECRET
  call "$1" POST /revoke "${form[@]}" -u "$3:$4" --data-urlencode "token=$2"
}
# code_flow SESSION: a user's tokens for rp; sets at and rt.
code_flow() {
  local out
  out=$(python3 "$here/oidc.py" code-flow "$base" "$rp_id" "$rp_secret" "$redirect" "$1") ||
    die "code flow failed"
  { read -r at; read -r rt; } < <(jq_ access_token refresh_token <<<"$out")
}
login() { python3 "$here/oidc.py" login "$base" "$1" "$2"; }

# A store that was just restarted may need a moment; retry a request while it answers 5xx or
# not at all, for up to SECS seconds. retry_5xx SECS FUNCTION ARGS...
retry_5xx() {
  local deadline
  deadline=$(awk -v n="$EPOCHREALTIME" -v s="$1" 'BEGIN { printf "%.3f", n + s }')
  shift
  while :; do
    "$@"
    case "$status" in 5* | 000) ;; *) return 0 ;; esac
    awk -v n="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(n < d) }' || return 0
    sleep 0.2
  done
}
describe() { echo "HTTP $status${error:+ $error}${active:+ active=$active}, ${secs}s"; }

# expect_inactive LABEL TOKEN [userinfo]: introspection (as rp) says active:false, and
# (with `userinfo`) /userinfo answers 401.
expect_inactive() {
  local label="$1" tok="$2" name="inactive-$RANDOM"
  retry_5xx 2 introspect "$name" "$rp_id" "$rp_secret" "$tok"
  if [ "$status" = 200 ] && [ "$active" = false ]; then
    pass "$label: /introspect active:false"
  else
    fail "$label: /introspect active:false" "$(describe) — $(body "$name" | head -c 200)"
  fi
  if [ "${3:-}" = userinfo ]; then
    retry_5xx 2 userinfo "$name-userinfo" "$tok"
    if [ "$status" = 401 ]; then
      pass "$label: /userinfo 401"
    else
      fail "$label: /userinfo 401" "$(describe)"
    fi
  fi
}

echo "gatehouse fault checks: $bin on 127.0.0.1:$port, Postgres :$pg_port, Redis :$redis_port"

# --- setup for check 4: users registered and clients used before any outage -------------------
# Registered concurrently, which also makes the server open several pooled connections, as a
# server under real traffic has when its database goes away (check 3 is about those).
registered=()
pids=()
for n in 1 2 3 4 5 6; do
  (curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -d "{\"username\":\"early$n\",\"email\":\"early$n@example.com\",\"password\":\"early user $n passphrase\"}" \
    "$base/api/v1/users" >"$resp/register-$n.status" 2>/dev/null || true) &
  pids+=($!)
done
wait "${pids[@]}"
for n in 1 2 3 4 5 6; do
  [ "$(cat "$resp/register-$n.status")" = 201 ] && registered+=("early$n")
done
[ "${#registered[@]}" = 6 ] || die "registration before the outages: only ${registered[*]:-none} got 201"
cc_token cold-cc "$cc_id" "$cc_secret"
[ -n "$token" ] || die "client_credentials for the cold machine client: HTTP $status"
cc_token cold-rs "$rs_id" "$rs_secret"
[ -n "$token" ] || die "client_credentials for the cold resource server: HTTP $status"
cold_used=$(now)

# --- 1. revocation across a Redis restart ------------------------------------------------------
echo "== 1. revoked tokens stay revoked across a Redis restart (without persistence)"
session=$(login "$user" "$password") || die "login failed"
code_flow "$session"
at1=$at rt1=$rt # grant 1: its access token is revoked at /revoke
code_flow "$session"
at2=$at rt2=$rt # grant 2: its refresh token is replayed, which revokes the grant
code_flow "$session"
at3=$at # grant 3: never revoked (a control)
cc_token cc1 "$rp_id" "$rp_secret"
cc1=$token
[ -n "$cc1" ] || die "client_credentials for rp: HTTP $status"

revoke revoke-at1 "$at1" "$rp_id" "$rp_secret"
[ "$status" = 200 ] || die "/revoke of a user access token: HTTP $status"
revoke revoke-cc1 "$cc1" "$rp_id" "$rp_secret"
[ "$status" = 200 ] || die "/revoke of a client_credentials token: HTTP $status"
refresh rotate-rt2 "$rt2"
[ "$status" = 200 ] || die "refresh of grant 2: HTTP $status $error"
at2b=$(field rotate-rt2 access_token)
rt2b=$(field rotate-rt2 refresh_token)
refresh replay-rt2 "$rt2"
if [ "$status" = 400 ] && [ "$error" = invalid_grant ]; then
  pass "replaying a rotated refresh token: 400 invalid_grant"
else
  fail "replaying a rotated refresh token: 400 invalid_grant" "$(describe)"
fi

expect_inactive "before the restart: access token revoked at /revoke" "$at1" userinfo
expect_inactive "before the restart: client_credentials token revoked at /revoke" "$cc1"
expect_inactive "before the restart: access token of the replayed grant" "$at2" userinfo
expect_inactive "before the restart: newer access token of the replayed grant" "$at2b" userinfo
introspect control-before "$rp_id" "$rp_secret" "$at3"
if [ "$active" = true ]; then
  pass "before the restart: an unrevoked access token is active (control)"
else
  fail "before the restart: an unrevoked access token is active (control)" "$(describe)"
fi

kill "$redis"
wait "$redis" 2>/dev/null || true
redis=""
start_redis "$work/redis2" || die "redis-server did not come back on port $redis_port"
keys=$(redis-cli -h 127.0.0.1 -p "$redis_port" DBSIZE)
echo "   Redis restarted on port $redis_port, $keys keys"

expect_inactive "after the restart: access token revoked at /revoke" "$at1" userinfo
expect_inactive "after the restart: client_credentials token revoked at /revoke" "$cc1"
expect_inactive "after the restart: access token of the replayed grant" "$at2" userinfo
expect_inactive "after the restart: newer access token of the replayed grant" "$at2b" userinfo
for pair in "unrevoked grant:$rt1" "replayed grant:$rt2b"; do
  retry_5xx 2 refresh refresh-after-"$RANDOM" "${pair#*:}"
  if [ "$status" = 400 ] && [ "$error" = invalid_grant ]; then
    pass "after the restart: a refresh token from before it (${pair%%:*}) is invalid_grant (users sign in again)"
  else
    fail "after the restart: a refresh token from before it (${pair%%:*}) is invalid_grant" "$(describe)"
  fi
done
introspect control-after "$rp_id" "$rp_secret" "$at3"
echo "   info: the unrevoked access token from before the restart now introspects as" \
  "active=${active:-?} (HTTP $status); either is acceptable"

# Tokens issued after the restart are live; the server may need a moment to notice the restart
# (a token minted before it did may be refused for good), so issue afresh until one is active.
new_token_active() { # LABEL ISSUE-FUNCTION
  local deadline ok=""
  deadline=$(awk -v n="$EPOCHREALTIME" 'BEGIN { printf "%.3f", n + 2.5 }')
  while :; do
    "$2"
    if [ -n "$token" ]; then
      introspect new-check "$rp_id" "$rp_secret" "$token"
      [ "$active" = true ] && { ok=1; break; }
    fi
    awk -v n="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(n < d) }' || break
    sleep 0.25
  done
  if [ -n "$ok" ]; then
    pass "after the restart: $1 is active at /introspect"
  else
    fail "after the restart: $1 is active at /introspect (polled 2.5 s)" "$(describe): $(body new-check | head -c 200)"
  fi
}
issue_cc() { cc_token new-cc "$rp_id" "$rp_secret"; }
issue_user() {
  token=""
  [ -n "${session2:-}" ] || session2=$(login "$user" "$password" 2>"$resp/login2.err") || session2=""
  [ -n "$session2" ] || { status="login failed: $(cat "$resp/login2.err")"; return 0; }
  code_flow "$session2"
  token=$at
  at4=$at
}
new_token_active "a new client_credentials token" issue_cc
session2=""
new_token_active "a new user access token (code flow after signing in again)" issue_user
if [ -n "${at4:-}" ]; then
  userinfo userinfo-new "$at4"
  if [ "$status" = 200 ]; then
    pass "after the restart: /userinfo with a new user token 200"
  else
    fail "after the restart: /userinfo with a new user token 200" "$(describe)"
  fi
fi

# Revocations acknowledged after the Redis restart and before the Postgres stop (for check 4).
code_flow "$session2"
at5=$at
cc_token cc5 "$rp_id" "$rp_secret"
cc5=$token
revoke revoke-at5 "$at5" "$rp_id" "$rp_secret"
ack5=$status
revoke revoke-cc5 "$cc5" "$rp_id" "$rp_secret"
if [ "$ack5" != 200 ] || [ "$status" != 200 ]; then
  die "/revoke before the Postgres stop: HTTP $ack5 / $status"
fi
read -r csrf_cookie csrf_form < <(python3 "$here/oidc.py" csrf "$base") || die "no CSRF pair"
user_used=$(now)

# --- 2. Postgres stopped -----------------------------------------------------------------------
echo "== 2. while Postgres is stopped every surface answers within 1 s (503 + Retry-After)"
# Client registrations are cached 5 s and user rows 2 s (user_cache_secs): rest long enough that
# nothing but rp's registration, read again just before the stop, is in any cache.
rest_since "$cold_used" 6
rest_since "$user_used" 6
cc_token warm "$rp_id" "$rp_secret" # reads rp's registration from Postgres: cached for 5 s
warm_cc=$token
[ -n "$warm_cc" ] || die "client_credentials just before the Postgres stop: HTTP $status"
pooled=$(psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
  "SELECT count(*) FROM pg_stat_activity WHERE datname = 'gatehouse'" 2>/dev/null || echo '?')
pg_ctl_ -m fast -w stop >/dev/null || die "pg_ctl stop failed"
echo "   Postgres stopped; the server had $pooled connections open to it"
for _ in $(seq 1 10); do
  pg_isready -h 127.0.0.1 -p "$pg_port" -q || break
  sleep 0.1
done
! pg_isready -h 127.0.0.1 -p "$pg_port" -q || die "Postgres still answers after pg_ctl stop"
down_at=$(now)

fast() { awk -v s="$secs" 'BEGIN { exit !(s < 1.0) }'; }
retry_after_ok() { [[ "$retry_after" =~ ^[0-9]+$ || "$retry_after" == *GMT ]]; }
# unavailable LABEL NAME CONTENT-TYPE-PREFIX: the answer in $status/$ctype/... is a proper 503.
unavailable() {
  local why=()
  [ "$status" = 503 ] || why+=("HTTP $status")
  retry_after_ok || why+=("Retry-After '${retry_after}'")
  [[ "${ctype,,}" == "$3"* ]] || why+=("content-type '${ctype}'")
  fast || why+=("took ${secs}s")
  if [ "${#why[@]}" = 0 ]; then
    pass "$1: 503, Retry-After $retry_after, $3, ${secs}s"
  else
    fail "$1: 503 + Retry-After, $3, < 1 s" \
      "$(IFS=';'; echo "${why[*]}")${location:+ Location: $location} — $(body "$2" | tr -d '\n' | head -c 160)"
  fi
}

# A cached client and a self-contained JWT need no database: success is correct; a proper 503
# is acceptable too. A wrong answer (500, active:false for a live token) or a slow one is not.
cc_token cached-token "$rp_id" "$rp_secret"
if [ "$status" = 200 ] && [ -n "$token" ] && fast; then
  pass "/token client_credentials, cached client: 200 without the database, ${secs}s"
elif [ "$status" = 503 ]; then
  unavailable "/token client_credentials, cached client" cached-token application/json
else
  fail "/token client_credentials, cached client: 200, or 503 + Retry-After, < 1 s" \
    "$(describe) — $(body cached-token | head -c 160)"
fi
introspect cached-introspect "$rp_id" "$rp_secret" "$warm_cc"
if [ "$status" = 200 ] && [ "$active" = true ] && fast; then
  pass "/introspect of a client_credentials token by a cached client: active:true without the database, ${secs}s"
elif [ "$status" = 503 ]; then
  unavailable "/introspect by a cached client" cached-introspect application/json
else
  fail "/introspect by a cached client: 200 active:true, or 503 + Retry-After, < 1 s" \
    "$(describe) — $(body cached-introspect | head -c 160)"
fi

cc_token cold-token "$cc_id" "$cc_secret"
unavailable "/token client_credentials, uncached client" cold-token application/json
if [ "$status" = 503 ] && [ "$(field cold-token error)" != temporarily_unavailable ]; then
  echo "   note: the 503 from /token says '$(field cold-token error)', not temporarily_unavailable"
fi
introspect cold-introspect "$rs_id" "$rs_secret" "$warm_cc"
unavailable "/introspect, uncached client" cold-introspect application/json
userinfo userinfo-down "$at4"
unavailable "/userinfo (user row not cached)" userinfo-down application/json
call register-down POST /api/v1/users -H 'Content-Type: application/json' \
  -d '{"username":"during","email":"during@example.com","password":"during the outage pass"}'
unavailable "POST /api/v1/users" register-down application/problem+json
call login-form-down GET /login
if [ "$status" = 200 ] && [[ "${ctype,,}" == text/html* ]] && grep -q csrf_token "$resp/login-form-down.body" && fast; then
  pass "GET /login: the form needs no database: 200 text/html, ${secs}s"
else
  unavailable "GET /login" login-form-down text/html
fi
call login-down POST /login "${form[@]}" -H "Cookie: gh_csrf=$csrf_cookie" \
  --data-urlencode "username=$user" --data-urlencode "password=$password" \
  --data-urlencode "csrf_token=$csrf_form" --data "return_to="
unavailable "POST /login" login-down text/html
authorize_path() { echo "/authorize?response_type=code&client_id=$1&redirect_uri=$redirect_enc&scope=openid&state=down&nonce=n"; }
# An uncached client's redirect URI cannot be verified without the database: an error page.
call authorize-cold GET "$(authorize_path "$cold_rp_id")" -H "Cookie: gh_session=$session2"
unavailable "GET /authorize, uncached client (redirect URI unverifiable)" authorize-cold text/html
# rp's registration may still be cached: then the error goes back to its redirect URI.
call authorize-rp GET "$(authorize_path "$rp_id")" -H "Cookie: gh_session=$session2"
if [ "$status" = 302 ] && [[ "$location" == "$redirect?"*error=temporarily_unavailable* ]] &&
  [[ "$location" == *state=down* ]] && fast; then
  pass "GET /authorize, rp: redirect with error=temporarily_unavailable, ${secs}s"
else
  unavailable "GET /authorize, rp (or a redirect with error=temporarily_unavailable)" authorize-rp text/html
fi
call readyz-down GET /readyz
unavailable "GET /readyz" readyz-down application/json
if grep -q '"database"' "$resp/readyz-down.body" &&
  [[ "$(field readyz-down down)" == *database* ]]; then
  pass "GET /readyz names the database as down"
else
  fail "GET /readyz names the database as down" "$(body readyz-down | head -c 200)"
fi
echo "   Postgres was down for $(elapsed "$down_at") s"

# --- 3. Postgres back: the first request succeeds ----------------------------------------------
echo "== 3. after Postgres restarts, the first request succeeds (no probe before it)"
start_postgres || die "Postgres did not restart"
for _ in $(seq 1 100); do
  pg_isready -h 127.0.0.1 -p "$pg_port" -q && break
  sleep 0.1
done
cc_token first-token "$cc_id" "$cc_secret"
first=$token
if [ "$status" = 200 ] && [ -n "$first" ]; then
  pass "first request after the restart: /token client_credentials (uncached client) 200, ${secs}s"
else
  fail "first request after the restart: /token client_credentials 200" "$(describe) — $(body first-token | head -c 200)"
fi
introspect first-introspect "$rs_id" "$rs_secret" "${first:-$warm_cc}"
if [ "$status" = 200 ] && [ "$active" = true ]; then
  pass "then /introspect (uncached client) 200 active:true, ${secs}s"
else
  fail "then /introspect (uncached client) 200 active:true" "$(describe) — $(body first-introspect | head -c 200)"
fi
userinfo userinfo-back "$at4"
if [ "$status" = 200 ]; then
  pass "then /userinfo 200, ${secs}s"
else
  fail "then /userinfo 200" "$(describe) — $(body userinfo-back | head -c 200)"
fi

# --- 4. nothing acknowledged was lost ----------------------------------------------------------
echo "== 4. nothing the server acknowledged is lost"
# This check is about durability, not recovery (check 3): give the server up to 5 s to be ready.
waited=$(now)
for _ in $(seq 1 25); do
  call ready-again GET /readyz
  [ "$status" = 200 ] && break
  sleep 0.2
done
if [ "$status" = 200 ]; then
  echo "   /readyz 200 again after $(elapsed "$waited") s"
else
  echo "   note: /readyz still HTTP $status after $(elapsed "$waited") s: $(body ready-again | head -c 200)"
fi
# What Postgres itself holds, whatever the server manages to read.
in_pg() { psql -h 127.0.0.1 -p "$pg_port" -U postgres -d gatehouse -tAc "$1" 2>&1; }
names="'$(IFS=,; echo "${registered[*]},$user" | sed "s/,/','/g")'"
count=$(in_pg "SELECT count(*) FROM users WHERE username IN ($names)")
if [ "$count" = $((${#registered[@]} + 1)) ]; then
  pass "in Postgres: all $count users created before the outages are stored"
else
  fail "in Postgres: all $((${#registered[@]} + 1)) users created before the outages are stored" "found: $count"
fi
count=$(in_pg "SELECT count(*) FROM clients WHERE client_id IN ('$rp_id','$cc_id','$rs_id','$cold_rp_id')")
if [ "$count" = 4 ]; then
  pass "in Postgres: all 4 clients created before the outages are stored"
else
  fail "in Postgres: all 4 clients created before the outages are stored" "found: $count"
fi
for name in "${registered[@]}" "$user"; do
  n="${name#early}"
  pw="early user $n passphrase"
  [ "$name" = "$user" ] && pw="$password"
  call "login-$name" POST /login "${form[@]}" -H "Cookie: gh_csrf=$csrf_cookie" \
    --data-urlencode "username=$name" --data-urlencode "password=$pw" \
    --data-urlencode "csrf_token=$csrf_form" --data "return_to="
  if [ "$status" = 303 ] && grep -qi '^set-cookie: gh_session=' "$resp/login-$name.hdr"; then
    pass "user $name (created before the outages) signs in"
  else
    fail "user $name (created before the outages) signs in" "$(describe) — $(body "login-$name" | grep -o '<title>[^<]*' | head -n1)"
  fi
done
for pair in "rp:$rp_id:$rp_secret" "cold machine client:$cc_id:$cc_secret" \
  "cold resource server:$rs_id:$rs_secret"; do
  IFS=: read -r label id secret <<<"$pair"
  name="still-$RANDOM"
  cc_token "$name" "$id" "$secret"
  if [ -n "$token" ]; then
    pass "client $label (created before the outages) gets a token"
  else
    fail "client $label (created before the outages) gets a token" "$(describe) — $(body "$name" | head -c 120)"
  fi
done
call authorize-cold-back GET "$(authorize_path "$cold_rp_id")" -H "Cookie: gh_session=$session2"
if [ "$status" = 302 ] && [[ "$location" == "$redirect?"*code=* ]]; then
  pass "client cold RP (created before the outages) gets a code at /authorize"
else
  fail "client cold RP (created before the outages) gets a code at /authorize" \
    "$(describe)${location:+ Location: $location} — $(body authorize-cold-back | grep -o '<title>[^<]*' | head -n1)"
fi
expect_inactive "after both restarts: access token revoked before the Redis restart" "$at1" userinfo
expect_inactive "after both restarts: client_credentials token revoked before the Redis restart" "$cc1"
expect_inactive "after both restarts: access token of the grant replayed before the Redis restart" "$at2b" userinfo
expect_inactive "after both restarts: access token revoked just before the Postgres stop" "$at5" userinfo
expect_inactive "after both restarts: client_credentials token revoked just before the Postgres stop" "$cc5"

# --- 5. Postgres restart under load -------------------------------------------------------------
echo "== 5. Postgres restarted mid-load: 503s while it is down, then service again, nothing lost"
load_out="$work/load.txt"
load_started=$(now)
python3 "$here/oidc.py" load "$base" 14 4 "$cc_id" "$cc_secret" "$load_out" &
loader=$!
rest_since "$load_started" 3
pg_ctl_ -m fast -w stop >/dev/null || die "pg_ctl stop (check 5) failed"
stopped_at=$(elapsed "$load_started")
rest_since "$load_started" 7
start_postgres || die "Postgres did not restart (check 5)"
back_at=$(elapsed "$load_started")
wait "$loader" || die "the load generator failed"
echo "   Postgres stopped at ${stopped_at}s, accepting connections again at ${back_at}s"
read -r answers bad first_ok_after < <(awk -v back="$back_at" '
  { n++ }
  $2 != "200" && $2 != "201" && $2 != "503" { bad++; if (!shown++) print "   unexpected: " $0 > "/dev/stderr" }
  $3 == "register" && $2 == "201" && $1 >= back && first == "" { first = $1 - back }
  END { printf "%d %d %s\n", n, bad + 0, (first == "" ? "never" : sprintf("%.1f", first)) }' "$load_out")
outage_503=$(awk '$2 == "503"' "$load_out" | wc -l)
if [ "$bad" = 0 ] && [ "$answers" -gt 0 ]; then
  pass "under load: $answers answers, every one 200, 201 or 503 ($outage_503 × 503 during the outage)"
else
  fail "under load: every answer 200, 201 or 503" "$bad of $answers were something else"
fi
if [ "$outage_503" -gt 0 ]; then
  pass "under load: requests that needed Postgres while it was down got 503"
else
  fail "under load: requests that needed Postgres while it was down got 503" "none did: did the stop happen?"
fi
if [ "$first_ok_after" != never ] && awk -v s="$first_ok_after" 'BEGIN { exit !(s <= 3) }'; then
  pass "under load: registrations (writes) succeed again ${first_ok_after}s after Postgres accepted connections"
else
  fail "under load: registrations (writes) succeed again within 3 s of Postgres accepting connections" "first 201: $first_ok_after"
fi
late=$(awk -v back="$back_at" '$1 >= back + 3 && $2 != "200" && $2 != "201"' "$load_out" | wc -l)
if [ "$late" = 0 ]; then
  pass "under load: no failure from 3 s after the restart to the end of the load"
else
  fail "under load: no failure from 3 s after the restart to the end of the load" "$late failures"
fi
if kill -0 "$server" 2>/dev/null; then
  pass "under load: the same server process served before, during and after (no restart)"
else
  fail "under load: the same server process served before, during and after (no restart)" "it exited"
fi
acked=$(awk '$3 == "register" && $2 == "201" { print $4 }' "$load_out" | sort -u)
acked_count=$(grep -c . <<<"$acked" || true)
stored=$(psql -h 127.0.0.1 -p "$pg_port" -U postgres -d gatehouse -Atc \
  "SELECT username FROM users WHERE username LIKE 'load%'" | sort -u)
missing_users=$(comm -23 <(echo "$acked") <(echo "$stored") | grep -c . || true)
if [ "$acked_count" -gt 0 ] && [ "$missing_users" = 0 ]; then
  pass "under load: all $acked_count registrations answered 201 are in Postgres"
else
  fail "under load: every registration answered 201 is in Postgres" "$missing_users of $acked_count missing"
fi

if [ "$failed" -gt 0 ]; then
  echo "--- last server log lines" >&2
  tail -n 25 "$work/server.log" >&2
fi
echo "   total $(elapsed "$started") s"
summary
[ "$failed" = 0 ]
