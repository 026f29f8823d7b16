#!/usr/bin/env bash
# The chatbot story (examples/chatbot/README.md), run non-interactively against a real `gatehouse`
# binary on a scratch backend: the operator's setup with the CLI, the API (resource_server.py),
# the chatbot (chatbot.py) in the background, and the chat user allowing the device code through
# Gatehouse's real login and device pages (tests/python/device_pages.py). Then the checks of
# tests/python/chatbot_example_check.py (the chatbot's output, the API's log, tokens the API must
# refuse) and the token-exchange check with an unmodified client library
# (tests/python/token_exchange_client.py, requests-oauth2client). Exits non-zero on any failure.
# usage: examples/chatbot/run-ci.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# With TEST_DATABASE_URL (a Postgres server URL) and TEST_REDIS_URL set, it runs on a scratch
# Postgres database and a unique Redis key prefix, removing both afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/debug/gatehouse}"
venv="${GATEHOUSE_CHATBOT_VENV:-$root/target/chatbot-venv}"
# shellcheck source=../../tests/scratch-server.sh
source "$root/tests/scratch-server.sh"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Pinned versions; a no-op once they are installed.
"$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/python/requirements.txt"
python="$venv/bin/python"
# No __pycache__ beside the scripts in the work tree.
export PYTHONDONTWRITEBYTECODE=1

api=""
bot=""
chatbot_cleanup() {
  for pid in $bot $api; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  scratch_cleanup
}
trap chatbot_cleanup EXIT

shown=""
fail() {
  echo "chatbot example: $1" >&2
  for log in chatbot.out api.log server.log; do
    if [ -f "$work/$log" ] && [[ " $shown " != *" $log "* ]]; then
      echo "--- $log" >&2
      tail -n 40 "$work/$log" >&2
    fi
  done
  exit 1
}

scratch_backend chatbot "chatbot example"
base="http://127.0.0.1:$port"
api_id="https://api.example.test/"

# The operator's setup (README.md): a chat user, and the bot's client. The bot links users with
# the device flow, keeps the link with a refresh token, gets its own token (the actor) with
# client credentials, and may exchange tokens for the API's identifier only.
echo 'chat user passphrase' |
  "$bin" user create --username chatuser --email chatuser@example.com >"$work/user.out"
user_id=$(sed -n 's/^created user chatuser (\(.*\))$/\1/p' "$work/user.out")
[ -n "$user_id" ] || fail "no user id in: $(cat "$work/user.out")"
client=$("$bin" client create --name "Chat bot" \
  --grant urn:ietf:params:oauth:grant-type:device_code \
  --grant refresh_token \
  --grant client_credentials \
  --grant urn:ietf:params:oauth:grant-type:token-exchange \
  --exchange-audience "$api_id" \
  --scope "openid profile offline_access" \
  --json)
client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
client_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")

scratch_serve

: >"$work/api.log"
: >"$work/chatbot.out"
api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$python" "$here/resource_server.py" --issuer "$base" --identifier "$api_id" --port "$api_port" \
  >"$work/api.log" 2>&1 &
api=$!
for _ in $(seq 1 50); do
  grep -q "listening" "$work/api.log" && break
  kill -0 "$api" 2>/dev/null || fail "the API did not start"
  sleep 0.2
done
grep -q "listening" "$work/api.log" || fail "the API did not start listening"

CHATBOT_CLIENT_SECRET="$client_secret" "$python" "$here/chatbot.py" --issuer "$base" \
  --client-id "$client_id" --api "http://127.0.0.1:$api_port/" --audience "$api_id" \
  >"$work/chatbot.out" 2>&1 &
bot=$!
link=""
for _ in $(seq 1 50); do
  link=$(sed -n 's/^ *verification_uri_complete: //p' "$work/chatbot.out")
  [ -n "$link" ] && break
  kill -0 "$bot" 2>/dev/null || fail "the chatbot stopped before showing a code"
  sleep 0.2
done
[ -n "$link" ] || fail "the chatbot showed no link"

# The chat user opens the link, signs in and allows the request.
"$python" "$root/tests/python/device_pages.py" "$base" chatuser 'chat user passphrase' "$link" approve ||
  fail "approving the device code through the pages failed"

for _ in $(seq 1 300); do
  kill -0 "$bot" 2>/dev/null || break
  sleep 0.2
done
kill -0 "$bot" 2>/dev/null && fail "the chatbot did not finish within 60 s"
status=0
wait "$bot" || status=$?
bot=""
echo "--- the chatbot's output"
cat "$work/chatbot.out"
echo "--- the API's log"
cat "$work/api.log"
echo "---"
shown="chatbot.out api.log"
[ "$status" -eq 0 ] || fail "the chatbot exited with status $status"

"$python" "$root/tests/python/chatbot_example_check.py" "$base" "$client_id" "$client_secret" \
  "$user_id" "http://127.0.0.1:$api_port/" "$api_id" "$work/chatbot.out" "$work/api.log" ||
  fail "the checks of the chatbot's run failed"

"$python" "$root/tests/python/token_exchange_client.py" "$base" "$client_id" "$client_secret" \
  chatuser 'chat user passphrase' "$user_id" "$api_id" ||
  fail "the token exchange through requests-oauth2client failed"

echo "chatbot example: ok"
