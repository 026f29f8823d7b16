#!/usr/bin/env python3
"""TOTP logins for the load run: seeds users with a second factor, then drives full logins
(password, then code) and prints wrk's RESULT line (see lua/common.lua) for run.sh.

usage: totp.py seed BASE_URL USERS THREADS OUT.jsonl
       totp.py run BASE_URL USERS.jsonl CONNECTIONS DURATION_SECS

seed: registers USERS users through POST /api/v1/users, and enrols each in TOTP through the
account pages as a browser would (POST /login with return_to=/account/totp, GET /account/totp,
POST /account/totp/enrol, POST /account/totp/confirm with a code); writes one JSON object per
line: username, password, secret (base32), last_step (the time step of the confirming code).
Each user costs the server two argon2id operations (the registration's hash, the sign-in's
verify).

run: CONNECTIONS threads, each with its own keep-alive connection, sign users in for
DURATION_SECS: POST /login (303 to /login/second-factor with the pending-sign-in cookie), then
POST /login/second-factor with the user's TOTP code (303 with the session cookie). One login is
both; its latency is the two together. The server accepts each time step once per user (RFC 6238
§5.2) and one step either side of its own, so a user whose last accepted step is L can sign in
with the code of step max(L + 1, now) as long as that is at most now + 1: once per step, plus
once more when L is older than the current step. A user is out of the pool while its login runs
(two concurrent logins of one user would race for the step and one would be refused as a
replay). When no user is left the run ends early (the logins in flight complete) and says so on
stderr: the rate is then measured over the shorter run; seed about rate x duration + CONNECTIONS
users.

Prints `RESULT requests=… duration_us=… p50_us=… p99_us=… status_errors=… socket_errors=…
flows=…` (flows = completed logins), and the two steps' latencies on stderr. Writes the users'
last used steps back to USERS.jsonl, so that another run on the same users replays no code.
Standard library only (RFC 6238 codes with hmac/hashlib), no redirects followed.
"""
import heapq
import http.client
import itertools
import json
import math
import re
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from otp import PERIOD, base32_key, current_step, hotp  # noqa: E402  (RFC 4226/6238, shared)

PASSWORD = "load totp passphrase"
FORM = "application/x-www-form-urlencoded"


# --- HTTP --------------------------------------------------------------------------------------
class Client:
    """One keep-alive connection; reconnects after a socket error."""

    def __init__(self, base, timeout=30):
        url = urllib.parse.urlsplit(base)
        self.host, self.port, self.timeout = url.hostname, url.port, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if resp.will_close:
            self.conn.close()
            self.conn = None
        return resp.status, resp.headers, data.decode("utf-8", "replace")


def cookie(headers, name):
    for value in headers.get_all("Set-Cookie") or []:
        key, _, val = value.split(";", 1)[0].partition("=")
        if key.strip() == name and val.strip():
            return val.strip()
    return None


def form_fields(html, action):
    """The hidden and text inputs of the form posting to `action`."""
    match = re.search(r'<form[^>]*action="%s"[^>]*>(.*?)</form>' % re.escape(action), html, re.S)
    if not match:
        raise RuntimeError(f"no form posting to {action}")
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", match.group(1)):
        name = re.search(r'\bname="([^"]*)"', tag)
        value = re.search(r'\bvalue="([^"]*)"', tag)
        if name:
            fields.setdefault(unescape(name.group(1)), unescape(value.group(1)) if value else "")
    return fields


def data_page(html):
    match = re.search(r'data-page="([^"]+)"', html)
    return match.group(1) if match else None


# --- seed --------------------------------------------------------------------------------------
def seed_one(base, index):
    client = Client(base)
    username = f"totp{index:05d}"
    body = json.dumps({"username": username, "email": f"{username}@example.com", "password": PASSWORD})
    status, _, text = client.request("POST", "/api/v1/users", body, {"Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"register {username}: {status} {text[:200]}")

    status, headers, text = client.request("GET", "/login?return_to=%2Faccount%2Ftotp")
    csrf = cookie(headers, "gh_csrf")
    if status != 200 or not csrf:
        raise RuntimeError(f"GET /login: {status}")
    fields = form_fields(text, "/login")
    fields.update(username=username, password=PASSWORD)
    status, headers, text = client.request(
        "POST", "/login", urllib.parse.urlencode(fields), {"Content-Type": FORM, "Cookie": f"gh_csrf={csrf}"}
    )
    session = cookie(headers, "gh_session")
    if status != 303 or not session:
        raise RuntimeError(f"POST /login {username}: {status} {text[:200]}")
    cookies = {"Cookie": f"gh_csrf={csrf}; gh_session={session}"}

    status, headers, text = client.request("GET", "/account/totp", headers=cookies)
    if status != 200 or data_page(text) != "totp-start":
        raise RuntimeError(f"GET /account/totp: {status} page {data_page(text)}")
    csrf = cookie(headers, "gh_csrf") or csrf
    cookies = {"Cookie": f"gh_csrf={csrf}; gh_session={session}"}
    fields = form_fields(text, "/account/totp/enrol")
    if "password" in fields:
        fields["password"] = PASSWORD
    status, headers, text = client.request(
        "POST", "/account/totp/enrol", urllib.parse.urlencode(fields), {"Content-Type": FORM, **cookies}
    )
    secret = re.search(r'<code id="totp-secret"[^>]*>(.*?)</code>', text, re.S)
    if status != 200 or data_page(text) != "totp-enrol" or not secret:
        raise RuntimeError(f"POST /account/totp/enrol: {status} page {data_page(text)}")
    secret = re.sub(r"\s", "", unescape(re.sub(r"<[^>]+>", "", secret.group(1))))

    step = current_step()
    fields = form_fields(text, "/account/totp/confirm")
    fields["code"] = hotp(base32_key(secret), step)
    status, _, text = client.request(
        "POST", "/account/totp/confirm", urllib.parse.urlencode(fields), {"Content-Type": FORM, **cookies}
    )
    if status != 200 or data_page(text) != "recovery-codes":
        raise RuntimeError(f"POST /account/totp/confirm: {status} page {data_page(text)}")
    # The code of `step` matches that step only, which the server now holds as used.
    return {"username": username, "password": PASSWORD, "secret": secret, "last_step": step}


def seed(base, count, threads, out):
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            users = list(pool.map(lambda i: seed_one(base, i), range(count)))
    except (RuntimeError, OSError, http.client.HTTPException) as err:
        sys.exit(f"totp seed: {err}")
    elapsed = time.monotonic() - started
    with open(out, "w") as f:
        for user in users:
            f.write(json.dumps(user) + "\n")
    print(f"    seeded {count} TOTP users in {elapsed:.1f} s ({count / elapsed:.1f}/s)", file=sys.stderr)


# --- run ---------------------------------------------------------------------------------------
class Pool:
    """Users by their last used step, the oldest first; a user is taken for one login at a time."""

    def __init__(self, users):
        self.order = itertools.count()
        self.heap = [(u["last_step"], next(self.order), u) for u in users]
        heapq.heapify(self.heap)
        self.cond = threading.Condition()
        self.exhausted_at = None

    def take(self):
        """A user and the step of its next code, or (None, None) once every user that is not
        signing in right now has used the next step's code too: the run ends there (waiting
        for the next step would measure the wait)."""
        with self.cond:
            now = current_step()
            if self.exhausted_at is None and self.heap and self.heap[0][0] < now + 1:
                last, _, user = heapq.heappop(self.heap)
                return user, max(last + 1, now)
            if self.exhausted_at is None:
                self.exhausted_at = time.time()
            return None, None

    def give_back(self, user):
        with self.cond:
            heapq.heappush(self.heap, (user["last_step"], next(self.order), user))


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def run(base, users_file, connections, duration):
    users = [json.loads(line) for line in open(users_file) if line.strip()]
    keys = {u["username"]: base32_key(u["secret"]) for u in users}
    pool = Pool(users)
    client = Client(base)
    status, headers, text = client.request("GET", "/login")
    csrf = cookie(headers, "gh_csrf")
    match = re.search(r'name="csrf_token" value="([^"]+)"', text)
    if status != 200 or not csrf or not match:
        sys.exit(f"totp: GET /login returned {status} without a CSRF token")
    token = match.group(1)

    lock = threading.Lock()
    totals = {"requests": 0, "logins": 0, "status": 0, "socket": 0}
    latencies, password_us, code_us = [], [], []
    started = time.time()
    deadline = started + duration

    def worker():
        http_client = Client(base, timeout=10)
        mine = {"requests": 0, "logins": 0, "status": 0, "socket": 0}
        mine_lat, mine_pwd, mine_code = [], [], []
        while time.time() < deadline:
            user, step = pool.take()
            if user is None:
                break
            sent = None
            t0 = time.perf_counter()
            try:
                body = urllib.parse.urlencode(
                    {"username": user["username"], "password": user["password"], "csrf_token": token,
                     "return_to": "/account"}
                )
                status, headers, _ = http_client.request(
                    "POST", "/login", body, {"Content-Type": FORM, "Cookie": f"gh_csrf={csrf}"}
                )
                mine["requests"] += 1
                pending = cookie(headers, "gh_login")
                location = headers.get("Location", "")
                if status != 303 or not pending or not location.startswith("/login/second-factor"):
                    mine["status"] += 1
                    continue
                t1 = time.perf_counter()
                # The code is computed now (the password step may have queued for a while): if
                # the step turned meanwhile, use the new one.
                sent = max(step, current_step())
                body = urllib.parse.urlencode(
                    {"code": hotp(keys[user["username"]], sent), "csrf_token": token, "return_to": "/account"}
                )
                status, headers, _ = http_client.request(
                    "POST", "/login/second-factor", body,
                    {"Content-Type": FORM, "Cookie": f"gh_csrf={csrf}; gh_login={pending}"},
                )
                mine["requests"] += 1
                t2 = time.perf_counter()
                if status != 303 or not cookie(headers, "gh_session"):
                    mine["status"] += 1
                    continue
                mine["logins"] += 1
                mine_lat.append(int((t2 - t0) * 1e6))
                mine_pwd.append(int((t1 - t0) * 1e6))
                mine_code.append(int((t2 - t1) * 1e6))
            except (OSError, http.client.HTTPException):
                mine["socket"] += 1
            finally:
                # A code sent may have been accepted even if its answer was lost: its step is
                # never used again.
                if sent is not None:
                    user["last_step"] = max(user["last_step"], sent)
                pool.give_back(user)
        with lock:
            for k in totals:
                totals[k] += mine[k]
            latencies.extend(mine_lat)
            password_us.extend(mine_pwd)
            code_us.extend(mine_code)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed_us = int((time.time() - started) * 1e6)
    # The steps used, so that another run on the same users does not replay them.
    with open(users_file, "w") as f:
        for user in users:
            f.write(json.dumps(user) + "\n")
    for values in (latencies, password_us, code_us):
        values.sort()
    if pool.exhausted_at is not None:
        print(f"    ran out of users after {pool.exhausted_at - started:.1f} of {duration:g} s "
              f"(each signs in once per {PERIOD} s step): measured until then; seed more users",
              file=sys.stderr)
    if totals["logins"] == 0:
        sys.exit("totp: no login completed")
    print(
        f"    {totals['logins']} TOTP logins from {len(users)} users; p50/p99 ms: password step "
        f"{percentile(password_us, 50) / 1000:.1f}/{percentile(password_us, 99) / 1000:.1f}, code step "
        f"{percentile(code_us, 50) / 1000:.2f}/{percentile(code_us, 99) / 1000:.2f}",
        file=sys.stderr,
    )
    print(
        f"RESULT requests={totals['requests']} duration_us={elapsed_us} "
        f"p50_us={percentile(latencies, 50)} p99_us={percentile(latencies, 99)} "
        f"status_errors={totals['status']} socket_errors={totals['socket']} flows={totals['logins']}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 6 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)
