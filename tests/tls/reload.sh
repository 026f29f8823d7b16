#!/usr/bin/env bash
# Native TLS with the real binary: a CA and certificates made here with openssl, `gatehouse serve`
# on an https issuer, then (tests/tls/keepalive.py) `kill -HUP` after replacing the files: an open
# keep-alive connection keeps answering and a new connection gets the new certificate; a bad new
# pair is logged and the current one kept. Also: plain HTTP is refused on the TLS port, and the
# binary refuses to start (naming the key) on a key that does not match or a missing half.
# usage: tests/tls/reload.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# With TEST_DATABASE_URL and TEST_REDIS_URL set it runs on a scratch Postgres database and Redis
# prefix (tests/scratch-server.sh). TLS_TEST_PORT picks the port (default: a free one).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/target/debug/gatehouse}"
# shellcheck source=../scratch-server.sh
source "$root/tests/scratch-server.sh"

scratch_backend tls "native TLS reload on SIGHUP"
if [ -n "${TLS_TEST_PORT:-}" ]; then
  port="$TLS_TEST_PORT"
fi
export GATEHOUSE__SERVER__LISTEN="127.0.0.1:$port"
export GATEHOUSE__SERVER__ISSUER="https://localhost:$port"
export GATEHOUSE__METRICS__LISTEN=off
pki="$work/pki"
mkdir -p "$pki"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=Gatehouse reload test CA" -keyout "$pki/ca.key" -out "$pki/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
issue() { # issue NAME: NAME.pem (leaf then CA, a chain) and NAME.key for localhost and 127.0.0.1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=gatehouse $1" \
    -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$pki/$1.ext" -out "$pki/$1.leaf" 2>/dev/null
  cat "$pki/$1.leaf" "$pki/ca.pem" >"$pki/$1.pem"
}
issue first
issue second
issue third
cp "$pki/first.pem" "$pki/served.pem"
cp "$pki/first.key" "$pki/served.key"

# A missing half is a configuration error (exit 2) naming the key; a mismatched key stops the start.
set +e
GATEHOUSE__SERVER__TLS_CERT_FILE="$pki/served.pem" "$bin" serve >"$work/half.log" 2>&1
half=$?
GATEHOUSE__SERVER__TLS_CERT_FILE="$pki/first.pem" GATEHOUSE__SERVER__TLS_KEY_FILE="$pki/second.key" \
  "$bin" serve >"$work/mismatch.log" 2>&1
mismatch=$?
set -e
if [ "$half" -ne 2 ] || ! grep -q 'server.tls_key_file' "$work/half.log"; then
  echo "FAIL: tls_cert_file without tls_key_file: exit $half: $(cat "$work/half.log")" >&2
  exit 1
fi
if [ "$mismatch" -eq 0 ] || ! grep -q 'server.tls_key_file.*does not match' "$work/mismatch.log"; then
  echo "FAIL: a key of another certificate: exit $mismatch: $(tail -n 3 "$work/mismatch.log")" >&2
  exit 1
fi
echo "refuses to start: missing tls_key_file (exit 2), key not matching the certificate (exit $mismatch)"

export GATEHOUSE__SERVER__TLS_CERT_FILE="$pki/served.pem"
export GATEHOUSE__SERVER__TLS_KEY_FILE="$pki/served.key"
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
https=(curl -fsS --cacert "$pki/ca.pem" --resolve "localhost:$port:127.0.0.1")
for _ in $(seq 1 100); do
  "${https[@]}" "https://localhost:$port/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  sleep 0.2
done
if ! "${https[@]}" "https://localhost:$port/readyz" >/dev/null; then
  echo "FAIL: the server did not become ready over https; its log:" >&2
  tail -n 30 "$work/server.log" >&2
  exit 1
fi
issuer=$("${https[@]}" "https://localhost:$port/.well-known/openid-configuration" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')
[ "$issuer" = "https://localhost:$port" ] || { echo "FAIL: issuer $issuer" >&2; exit 1; }
if curl -sS -m 5 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
  echo "FAIL: plain HTTP answered on the TLS port" >&2
  exit 1
fi
echo "https issuer $issuer served by the binary; plain HTTP refused"

if ! python3 "$root/tests/tls/keepalive.py" "$port" "$pki/ca.pem" "$server" \
    "$pki/served.pem" "$pki/served.key" "$pki/second.pem" "$pki/second.key" "$pki/third.key" \
    "$work/server.log"; then
  echo "--- server log" >&2
  tail -n 30 "$work/server.log" >&2
  exit 1
fi
echo "native TLS reload: ok"
