#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with Schemathesis: a real `gatehouse`
# binary on a scratch SQLite database, requests generated from /api/v1/openapi.json, both data
# the schema admits (which must be accepted: 2xx, or 409 for a duplicate) and data it refuses
# (which must be refused with a documented 4xx). Fails on any 5xx, any response that breaks the
# schema (status, content type, headers, body), any schema-valid request refused as invalid, and
# any ERROR the server logged while being fuzzed.
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
export GATEHOUSE__LOGGING__FORMAT=json
export RUST_LOG="${RUST_LOG:-info}"

scratch_serve

echo "schemathesis seed $seed (SCHEMATHESIS_SEED=$seed reproduces this run)"
status=0
# Run from the scratch directory: Schemathesis leaves a `.schemathesis/` folder where it runs.
cd "$work"
"$venv/bin/schemathesis" --config-file "$root/tests/schemathesis/schemathesis.toml" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection,unsupported_method,allow_header_conformance \
  --mode all \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --generation-database none \
  --request-timeout 10 \
  --workers 2 \
  --no-color ${SCHEMATHESIS_EXTRA_ARGS:-} \
  || status=$?

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
