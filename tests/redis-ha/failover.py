#!/usr/bin/env python3
"""Load and checks for tests/redis-ha/failover.sh. Standard library only; signs in and runs code
flows through tests/faults/oidc.py.

usage:
  failover.py load BASE CLIENT_ID CLIENT_SECRET REDIRECT USERNAME PASSWORD SECONDS THREADS
                   KILL_AT MAX_OUTAGE KILL_CMD
      Gets refresh tokens it then leaves alone (`idle`) and one refresh-token chain per thread,
      then for SECONDS keeps THREADS connections busy: each rotates its chain at /token
      (grant_type=refresh_token) and asks for a client_credentials token, in turn. KILL_AT
      seconds in, runs KILL_CMD (a shell command that kills the Redis primary). Then checks:
        - before the kill every answer was 200;
        - every answer was 200 or 503 (503 with Retry-After), none timed out;
        - the 503s all fall within MAX_OUTAGE seconds after the kill, and requests succeed again;
        - no grant that was acknowledged is lost: every idle refresh token, and the last
          acknowledged token of every chain, still refreshes after the fail-over. A chain whose
          in-flight request failed (503) has an unknown outcome: if its retry is refused as a
          replay, that is reported, not failed (the write may have landed before the crash).
  failover.py grant BASE CLIENT_ID CLIENT_SECRET REDIRECT USERNAME PASSWORD
      Signs in, runs one code flow; prints its refresh token.
  failover.py refresh-once BASE CLIENT_ID CLIENT_SECRET REFRESH_TOKEN
      One rotation of that refresh token: prints `STATUS SECONDS`.
Prints PASS/FAIL lines; exits 1 if any check failed.
"""
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
import oidc  # noqa: E402

FORM = "application/x-www-form-urlencoded"
failures = 0


def check(ok, label, detail=""):
    global failures
    if ok:
        print(f"PASS {label}", flush=True)
    else:
        failures += 1
        print(f"FAIL {label}{' — ' + detail if detail else ''}", flush=True)


def basic(client_id, secret):
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


class Client:
    """One keep-alive connection that reconnects after a failure."""

    def __init__(self, base, auth):
        self.base = base
        self.auth = auth
        self.conn = None

    def token(self, form):
        """POST /token; returns (status, retry_after, json body or {}). Status 0: no answer."""
        try:
            if self.conn is None:
                self.conn = oidc.connect(self.base)
                self.conn.timeout = 5
            status, headers, body = oidc.request(
                self.conn,
                "POST",
                "/token",
                urllib.parse.urlencode(form),
                {"Content-Type": FORM, "Authorization": self.auth},
            )
        except Exception:  # noqa: BLE001 — any transport failure is "no answer"
            self.conn = None
            return 0, None, {}
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        return status, headers.get("Retry-After"), data

    def refresh(self, refresh_token):
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})


def new_grants(base, client_id, secret, redirect, username, password, count):
    conn = oidc.connect(base)
    session = oidc.login(conn, username, password)
    tokens = []
    for _ in range(count):
        tokens.append(json.loads(oidc.code_flow(conn, client_id, secret, redirect, session))["refresh_token"])
    return tokens


def refresh_until_answered(client, token, seconds=10):
    """Retries while the answer is 503 or nothing (the store may still be settling)."""
    deadline = time.monotonic() + seconds
    while True:
        status, _, data = client.refresh(token)
        if status not in (0, 503) or time.monotonic() > deadline:
            return status, data
        time.sleep(0.2)


def load(args):
    base, client_id, secret, redirect, username, password = args[:6]
    seconds, threads, kill_at, max_outage = float(args[6]), int(args[7]), float(args[8]), float(args[9])
    kill_cmd = args[10]
    auth = basic(client_id, secret)

    idle = new_grants(base, client_id, secret, redirect, username, password, 10)
    chains = new_grants(base, client_id, secret, redirect, username, password, threads)
    log = []  # (seconds since start, kind, status, retry_after, error)
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds
    # Per chain: the last acknowledged token, whether the chain is still usable, whether a
    # replay refusal followed an unanswered request (ambiguous) or an acknowledged one (lost).
    state = [{"token": t, "alive": True, "last_failed": False, "ambiguous": False, "lost": None} for t in chains]

    def worker(index):
        client = Client(base, auth)
        chain = state[index]
        while time.monotonic() < deadline:
            if chain["alive"]:
                status, retry_after, data = client.refresh(chain["token"])
                now = time.monotonic() - start
                with lock:
                    log.append((now, "refresh", status, retry_after, data.get("error")))
                if status == 200:
                    chain["token"] = data["refresh_token"]
                    chain["last_failed"] = False
                elif status in (0, 503):
                    chain["last_failed"] = True
                elif data.get("error") == "invalid_grant":
                    chain["alive"] = False
                    if chain["last_failed"]:
                        chain["ambiguous"] = True
                    else:
                        chain["lost"] = f"at {now:.2f}s"
            status, retry_after, data = client.token({"grant_type": "client_credentials"})
            with lock:
                log.append((time.monotonic() - start, "client_credentials", status, retry_after, data.get("error")))
            if status != 200:
                time.sleep(0.05)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    time.sleep(max(0.0, start + kill_at - time.monotonic()))
    killed = time.monotonic() - start
    subprocess.run(kill_cmd, shell=True, check=True)
    for w in workers:
        w.join()

    before = [e for e in log if e[0] < killed]
    after = [e for e in log if e[0] >= killed]
    bad_before = [e for e in before if e[2] != 200]
    check(
        len(before) > 0 and not bad_before,
        f"before the kill: {len(before)} requests, all 200",
        f"{len(bad_before)} were not: {bad_before[:3]}",
    )
    unexpected = [e for e in log if e[2] not in (200, 503) and not (e[2] == 400 and e[4] == "invalid_grant")]
    check(not unexpected, "every answer is 200 or 503 (none timed out, no 500)", f"{len(unexpected)}: {unexpected[:5]}")
    no_retry_after = [e for e in log if e[2] == 503 and not e[3]]
    check(not no_retry_after, "every 503 carries Retry-After", f"{len(no_retry_after)} without")
    failed = [e for e in after if e[2] != 200 and e[4] != "invalid_grant"]
    if failed:
        window = failed[-1][0] - killed
        first = failed[0][0] - killed
        check(
            window <= max_outage,
            f"503s for {window:.2f}s after the kill (first {first:.2f}s after it, {len(failed)} requests), "
            f"at most {max_outage:.0f}s",
        )
    else:
        window = 0.0
        check(True, "no request failed during the fail-over")
    # Everything after the last failure succeeded (by construction); it must be a real stretch.
    recovered = [e for e in after if e[0] > killed + window and e[2] == 200]
    healthy_for = seconds - (killed + window)
    check(
        healthy_for >= 2 and len(recovered) > 0,
        f"requests succeed again: all {len(recovered)} in the last {healthy_for:.1f}s of the load answered 200",
        "the outage lasted until (almost) the end of the load",
    )
    print(
        f"info: {len(log)} requests in {seconds:.0f}s over {threads} connections; kill at {killed:.2f}s",
        flush=True,
    )

    client = Client(base, auth)
    lost_idle = []
    for token in idle:
        status, data = refresh_until_answered(client, token)
        if status != 200:
            lost_idle.append(f"{status} {data.get('error')}")
    check(not lost_idle, f"all {len(idle)} refresh tokens acknowledged before the kill still refresh", "; ".join(lost_idle))
    lost_chain = []
    for i, chain in enumerate(state):
        if chain["lost"]:
            lost_chain.append(f"chain {i}: its acknowledged token refused {chain['lost']}")
        elif chain["alive"]:
            status, data = refresh_until_answered(client, chain["token"])
            if status != 200:
                lost_chain.append(f"chain {i}: last acknowledged token gave {status} {data.get('error')}")
    check(
        not lost_chain,
        f"the last acknowledged refresh token of every chain still refreshes ({threads} chains)",
        "; ".join(lost_chain),
    )
    ambiguous = sum(1 for c in state if c["ambiguous"])
    print(
        f"info: {ambiguous} chain(s) whose request in flight at the crash got no answer and whose retry "
        "was refused as a replay (the rotation had landed): unknown outcome, not an acknowledged grant",
        flush=True,
    )
    return 1 if failures else 0


def grant(args):
    print(new_grants(*args[:6], 1)[0])
    return 0


def refresh_once(args):
    base, client_id, secret, token = args[:4]
    started = time.monotonic()
    status, _, _ = Client(base, basic(client_id, secret)).refresh(token)
    print(f"{status} {time.monotonic() - started:.2f}")
    return 0


def main(argv):
    commands = {"load": load, "grant": grant, "refresh-once": refresh_once}
    if len(argv) < 2 or argv[1] not in commands:
        sys.exit(__doc__)
    return commands[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
