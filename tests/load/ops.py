#!/usr/bin/env python3
"""Postgres writes and Redis operations per request of each scenario, for docs/scaling.md.

usage: ops.py BINARY WORKDIR PORT PG_URL REDIS_PORT [REQUESTS]

Starts a private `redis-server` on REDIS_PORT (so INFO commandstats counts this server's traffic
only), creates a fresh Postgres database on PG_URL (a server URL without a database name), starts
BINARY on 127.0.0.1:PORT against both, signs the load user in with seed.py, and for each scenario
sends REQUESTS (default 200) requests and prints, per request: Redis commands by name, Postgres
transactions committed and rows inserted / updated / deleted (pg_stat_database of the scenario's
database, and per table from pg_stat_user_tables). The database and the Redis server are removed
at the end.
"""
import base64
import collections
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

here = os.path.dirname(os.path.abspath(__file__))
binary, work, port, pg_url, redis_port = sys.argv[1:6]
requests = int(sys.argv[6]) if len(sys.argv) > 6 else 200
port, redis_port = int(port), int(redis_port)
os.makedirs(work, exist_ok=True)
db = f"perf_ops_{os.getpid()}"
base = f"http://127.0.0.1:{port}"
redis_url = f"redis://127.0.0.1:{redis_port}"
env = dict(os.environ)
env.update({
    "GATEHOUSE__SERVER__LISTEN": f"127.0.0.1:{port}",
    "GATEHOUSE__SERVER__ISSUER": base,
    "GATEHOUSE__SERVER__WORKERS": "1",
    "GATEHOUSE__KEYS__MASTER_KEY_FILE": f"{work}/master.key",
    "GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD": "load-test admin password",
    "GATEHOUSE__EMAIL__TRANSPORT": "file",
    "GATEHOUSE__EMAIL__FILE_DIR": f"{work}/mail",
    "GATEHOUSE__DATABASE__URL": f"{pg_url}/{db}",
    "GATEHOUSE__SESSIONS__REDIS_URL": redis_url,
    "GATEHOUSE__SESSIONS__KEY_PREFIX": "ops:",
})
for name in ("LOGIN_PER_IP", "SECOND_FACTOR_PER_IP", "REGISTRATION_PER_IP"):
    env[f"GATEHOUSE__RATE_LIMITS__{name}__LIMIT"] = "100000000"


def psql(sql, database="postgres"):
    return subprocess.run(["psql", "-qAt", f"{pg_url}/{database}", "-c", sql],
                          capture_output=True, text=True, check=True).stdout


def redis(*args):
    return subprocess.run(["redis-cli", "-p", str(redis_port), *args],
                          capture_output=True, text=True, check=True).stdout


def cli(*argv, stdin=None):
    return subprocess.run([binary, *argv], env=env, input=stdin, capture_output=True, text=True,
                          check=True).stdout


redis_server = subprocess.Popen(
    ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
     "--appendonly", "no"], stdout=subprocess.DEVNULL)
psql(f'CREATE DATABASE "{db}"')
server = None
try:
    time.sleep(0.5)
    password = "load test passphrase"
    redirect = "http://load.example.test/callback"
    cli("user", "create", "--username", "loaduser", "--email", "loaduser@example.com",
        stdin=password + "\n")

    def client(*extra):
        c = json.loads(cli("client", "create", "--name", "Load test", "--redirect-uri", redirect,
                           "--first-party", "--json", *extra))
        return c["client_id"], c["client_secret"]

    cid, secret = client("--grant", "authorization-code", "--grant", "refresh-token",
                         "--grant", "client-credentials", "--id-token-alg", "ES256")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=open(f"{work}/server.log", "w"),
                              stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)

    pair = f"{urllib.parse.quote(cid, safe='')}:{urllib.parse.quote(secret, safe='')}"
    basic = "Basic " + base64.b64encode(pair.encode()).decode()
    form = "application/x-www-form-urlencoded"
    seeded = subprocess.run([sys.executable, f"{here}/seed.py", base, cid, secret, "loaduser",
                             password, redirect, "2", work],
                            capture_output=True, text=True, check=True).stdout
    seed = dict(line.split("=", 1) for line in seeded.split())
    state = {"refresh": re.findall(r'"([^"]+)"', open(f"{work}/refresh_tokens.lua").read())[0]}
    conns = []

    def call(method, path, body=None, headers=None, expect=200):
        conn = conns[-1]
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != expect:
            sys.exit(f"{method} {path}: {resp.status} {data[:300]!r}")
        return resp, data

    def sign_in():
        # One fresh browser: GET /login for the CSRF pair, POST /login with the password.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/login")
        resp = c.getresponse()
        body = resp.read()
        csrf_cookie = re.search(r"gh_csrf=([^;]+)", resp.headers.get("Set-Cookie", "")).group(1)
        token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
        c.request("POST", "/login", urllib.parse.urlencode(
            {"username": "loaduser", "password": password, "csrf_token": token, "return_to": ""}),
            {"Content-Type": form, "Cookie": f"gh_csrf={csrf_cookie}"})
        resp = c.getresponse()
        resp.read()
        if resp.status != 303:
            sys.exit(f"login: {resp.status}")

    def refresh():
        _, data = call("POST", "/token",
                       f"grant_type=refresh_token&refresh_token={state['refresh']}",
                       {"Content-Type": form, "Authorization": basic})
        state["refresh"] = json.loads(data)["refresh_token"]

    authorize = "/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": cid, "redirect_uri": redirect,
        "scope": "openid profile email offline_access", "state": "s", "nonce": "n"})

    def code_flow():
        resp, _ = call("GET", authorize, headers={"Cookie": f"gh_session={seed['SESSION_COOKIE']}"},
                       expect=302)
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(resp.headers["Location"]).query)["code"][0]
        call("POST", "/token", urllib.parse.urlencode(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}),
            {"Content-Type": form, "Authorization": basic})

    access = seed["ACCESS_TOKEN"]
    scenarios = [
        ("sign-in (GET + POST /login)", sign_in),
        ("client_credentials", lambda: call("POST", "/token", "grant_type=client_credentials",
                                            {"Content-Type": form, "Authorization": basic})),
        ("refresh", refresh),
        ("code flow (authorize + token)", code_flow),
        ("introspection", lambda: call("POST", "/introspect", f"token={access}",
                                       {"Content-Type": form, "Authorization": basic})),
        ("userinfo", lambda: call("GET", "/userinfo",
                                  headers={"Authorization": f"Bearer {access}"})),
    ]

    def redis_stats():
        stats = collections.Counter()
        for line in redis("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
            if m:
                stats[m.group(1)] = int(m.group(2))
        return stats

    def pg_stats():
        row = psql("SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM "
                   f"pg_stat_database WHERE datname = '{db}'", db).split("|")
        tables = {}
        for line in psql("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM "
                         "pg_stat_user_tables", db).splitlines():
            name, *counts = line.split("|")
            tables[name] = [int(n) for n in counts]
        return [int(n) for n in row], tables

    n_for = {"sign-in (GET + POST /login)": max(20, requests // 10)}
    # The server's own background work (store epoch, outbox and back-channel polling) is
    # measured idle first and subtracted in proportion to each scenario's time.
    scenarios.insert(0, ("idle (per second)", None))
    idle = None
    for name, run in scenarios:
        n = n_for.get(name, requests)
        # A fresh keep-alive connection: the last one idled past the server's keep-alive.
        conns.append(http.client.HTTPConnection("127.0.0.1", port, timeout=60))
        if run:
            run()
        time.sleep(11)
        r0, (p0, t0) = redis_stats(), pg_stats()
        started = time.monotonic()
        conns.append(http.client.HTTPConnection("127.0.0.1", port, timeout=60))
        if run:
            for _ in range(n):
                run()
        else:
            time.sleep(5)
        time.sleep(11)  # an idle backend flushes its statistics within 10 s (PG 15)
        elapsed = time.monotonic() - started
        r1, (p1, t1) = redis_stats(), pg_stats()
        if not run:
            n = elapsed
            idle_cmds = {k: (r1[k] - r0.get(k, 0)) / elapsed for k in r1}
            idle_commits = (p1[0] - p0[0] - 2) / elapsed
            idle = (idle_cmds, idle_commits)
        background = collections.Counter()
        background_commits = 0.0
        if run and idle:
            background = {k: v * elapsed for k, v in idle[0].items()}
            background_commits = idle[1] * elapsed
        for k, v in background.items():
            r1[k] -= v
        # The stats queries themselves are transactions in this database: two per snapshot.
        commits = (p1[0] - p0[0] - 2 - background_commits) / n
        rows = [(a - b) / n for a, b in zip(p1[1:], p0[1:])]
        per_table = {k: [(a - b) / n for a, b in zip(v, t0.get(k, [0, 0, 0]))]
                     for k, v in t1.items()}
        per_table = {k: v for k, v in per_table.items() if any(x >= 0.01 for x in v)}
        cmds = {k: (r1[k] - r0.get(k, 0)) / n for k in r1}
        cmds = {k: v for k, v in cmds.items() if v >= 0.01 and k not in ("info",)}
        print(json.dumps({
            "scenario": name, "requests": n,
            "redis_commands": round(sum(cmds.values()), 2),
            "redis_by_command": {k: round(v, 2) for k, v in sorted(cmds.items())},
            "pg_commits": round(commits, 2),
            "pg_rows_ins_upd_del": [round(x, 2) for x in rows],
            "pg_by_table_ins_upd_del": {k: [round(x, 2) for x in v] for k, v in per_table.items()},
        }), flush=True)
finally:
    if server:
        server.terminate()
        server.wait()
    redis_server.terminate()
    redis_server.wait()
    psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
