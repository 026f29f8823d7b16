#!/usr/bin/env bash
# Load benchmark: a release `gatehouse` pinned to one core, driven by wrk from another core.
#
# usage: tests/load/run.sh [--smoke] [--duration SECS] [--backend embedded|postgres|all]
#                          [--connections N] [--bin PATH] [--only GROUP]...
#   --smoke      2 s per scenario (what CI runs); default 10 s
#   --backend    embedded = SQLite + in-process store; postgres = Postgres + Redis; default all
#   --bin        use this binary instead of building target/release/gatehouse
#   --only       run only this group of scenarios (repeatable): core (discovery, JWKS,
#                client_credentials, refresh, introspection, userinfo, code flow, login), totp,
#                storm, admin_search, device_poll, token_exchange, pages; default all. The
#                reference rates, the idle RSS and the seeding of the core user always run.
# env: LOAD_PG_URL (default postgres://postgres@127.0.0.1:5432), LOAD_REDIS_URL
#      (default redis://127.0.0.1:6379), SERVER_CORE (1), CLIENT_CORE (0).
#
# Prints one table: per backend and scenario the rate, p50, p99 and errors (responses >= 400 plus
# socket errors and timeouts), with the reference rates measured on the server's core in the same
# run (openssl ES256 sign/verify, raw argon2id) and the target each figure is held to.
# Exits 1 if any scenario had errors or the setup failed; missed targets are reported, not fatal
# (a shared 2-core VM is too noisy for a CI gate on throughput).
# The TOTP login scenario (password, then a code) is driven by totp.py rather than wrk: each user
# can complete one TOTP login per 30 s step (replay protection), so it first seeds about
# argon2id rate x duration x 1.4 + connections users with TOTP, through the registration API
# and the account pages (two argon2id operations each on the server: about 7 s per backend in
# --smoke, half a minute at 10 s per scenario).
# The admin search scenario (GET /api/v1/admin/users?search=, lua/admin_search.lua) first writes
# ADMIN_SEARCH_USERS users (default 100,000, --smoke too: about 1 s on SQLite, 2 s on Postgres)
# straight into the database with seed_users.py, and signs in as a service account
# (`gatehouse client create ... --grant client_credentials --scope admin --role admin`).
# The device polling scenario (lua/device_poll.lua) starts DEVICE_POLL_CODES (default 128) device
# authorizations for a public device client and polls them round robin; their 400s
# (authorization_pending, slow_down) are expected answers, not errors.
# The token exchange scenario (lua/token_exchange.lua, RFC 8693) registers a first-party chatbot
# (`gatehouse client create ... --grant urn:ietf:params:oauth:grant-type:token-exchange
# --exchange-audience URI`), gets the load user's access token for it and its own
# client_credentials token (seed.py exchange), and exchanges them again and again: a delegation
# to the API, with `act`, each one audited.
# Introspection runs twice: one hot user token, and INTROSPECT_TOKENS (default 10,000) distinct
# client_credentials tokens (seed.py tokens, lua/introspect_many.lua). A second table gives each
# hot scenario's cost per request, floor, cryptography and overhead against its budget (report.py).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/load"
duration=10
backends="embedded postgres"
conns=32
bin=""
only=""
groups="core totp storm admin_search device_poll token_exchange pages"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) duration=2 ;;
    --duration) duration="$2"; shift ;;
    --backend) case "$2" in all) backends="embedded postgres" ;; *) backends="$2" ;; esac; shift ;;
    --connections) conns="$2"; shift ;;
    --bin) bin="$2"; shift ;;
    --only)
      case " $groups " in *" $2 "*) only="$only $2" ;; *) echo "--only: one of: $groups" >&2; exit 2 ;; esac
      shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
pg_url="${LOAD_PG_URL:-postgres://postgres@127.0.0.1:5432}"
redis_url="${LOAD_REDIS_URL:-redis://127.0.0.1:6379}"
server_core="${SERVER_CORE:-1}"
client_core="${CLIENT_CORE:-0}"
admin_search_users="${ADMIN_SEARCH_USERS:-100000}"
if [ "$(nproc --all)" -lt 2 ]; then
  echo "warning: one core only; server and wrk share it, figures are not comparable" >&2
  server_core=0 client_core=0
fi

# --- tools -------------------------------------------------------------------------------------
need() { # command package
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2 (for $1)" >&2
  if ! apt-get install -y -q "$2" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    apt-get install -y -q "$2" >/dev/null
  fi
}
need wrk wrk
need taskset util-linux
need curl curl
need openssl openssl
need python3 python3
case " $backends " in *" postgres "*) need psql postgresql-client; need redis-cli redis-tools ;; esac

if [ -z "$bin" ]; then
  echo "building the release binary" >&2
  (cd "$root" && cargo build --release -q -p gatehouse-server)
  bin="$root/target/release/gatehouse"
fi
tools_target="$root/target/load-tools"
argon2_rate="$tools_target/release/argon2-rate"
CARGO_TARGET_DIR="$tools_target" cargo build --release -q --offline \
  --manifest-path "$here/argon2-rate/Cargo.toml" 2>/dev/null ||
  CARGO_TARGET_DIR="$tools_target" cargo build --release -q --manifest-path "$here/argon2-rate/Cargo.toml"

work="$(mktemp -d)"
server=""
pg_db=""
redis_prefix=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then
    psql -q "$pg_url/postgres" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$redis_prefix" ]; then
    redis-cli -u "$redis_url" --scan --pattern "${redis_prefix}*" |
      xargs -r -n 500 redis-cli -u "$redis_url" DEL >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
results="$work/results.tsv"
: >"$results"
record() { # backend scenario requests_per_sec p50_us p99_us errors [requests]
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "${7:-}" >>"$results"
}

# --- reference rates on the server's core ------------------------------------------------------
ossl_secs=3
[ "$duration" -lt 5 ] && ossl_secs=1
echo "measuring ES256 sign/verify (openssl speed, core $server_core)" >&2
speed=$(taskset -c "$server_core" openssl speed -seconds "$ossl_secs" ecdsap256 2>/dev/null | grep 'nistp256')
es256_sign=$(awk '{print $(NF-1)}' <<<"$speed")
es256_verify=$(awk '{print $NF}' <<<"$speed")
echo "measuring raw argon2id verify (tests/load/argon2-rate, core $server_core)" >&2
argon2_secs=$((duration < 5 ? 2 : 5))
argon2_per_sec=$(taskset -c "$server_core" "$argon2_rate" 19456 2 1 "$argon2_secs" | sed 's/.*=//')
record reference "ES256 sign (openssl speed)" "$es256_sign" "" "" ""
record reference "ES256 verify (openssl speed)" "$es256_verify" "" "" ""
# The code flow's RS256 ID token (clients that register no id_token_signed_response_alg).
echo "measuring RSA-2048 sign (openssl speed, core $server_core)" >&2
rsa_sign=$(taskset -c "$server_core" openssl speed -seconds "$ossl_secs" rsa2048 2>/dev/null |
  awk '$1 == "rsa" && $2 == "2048" {print $(NF-1)}')
record reference "RSA-2048 sign (openssl speed)" "$rsa_sign" "" "" ""
record reference "argon2id verify m=19456 t=2 p=1 (argon2 0.6)" "$argon2_per_sec" "" "" ""

# --- one backend -------------------------------------------------------------------------------
# wanted GROUP: whether --only selected it (everything without --only).
wanted() { [ -z "$only" ] || case " $only " in *" $1 "*) true ;; *) false ;; esac; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wrk_run NAME SCRIPT [VAR=value ...]: runs wrk with common.lua + SCRIPT; prints the RESULT line.
wrk_run() {
  local script="$work/$1.lua"
  cat "$here/lua/common.lua" >"$script"
  [ "$2" = refresh ] && cat "$work/refresh_tokens.lua" >>"$script"
  [ "$2" = introspect_many ] && cat "$work/introspect_tokens.lua" >>"$script"
  cat "$here/lua/$2.lua" >>"$script"
  shift 2
  local out
  out=$(env "$@" taskset -c "$client_core" wrk -t1 -c"$conns" -d"${duration}s" --latency \
    --timeout 10s -s "$script" "$base" -- 1 2>&1) || { echo "$out" >&2; return 1; }
  grep '^RESULT' <<<"$out" || { echo "$out" >&2; return 1; }
}

# scenario BACKEND NAME SCRIPT [VAR=value ...]: runs and records one scenario.
scenario() {
  local backend="$1" name="$2"
  shift 2
  echo "  $name" >&2
  local line
  line=$(wrk_run "scenario-$RANDOM" "$@")
  record_line "$backend" "$name" "$line"
  echo "    server RSS now $(($(rss "$server" VmRSS) / 1024)) MB" >&2
}

record_line() { # backend name RESULT-line (the 7th column, requests, is for report.py's costs)
  local requests duration_us p50 p99 status socket flows rate
  eval "$(sed 's/^RESULT //; s/\([a-z_0-9]*\)=/local_\1=/g' <<<"$3")"
  # shellcheck disable=SC2154 # set by the eval above
  requests=$local_requests duration_us=$local_duration_us p50=$local_p50_us p99=$local_p99_us
  # shellcheck disable=SC2154
  status=$local_status_errors socket=$local_socket_errors flows=$local_flows
  [ "$flows" -gt 0 ] && requests=$flows
  rate=$(python3 -c "print(f'{$requests / ($duration_us / 1e6):.1f}')")
  record "$1" "$2" "$rate" "$p50" "$p99" "$((status + socket))" "$requests"
}

rss() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

run_backend() {
  local backend="$1"
  echo "== $backend" >&2
  local port
  port=$(free_port)
  base="http://127.0.0.1:$port"
  export GATEHOUSE__SERVER__LISTEN="127.0.0.1:$port"
  export GATEHOUSE__SERVER__ISSUER="$base"
  export GATEHOUSE__SERVER__WORKERS=1
  export GATEHOUSE__PASSWORDS__MAX_CONCURRENT=1
  export GATEHOUSE__KEYS__MASTER_KEY_FILE="$work/$backend-master.key"
  export GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="load-test admin password"
  # One client IP drives ~60 logins/s and seeds hundreds of users: far above the per-IP
  # defaults of [rate_limits], which stay on (their cost is part of the figures) but raised.
  export GATEHOUSE__RATE_LIMITS__LOGIN_PER_IP__LIMIT=100000000
  export GATEHOUSE__RATE_LIMITS__SECOND_FACTOR_PER_IP__LIMIT=100000000
  export GATEHOUSE__RATE_LIMITS__REGISTRATION_PER_IP__LIMIT=100000000
  export GATEHOUSE__RATE_LIMITS__PASSWORD_RESET_PER_IP__LIMIT=100000000
  export GATEHOUSE__RATE_LIMITS__PASSWORD_RESET_PER_ACCOUNT__LIMIT=100000000
  # One client and one IP drive ~18,000 token and ~10,000 introspection requests/s; these
  # limits are counted in memory and flushed to the store per 1% of the limit.
  export GATEHOUSE__RATE_LIMITS__TOKEN_PER_CLIENT__LIMIT=100000000
  export GATEHOUSE__RATE_LIMITS__TOKEN_PER_IP__LIMIT=100000000
  export GATEHOUSE__RATE_LIMITS__INTROSPECT_PER_CLIENT__LIMIT=100000000
  # Reset and verification mails go to files in the scratch directory.
  export GATEHOUSE__EMAIL__TRANSPORT=file
  export GATEHOUSE__EMAIL__FILE_DIR="$work/mail-$backend"
  # Failed logins would lock the account mid-run; all load logins use the right password.
  if [ "$backend" = postgres ]; then
    pg_db="gatehouse_load_$$_$RANDOM"
    redis_prefix="gatehouse-load-$$-$RANDOM:"
    psql -q "$pg_url/postgres" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
    redis-cli -u "$redis_url" PING >/dev/null
    export GATEHOUSE__DATABASE__URL="$pg_url/$pg_db"
    export GATEHOUSE__SESSIONS__REDIS_URL="$redis_url"
    export GATEHOUSE__SESSIONS__KEY_PREFIX="$redis_prefix"
  else
    export GATEHOUSE__DATABASE__URL="sqlite://$work/gatehouse.db"
    unset GATEHOUSE__SESSIONS__REDIS_URL GATEHOUSE__SESSIONS__KEY_PREFIX
  fi

  local password="load test passphrase"
  local redirect="http://load.example.test/callback"
  echo "$password" | "$bin" user create --username loaduser --email loaduser@example.com >/dev/null
  local client client_id client_secret
  client=$("$bin" client create --name "Load test" --redirect-uri "$redirect" \
    --grant authorization-code --grant refresh-token --grant client-credentials \
    --first-party --id-token-alg ES256 --json)
  client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
  client_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")
  local basic
  basic="Basic $(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"
  # The admin API's service account, as an operator's automation would make it.
  local admin_client admin_basic
  admin_client=$("$bin" client create --name "Load admin" --grant client_credentials \
    --scope admin --role admin --json)
  admin_basic="$(python3 -c 'import json,sys; c = json.load(sys.stdin)
print(c["client_id"] + ":" + c["client_secret"])' <<<"$admin_client" | tr -d '\n' | base64 -w0)"

  taskset -c "$server_core" "$bin" serve >"$work/server-$backend.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$base/readyz" >/dev/null || { tail -n 30 "$work/server-$backend.log" >&2; return 1; }
  sleep 0.5
  record "$backend" "RSS idle (VmRSS / VmHWM, MB)" \
    "$(($(rss "$server" VmRSS) / 1024)) / $(($(rss "$server" VmHWM) / 1024))" "" "" ""

  local seeded
  seeded=$(python3 "$here/seed.py" "$base" "$client_id" "$client_secret" loaduser "$password" \
    "$redirect" $((conns * 2)) "$work")
  local SESSION_COOKIE SESSION_HANDLE CSRF_COOKIE CSRF_TOKEN ACCESS_TOKEN UNUSED_CODE
  eval "$seeded"
  if [ "$backend" = postgres ]; then
    # A code is its grant id (16 bytes) and a MAC; the store key is the grant id.
    local code_grant
    code_grant=$(python3 -c 'import base64, sys
c = sys.argv[1]
raw = base64.urlsafe_b64decode(c + "=" * (-len(c) % 4))
print(base64.urlsafe_b64encode(raw[:16]).rstrip(b"=").decode())' "$UNUSED_CODE")
    record "$backend" "Redis bytes: one browser session" \
      "$(redis-cli -u "$redis_url" MEMORY USAGE "${redis_prefix}sess:$SESSION_HANDLE")" "" "" ""
    record "$backend" "Redis bytes: one authorization code" \
      "$(redis-cli -u "$redis_url" MEMORY USAGE "${redis_prefix}code:$code_grant")" "" "" ""
  fi

  local form=HEADER_1="Content-Type: application/x-www-form-urlencoded"
  local login_body="username=loaduser&password=$(sed 's/ /+/g' <<<"$password")&csrf_token=$CSRF_TOKEN"
  local login_args=(static METHOD=POST REQ_PATH=/login BODY="$login_body" "$form"
    HEADER_2="Cookie: gh_csrf=$CSRF_COOKIE")
  if wanted core; then
  scenario "$backend" "GET /.well-known/openid-configuration" static \
    REQ_PATH=/.well-known/openid-configuration
  scenario "$backend" "GET /jwks.json" static REQ_PATH=/jwks.json
  scenario "$backend" "POST /token client_credentials" static METHOD=POST REQ_PATH=/token \
    BODY=grant_type=client_credentials "$form" HEADER_2="Authorization: $basic"
  scenario "$backend" "POST /token refresh_token (rotation)" refresh BASIC_AUTH="$basic"
  scenario "$backend" "POST /introspect (user access token)" static METHOD=POST \
    REQ_PATH=/introspect BODY="token=$ACCESS_TOKEN" "$form" HEADER_2="Authorization: $basic"
  # The same scenario over INTROSPECT_TOKENS (default 10,000) distinct client_credentials
  # tokens, round robin: the first pass verifies each signature, later ones find it cached.
  echo "  seeding ${INTROSPECT_TOKENS:-10000} client_credentials tokens to introspect" >&2
  python3 "$here/seed.py" tokens "$base" "$client_id" "$client_secret" \
    "${INTROSPECT_TOKENS:-10000}" "$work/introspect_tokens.lua"
  scenario "$backend" "POST /introspect ($(python3 -c \
    "print(f'{${INTROSPECT_TOKENS:-10000}:,}')") distinct tokens)" introspect_many \
    BASIC_AUTH="$basic"
  scenario "$backend" "GET /userinfo" static REQ_PATH=/userinfo \
    HEADER_1="Authorization: Bearer $ACCESS_TOKEN"
  local authorize_path
  authorize_path="/authorize?response_type=code&client_id=$client_id&redirect_uri=$(python3 -c \
    'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$redirect")"
  authorize_path="$authorize_path&scope=openid%20profile%20email%20offline_access&state=s&nonce=n"
  scenario "$backend" "code flow: authorize + token (flows/s)" codeflow \
    AUTHORIZE_PATH="$authorize_path" SESSION_COOKIE="$SESSION_COOKIE" BASIC_AUTH="$basic" \
    REDIRECT_URI_ENC="$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$redirect")"
  # The same flow for a client that registered no ID token algorithm: an RS256 ID token.
  local rs_client rs_client_id rs_basic
  rs_client=$("$bin" client create --name "Load test RS256" --redirect-uri "$redirect" \
    --grant authorization-code --grant refresh-token --first-party --json)
  rs_client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$rs_client")
  rs_basic="Basic $(python3 -c 'import json,sys; c = json.load(sys.stdin)
print(c["client_id"] + ":" + c["client_secret"])' <<<"$rs_client" | tr -d '\n' | base64 -w0)"
  scenario "$backend" "code flow, RS256 ID token: authorize + token (flows/s)" codeflow \
    AUTHORIZE_PATH="${authorize_path/client_id=$client_id/client_id=$rs_client_id}" \
    SESSION_COOKIE="$SESSION_COOKIE" BASIC_AUTH="$rs_basic" \
    REDIRECT_URI_ENC="$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$redirect")"
  scenario "$backend" "POST /login (argon2id)" "${login_args[@]}"
  fi

  # TOTP logins: POST /login, then POST /login/second-factor with the user's code (totp.py). Each
  # user has at least one login left (the next step's code) and gains one per 30 s step, so seed
  # enough for the whole run at the argon2id rate (the ceiling: one verify per login), plus the
  # users in flight.
  local totp_users totp_file="$work/totp-users-$backend.jsonl" line
  if wanted totp; then
  totp_users=$(python3 -c "import math; print(math.ceil($argon2_per_sec * $duration * 1.4) + $conns)")
  echo "  seeding $totp_users TOTP users (register + sign in + enrol)" >&2
  taskset -c "$client_core" python3 "$here/totp.py" seed "$base" "$totp_users" 8 "$totp_file"
  echo "  TOTP login: password + code (logins/s)" >&2
  line=$(taskset -c "$client_core" python3 "$here/totp.py" run "$base" "$totp_file" "$conns" "$duration")
  record_line "$backend" "TOTP login: password + code (logins/s)" "$line"
  echo "    server RSS now $(($(rss "$server" VmRSS) / 1024)) MB" >&2
  fi

  # Login storm: the hashing pool saturated for the whole client_credentials run.
  if wanted storm; then
  echo "  login storm + client_credentials" >&2
  local storm_out="$work/storm-$backend.txt"
  (duration=$((duration + 2)) wrk_run storm-login "${login_args[@]}" >"$storm_out") &
  local storm=$!
  sleep 1
  line=$(wrk_run storm-cc static METHOD=POST REQ_PATH=/token BODY=grant_type=client_credentials \
    "$form" HEADER_2="Authorization: $basic")
  wait "$storm"
  record_line "$backend" "POST /token client_credentials DURING login storm" "$line"
  record_line "$backend" "POST /login (the storm itself)" "$(cat "$storm_out")"
  fi

  # Admin search over ADMIN_SEARCH_USERS users written straight into the database (seed_users.py
  # says why not through the API), with a client_credentials token of the service account.
  local dialect=sqlite seed_target="$work/gatehouse.db" seed seeded_users admin_token
  if wanted admin_search; then
  if [ "$backend" = postgres ]; then dialect=postgres seed_target="$pg_url/$pg_db"; fi
  echo "  seeding $admin_search_users users for the admin search (SQL)" >&2
  seed=$(python3 "$here/seed_users.py" "$dialect" "$seed_target" "$admin_search_users" loaduser)
  seeded_users=${seed%% *}
  echo "    $seeded_users users in ${seed#* } s" >&2
  admin_token=$(curl -fsS "$base/token" -H "Authorization: Basic $admin_basic" \
    -d grant_type=client_credentials -d scope=admin |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  # The figure means something only if the search finds the seeded users with exact totals.
  local found
  found=$(curl -fsS "$base/api/v1/admin/users?search=lily1&limit=1" \
    -H "Authorization: Bearer $admin_token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  echo "    search=lily1: total $found" >&2
  [ "$found" -gt 0 ] || { echo "admin search found no seeded user" >&2; return 1; }
  scenario "$backend" "GET /api/v1/admin/users?search= ($(python3 -c \
    "print(f'{$seeded_users:,}')") users)" admin_search ADMIN_TOKEN="$admin_token"
  fi

  # Device authorization polling (RFC 8628 §3.4): DEVICE_POLL_CODES pending device codes of a
  # public device client, polled round robin; every answer is authorization_pending or
  # slow_down, which lua/device_poll.lua counts as expected rather than as errors.
  local device_client device_client_id device_codes
  if wanted device_poll; then
  device_client=$("$bin" client create --name "Load device" --public \
    --grant urn:ietf:params:oauth:grant-type:device_code --scope openid --json)
  device_client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$device_client")
  device_codes=$(python3 - "$base" "$device_client_id" "${DEVICE_POLL_CODES:-128}" <<'PY'
import http.client, json, sys, urllib.parse
base, client_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
body = urllib.parse.urlencode({"client_id": client_id, "scope": "openid"})
codes = []
for _ in range(count):
    conn.request("POST", "/device_authorization", body,
                 {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        sys.exit(f"device authorization failed: {answer}")
    codes.append(answer["device_code"])
print(",".join(codes))
PY
)
  scenario "$backend" "POST /token device_code polling (pending)" device_poll \
    DEVICE_CODES="$device_codes" CLIENT_ID="$device_client_id"
  fi

  # Token exchange (RFC 8693 §2): the chatbot delegates loaduser's token to the API, with its
  # service account as actor (lua/token_exchange.lua).
  local chatbot chatbot_id chatbot_secret exchange_seed exchanged
  local api="https://api.load.example.test/" chatbot_scope="openid api:read"
  local SUBJECT_TOKEN ACTOR_TOKEN
  if wanted token_exchange; then
  chatbot=$("$bin" client create --name "Load chatbot" --redirect-uri "$redirect" --first-party \
    --grant authorization_code --grant client_credentials \
    --grant urn:ietf:params:oauth:grant-type:token-exchange --exchange-audience "$api" \
    --scope "$chatbot_scope" --json)
  chatbot_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$chatbot")
  chatbot_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$chatbot")
  exchange_seed=$(python3 "$here/seed.py" exchange "$base" "$chatbot_id" "$chatbot_secret" \
    loaduser "$password" "$redirect" "$chatbot_scope")
  eval "$exchange_seed"
  # The figure means something only if the answer is the delegated token.
  exchanged=$(curl -sS "$base/token" -u "$chatbot_id:$chatbot_secret" \
    -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    -d subject_token="$SUBJECT_TOKEN" -d actor_token="$ACTOR_TOKEN" \
    -d subject_token_type=urn:ietf:params:oauth:token-type:access_token \
    -d actor_token_type=urn:ietf:params:oauth:token-type:access_token \
    --data-urlencode audience="$api" -d scope=api:read)
  python3 -c 'import base64, json, sys
answer = json.loads(sys.argv[2])
if answer.get("issued_token_type") != "urn:ietf:params:oauth:token-type:access_token":
    sys.exit(f"token exchange failed: {answer}")
part = answer["access_token"].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
if claims.get("act") != {"sub": sys.argv[1]}:
    sys.exit(f"exchanged token without the actor: {claims}")' "$chatbot_id" "$exchanged" || return 1
  scenario "$backend" "POST /token token-exchange (delegation)" token_exchange \
    SUBJECT_TOKEN="$SUBJECT_TOKEN" ACTOR_TOKEN="$ACTOR_TOKEN" AUDIENCE="$api" SCOPE=api:read \
    BASIC_AUTH="Basic $(printf '%s:%s' "$chatbot_id" "$chatbot_secret" | base64 -w0)"
  fi

  # Sign-up and reset pages, and the reset request API. Last, so that the reset requests the
  # server carries out in the background (a write and a queued mail each, as long as its bounded
  # queue has room) cannot weigh on the figures above.
  if wanted pages; then
  scenario "$backend" "GET /register (sign-up page)" static REQ_PATH=/register
  scenario "$backend" "POST /api/v1/password-resets (known address, 202)" static METHOD=POST \
    REQ_PATH=/api/v1/password-resets BODY='{"email":"loaduser@example.com"}' \
    HEADER_1="Content-Type: application/json"
  fi

  record "$backend" "RSS after load (VmRSS / VmHWM, MB)" \
    "$(($(rss "$server" VmRSS) / 1024)) / $(($(rss "$server" VmHWM) / 1024))" "" "" ""
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=""
  if grep -q ' ERROR ' "$work/server-$backend.log"; then
    echo "server logged errors:" >&2
    grep ' ERROR ' "$work/server-$backend.log" | tail -n 5 >&2
  fi
  if [ "$backend" = postgres ]; then
    psql -q "$pg_url/postgres" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null
    pg_db=""
    redis-cli -u "$redis_url" --scan --pattern "${redis_prefix}*" |
      xargs -r -n 500 redis-cli -u "$redis_url" DEL >/dev/null
    redis_prefix=""
  fi
}

for backend in $backends; do
  run_backend "$backend"
done

echo
echo "gatehouse load: $(date -u +%Y-%m-%dT%H:%MZ), ${duration} s per scenario, wrk -t1 -c$conns" \
  "on core $client_core, server on core $server_core (workers=1, argon2 slots=1)," \
  "$(nproc --all) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 "$here/report.py" "$results"
