#!/usr/bin/env bash
# Real-browser end-to-end tests: headless Chromium (Debian's `chromium`, driven by playwright-core)
# against a real `gatehouse` binary whose mail goes over SMTP to a local sink (smtp_sink.mjs, a
# real SMTP listener on 127.0.0.1) from which the tests read the links:
# - signup_reset.mjs: signs up on /register, follows the verification link from the mail, changes
#   the password on /account, signs out, resets the password through the mailed link and signs in;
# - admin_console.mjs: the bootstrap admin enrols TOTP and uses the admin console (/admin): finds,
#   locks, unlocks a user and resets their 2FA, creates a client and rotates its secret, and once
#   the re-authentication window (one minute here) has passed is asked to sign in again before a
#   key rotation; with a screenshot of each console page in target/browser-screenshots/admin/BACKEND/
#   (sqlite or postgres);
# - csp.mjs: every page (signed out, signed in, the code flow to a relying party on another origin,
#   the device pages, the admin console as an administrator created here) with the Content-Security-
#   Policy enforced; any violation or missing hardening header fails it.
# All run against the same server, and each runs even when another fails.
# usage: tests/browser/run.sh [path/to/gatehouse]   (default: target/debug/gatehouse)
# BROWSER_TESTS="admin_console" runs only the tests named (default: "signup_reset admin_console csp").
# With TEST_DATABASE_URL (a Postgres server URL) and TEST_REDIS_URL set, it runs on a scratch
# Postgres database and a unique Redis key prefix, removing both afterwards.
# Installs what is missing: Chromium (apt-get, when running as root) and the npm packages pinned
# in package.json (into tests/browser/node_modules). CHROMIUM overrides /usr/bin/chromium.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/debug/gatehouse}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$bin" ]; then
  echo "no gatehouse binary at $bin (cargo build -p gatehouse-server --bin gatehouse)" >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  else
    echo "no Chromium at $CHROMIUM; install Debian's chromium package (or set CHROMIUM)" >&2
    exit 1
  fi
fi
if [ ! -d "$here/node_modules/playwright-core" ] || [ ! -d "$here/node_modules/smtp-server" ] ||
   [ ! -d "$here/node_modules/mailparser" ]; then
  echo "installing the npm packages of tests/browser"
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error)
fi

# shellcheck source=../scratch-server.sh
source "$root/tests/scratch-server.sh"
scratch_backend browser "browser check (headless Chromium)"

# The SMTP sink listens on a free port it picks itself and writes it to $mail/port.
mail="$work/mail"
sink=""
stop_sink() {
  if [ -n "$sink" ]; then
    kill "$sink" 2>/dev/null || true
    wait "$sink" 2>/dev/null || true
  fi
}
trap 'stop_sink; scratch_cleanup' EXIT
node "$here/smtp_sink.mjs" "$mail" >"$work/smtp.log" 2>&1 &
sink=$!
for _ in $(seq 1 50); do
  [ -s "$mail/port" ] && break
  kill -0 "$sink" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$mail/port" ]; then
  echo "the SMTP sink did not start; its log:" >&2
  cat "$work/smtp.log" >&2
  exit 1
fi
sink_port=$(cat "$mail/port")

export GATEHOUSE__EMAIL__TRANSPORT=smtp
export GATEHOUSE__EMAIL__SMTP_URL="smtp://127.0.0.1:$sink_port"
# Self-service sign-up on, and the default policy (no verified address required to sign in).
export GATEHOUSE__REGISTRATION__ENABLED=true
# A one-minute re-authentication window, so that admin_console.mjs can wait it out and see the
# console ask for a new sign-in before a destructive action (the default is ten minutes).
reauth_window=60
export GATEHOUSE__TWO_FACTOR__REAUTHENTICATION_WINDOW_SECS=$reauth_window
scratch_serve
# csp.mjs's own administrator, so that it does not depend on what admin_console.mjs did to the
# bootstrap one; created once the server has created the bootstrap administrator (which it does
# only while no administrator exists).
export CSP_ADMIN_USERNAME=csp.admin CSP_ADMIN_PASSWORD="csp admin password 8812"
printf '%s\n' "$CSP_ADMIN_PASSWORD" |
  "$bin" user create --username "$CSP_ADMIN_USERNAME" --email csp.admin@example.com --admin >"$work/csp-admin.log" 2>&1 ||
  { echo "cannot create the csp.mjs administrator:" >&2; cat "$work/csp-admin.log" >&2; exit 1; }

backend=sqlite
[ -n "$db_name" ] && backend=postgres
shots="$root/target/browser-screenshots/admin/$backend"
rm -rf "$shots"

failed=""
for test in ${BROWSER_TESTS:-signup_reset admin_console csp}; do
  echo "-- $test.mjs"
  case "$test" in
    signup_reset) args=("$mail") ;;
    admin_console) args=("$shots") ;;
    csp) args=() ;;
    *) echo "unknown browser test: $test" >&2; exit 2 ;;
  esac
  if ! REAUTH_WINDOW_SECS=$reauth_window node "$here/$test.mjs" "http://127.0.0.1:$port" "${args[@]}"; then
    failed="$failed $test"
  fi
done
if [ -n "$failed" ]; then
  echo "browser tests failed:$failed" >&2
  echo "--- SMTP sink log" >&2
  cat "$work/smtp.log" >&2
  echo "--- server log (last 60 lines)" >&2
  tail -n 60 "$work/server.log" >&2
  exit 1
fi
