#!/usr/bin/env bash
# Runs the Python relying party against a real `gatehouse` binary started on a scratch SQLite
# database, with the user and client created through the CLI as an operator would.
# usage: tests/rp-python/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# With TEST_DATABASE_URL (a Postgres server URL) and TEST_REDIS_URL set, it runs on a scratch
# Postgres database and a unique Redis key prefix, removing both afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/target/debug/gatehouse}"
work="$(mktemp -d)"
venv="${GATEHOUSE_RP_VENV:-$root/target/rp-venv}"
db_name=""
prefix="gh_rp_$$_$RANDOM:"
cleanup() {
  kill "${server:-0}" 2>/dev/null || true
  wait "${server:-0}" 2>/dev/null || true
  if [ -n "$db_name" ]; then
    psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "${TEST_REDIS_URL:-}" ]; then
    redis-cli -u "$TEST_REDIS_URL" --scan --pattern "${prefix}*" | xargs -r redis-cli -u "$TEST_REDIS_URL" del >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q authlib requests
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GATEHOUSE__SERVER__LISTEN="127.0.0.1:$port"
export GATEHOUSE__SERVER__ISSUER="http://127.0.0.1:$port"
if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
  db_name="gh_rp_$$_$RANDOM"
  psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db_name" >/dev/null
  export GATEHOUSE__DATABASE__URL="${TEST_DATABASE_URL%/*}/$db_name"
  export GATEHOUSE__SESSIONS__REDIS_URL="$TEST_REDIS_URL"
  export GATEHOUSE__SESSIONS__KEY_PREFIX="$prefix"
  echo "relying-party check on Postgres + Redis"
else
  export GATEHOUSE__DATABASE__URL="sqlite://$work/gatehouse.db"
  echo "relying-party check on SQLite + in-process store"
fi
export GATEHOUSE__KEYS__MASTER_KEY_FILE="$work/master.key"
export GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD="rp-test admin password"

echo 'rp test passphrase' | "$bin" user create --username rpuser --email rpuser@example.com >/dev/null
client=$("$bin" client create --name "Python RP" --redirect-uri http://rp.example.test/callback \
  --post-logout-redirect-uri http://rp.example.test/bye --json)
client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
client_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")

"$bin" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

if ! "$venv/bin/python" "$root/tests/rp-python/rp_flow.py" "http://127.0.0.1:$port" \
    "$client_id" "$client_secret" rpuser 'rp test passphrase'; then
  echo "--- server log" >&2
  tail -n 50 "$work/server.log" >&2
  exit 1
fi
