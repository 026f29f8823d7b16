# Sourced by the scripts that test a real `gatehouse` binary (tests/rp-python, tests/schemathesis):
# a scratch backend, a free port, and a server started on them, all removed on exit.
#
#   source "$root/tests/scratch-server.sh"
#   scratch_backend TAG "what runs"   # sets $work, $port and the GATEHOUSE__* variables
#   ... create users and clients with "$bin" ...
#   scratch_serve                      # starts "$bin" serve (log in $work/server.log), waits for /readyz
#
# Without TEST_DATABASE_URL and TEST_REDIS_URL it uses a SQLite file and the in-process store; with
# both it creates a Postgres database and a unique Redis key prefix, and drops both on exit.

work="$(mktemp -d)"
db_name=""
prefix=""
server=""

scratch_cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "$db_name" ]; then
    psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$prefix" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
    redis-cli -u "$TEST_REDIS_URL" --scan --pattern "${prefix}*" | xargs -r redis-cli -u "$TEST_REDIS_URL" del >/dev/null || true
  fi
  rm -rf "$work"
}
trap scratch_cleanup EXIT

# scratch_backend TAG WHAT: TAG names the scratch database and key prefix, WHAT the run in the log.
scratch_backend() {
  local tag="$1" what="$2"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export GATEHOUSE__SERVER__LISTEN="127.0.0.1:$port"
  export GATEHOUSE__SERVER__ISSUER="http://127.0.0.1:$port"
  if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
    db_name="gh_${tag}_$$_$RANDOM"
    prefix="gh_${tag}_$$_$RANDOM:"
    psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db_name" >/dev/null
    export GATEHOUSE__DATABASE__URL="${TEST_DATABASE_URL%/*}/$db_name"
    export GATEHOUSE__SESSIONS__REDIS_URL="$TEST_REDIS_URL"
    export GATEHOUSE__SESSIONS__KEY_PREFIX="$prefix"
    echo "$what on Postgres + Redis"
  else
    export GATEHOUSE__DATABASE__URL="sqlite://$work/gatehouse.db"
    echo "$what on SQLite + in-process store"
  fi
  export GATEHOUSE__KEYS__MASTER_KEY_FILE="$work/master.key"
  export GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="scratch admin password"
}

scratch_serve() {
  "$bin" serve >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the server did not become ready; its log:" >&2
  tail -n 50 "$work/server.log" >&2
  return 1
}
