#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with Schemathesis: a real `gatehouse`
# binary on a scratch SQLite database, requests generated from /api/v1/openapi.json, both data
# the schema admits (which must be accepted: 2xx, or 409 for a duplicate) and data it refuses
# (which must be refused with a documented 4xx). Fails on any 5xx, any response that breaks the
# schema (status, content type, headers, body), any schema-valid request refused as invalid, and
# any ERROR the server logged while being fuzzed.
# Requests carry the bearer token of an `admin` service account (made with the CLI, as operators
# make one), so the admin API is fuzzed for real; the account API, which needs a user's token with
# the `account` scope, answers it 403 insufficient_scope. hooks.py keeps the fuzzer from
# deleting, disabling or editing that service account, and the run fails if the token stops
# working anyway.
# usage: tests/schemathesis/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# With TEST_DATABASE_URL (a Postgres server URL) and TEST_REDIS_URL set, it runs on a scratch
# Postgres database and a unique Redis key prefix, removing both afterwards.
# SCHEMATHESIS_SEED reproduces a run (each run prints its seed); SCHEMATHESIS_MAX_EXAMPLES sets
# how many cases each phase draws (default 300: well under two minutes).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/target/debug/gatehouse}"
venv="${GATEHOUSE_SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}"
requirements="$root/tests/schemathesis/requirements.txt"
seed="${SCHEMATHESIS_SEED:-$RANDOM$RANDOM}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-300}"
# shellcheck source=../scratch-server.sh
source "$root/tests/scratch-server.sh"

# The venv is (re)built when the pinned requirements change.
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

scratch_backend st "schemathesis"
# Every accepted registration hashes a password: the cheapest cost Argon2 allows keeps the run
# about the API, not about hashing.
export GATEHOUSE__PASSWORDS__MEMORY_KIB=256
export GATEHOUSE__PASSWORDS__ITERATIONS=1
# The reset limits (30 per IP, 5 per address in 15 minutes) would answer nearly every generated
# reset request 429, leaving the logic behind them unfuzzed.
export GATEHOUSE__RATE_LIMITS__PASSWORD_RESET_PER_IP__LIMIT=100000
export GATEHOUSE__RATE_LIMITS__PASSWORD_RESET_PER_ACCOUNT__LIMIT=100000
# Mail to the generated addresses goes to the scratch directory, not into the source tree.
export GATEHOUSE__EMAIL__FILE_DIR="$work/mail"
export GATEHOUSE__LOGGING__FORMAT=json
export RUST_LOG="${RUST_LOG:-info}"
# One token for the whole run, however long it takes.
export GATEHOUSE__TOKENS__ACCESS_TOKEN_TTL_SECS=7200

svc=$("$bin" client create --name "Schemathesis" --grant client_credentials --scope admin --role admin --json)
svc_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$svc")
svc_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$svc")
export GATEHOUSE_SCHEMATHESIS_CLIENT_ID="$svc_id"
export SCHEMATHESIS_HOOKS="$root/tests/schemathesis/hooks.py"

scratch_serve

base="http://127.0.0.1:$port"
token=$(curl -fsS -u "$svc_id:$svc_secret" -d grant_type=client_credentials -d scope=admin \
  "$base/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

echo "schemathesis seed $seed (SCHEMATHESIS_SEED=$seed reproduces this run)"
status=0
# Run from the scratch directory: Schemathesis leaves a `.schemathesis/` folder where it runs.
# One worker: with two, Hypothesis describing its strategies from two threads at once now and
# then trips CPython 3.11's `ast.parse` ("SystemError: AST constructor recursion depth
# mismatch"), a Runtime Error that fails the run for nothing the server did.
cd "$work"
"$venv/bin/schemathesis" --config-file "$root/tests/schemathesis/schemathesis.toml" run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection,unsupported_method,allow_header_conformance \
  --mode all \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --generation-database none \
  --request-timeout 10 \
  --workers 1 \
  --no-color ${SCHEMATHESIS_EXTRA_ARGS:-} \
  || status=$?

# A token refused by the end means some requests ran unauthenticated: the run proved less than
# it claims.
if ! curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$base/api/v1/admin/stats"; then
  echo "the service account's token no longer works: the run locked itself out" >&2
  status=1
fi
# The server must not have hit an unexpected failure, even one it answered with a 4xx.
if grep -q '"level":"ERROR"' "$work/server.log"; then
  echo "the server logged errors while being fuzzed:" >&2
  grep '"level":"ERROR"' "$work/server.log" | head -n 20 >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 50 lines)" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
