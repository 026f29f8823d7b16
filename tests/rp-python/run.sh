#!/usr/bin/env bash
# Runs the Python relying party against a real `gatehouse` binary started on a scratch SQLite
# database, with the users and client created through the CLI as an operator would: `rpuser`
# signs in with a password only, `rptotp` enrols TOTP through the account pages first and signs
# in with a password and a TOTP code, then with a recovery code (see rp_flow.py).
# usage: tests/rp-python/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# With TEST_DATABASE_URL (a Postgres server URL) and TEST_REDIS_URL set, it runs on a scratch
# Postgres database and a unique Redis key prefix, removing both afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/target/debug/gatehouse}"
venv="${GATEHOUSE_RP_VENV:-$root/target/rp-venv}"
# shellcheck source=../scratch-server.sh
source "$root/tests/scratch-server.sh"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q authlib requests
fi

scratch_backend rp "relying-party check"

echo 'rp test passphrase' | "$bin" user create --username rpuser --email rpuser@example.com >/dev/null
echo 'rp totp passphrase' | "$bin" user create --username rptotp --email rptotp@example.com >/dev/null
client=$("$bin" client create --name "Python RP" --redirect-uri http://rp.example.test/callback \
  --post-logout-redirect-uri http://rp.example.test/bye --json)
client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
client_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")
# A service account and a user with a narrower role, spelled as operators' scripts spell them.
svc=$("$bin" client create --name "Ops bot" --grant client_credentials --scope admin --role admin --json)
svc_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$svc")
svc_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$svc")
echo 'rp user admin passphrase' |
  "$bin" user create --username rpuseradmin --email rpuseradmin@example.com --role user_admin >/dev/null

# rp_flow.py spends five wrong codes on one pending sign-in from one address to check that the
# fifth ends it; the brute-force delay (after 3 failures from one address, tested in
# tests/tests/e2e/brute_force.rs) would answer the fourth with 429 first.
export GATEHOUSE__LOCKOUT__DELAY_AFTER=10
scratch_serve

if ! "$venv/bin/python" "$root/tests/rp-python/rp_flow.py" "http://127.0.0.1:$port" \
    "$client_id" "$client_secret" rpuser 'rp test passphrase' rptotp 'rp totp passphrase'; then
  echo "--- server log" >&2
  tail -n 50 "$work/server.log" >&2
  exit 1
fi

# The service account reads the admin API with a client_credentials token (scope admin).
base="http://127.0.0.1:$port"
svc_token=$(curl -fsS -u "$svc_id:$svc_secret" -d grant_type=client_credentials -d scope=admin \
  "$base/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
listed=$(curl -fsS -H "Authorization: Bearer $svc_token" "$base/api/v1/admin/users?search=rpuserad")
if ! python3 -c '
import json, sys
page = json.loads(sys.argv[1])
assert page["total"] == 1, page
assert page["items"][0]["username"] == "rpuseradmin", page
assert page["items"][0]["roles"] == ["user_admin"], page
' "$listed"; then
  echo "admin API through a CLI-made service account: unexpected answer: $listed" >&2
  exit 1
fi
echo "service account (client create --role admin) lists users with roles: ok"
