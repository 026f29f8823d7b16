#!/usr/bin/env python3
"""Instructions per request of the hot scenarios, counted by valgrind's callgrind: repeatable on
a busy machine, where throughput figures are noise.

usage: callgrind.py BINARY WORKDIR PORT [REQUESTS] [--postgres PG_URL REDIS_URL]

Starts BINARY (a release build) under `valgrind --tool=callgrind --instr-atstart=no` with one
worker on 127.0.0.1:PORT (SQLite + the in-process store, or Postgres + Redis), creates the load
user and clients with the CLI, signs in with seed.py, then for each scenario zeroes the
counters, switches collection on, sends REQUESTS (default 2000) requests over one keep-alive
connection, switches it off and dumps. Prints one line per scenario: instructions per request
(per flow for the code flows) over the whole process (every thread). Dumps stay in WORKDIR for
callgrind_annotate.
"""
import base64
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
pg = None
if "--postgres" in args:
    i = args.index("--postgres")
    pg = (args[i + 1], args[i + 2])
    del args[i : i + 3]
binary, work, port = args[0], args[1], int(args[2])
requests = int(args[3]) if len(args) > 3 else 2000
os.makedirs(work, exist_ok=True)
base = f"http://127.0.0.1:{port}"
env = dict(os.environ)
env.update(
    {
        "GATEHOUSE__SERVER__LISTEN": f"127.0.0.1:{port}",
        "GATEHOUSE__SERVER__ISSUER": base,
        "GATEHOUSE__SERVER__WORKERS": "1",
        "GATEHOUSE__PASSWORDS__MAX_CONCURRENT": "1",
        "GATEHOUSE__KEYS__MASTER_KEY_FILE": f"{work}/master.key",
        "GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD": "load-test admin password",
        "GATEHOUSE__EMAIL__TRANSPORT": "file",
        "GATEHOUSE__EMAIL__FILE_DIR": f"{work}/mail",
        "GATEHOUSE__LOG__LEVEL": "info",
    }
)
for name in ("LOGIN_PER_IP", "SECOND_FACTOR_PER_IP", "REGISTRATION_PER_IP"):
    env[f"GATEHOUSE__RATE_LIMITS__{name}__LIMIT"] = "100000000"
if pg:
    env["GATEHOUSE__DATABASE__URL"] = pg[0]
    env["GATEHOUSE__SESSIONS__REDIS_URL"] = pg[1]
    env["GATEHOUSE__SESSIONS__KEY_PREFIX"] = f"perf-callgrind-{os.getpid()}:"
else:
    env["GATEHOUSE__DATABASE__URL"] = f"sqlite://{work}/gatehouse.db"
env.pop("GATEHOUSE__LOG__LEVEL")


def cli(*argv, stdin=None):
    return subprocess.run(
        [binary, *argv], env=env, input=stdin, capture_output=True, text=True, check=True
    ).stdout


password = "load test passphrase"
redirect = "http://load.example.test/callback"
cli("user", "create", "--username", "loaduser", "--email", "loaduser@example.com",
    stdin=password + "\n")


def client(*extra):
    c = json.loads(cli("client", "create", "--name", "Load test", "--redirect-uri", redirect,
                       "--first-party", "--json", *extra))
    return c["client_id"], c["client_secret"]


es_id, es_secret = client("--grant", "authorization-code", "--grant", "refresh-token",
                          "--grant", "client-credentials", "--id-token-alg", "ES256")
rs_id, rs_secret = client("--grant", "authorization-code", "--grant", "refresh-token")

server = subprocess.Popen(
    ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work}/cg.%p",
     binary, "serve"],
    env=env, stdout=open(f"{work}/server.log", "w"), stderr=subprocess.STDOUT,
)
try:
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        sys.exit("server did not become ready")

    seeded = subprocess.run(
        [sys.executable, f"{here}/seed.py", base, es_id, es_secret, "loaduser", password, redirect,
         "4", work], capture_output=True, text=True, check=True,
    ).stdout
    seed = dict(line.split("=", 1) for line in seeded.split())
    refresh_token = re.findall(r'"([^"]+)"', open(f"{work}/refresh_tokens.lua").read())[0]

    def basic(cid, secret):
        pair = f"{urllib.parse.quote(cid, safe='')}:{urllib.parse.quote(secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    form = "application/x-www-form-urlencoded"
    es_basic, rs_basic = basic(es_id, es_secret), basic(rs_id, rs_secret)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(method, path, body=None, headers=None, expect=200):
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != expect:
            sys.exit(f"{method} {path}: {resp.status} {data[:300]!r}")
        return resp, data

    def authorize_path(cid):
        return "/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": cid, "redirect_uri": redirect,
            "scope": "openid profile email offline_access", "state": "s", "nonce": "n"})

    def code_flow(cid, auth):
        resp, _ = call("GET", authorize_path(cid),
                       headers={"Cookie": f"gh_session={seed['SESSION_COOKIE']}"}, expect=302)
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(resp.headers["Location"]).query)["code"][0]
        call("POST", "/token", urllib.parse.urlencode(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}),
            {"Content-Type": form, "Authorization": auth})

    state = {"refresh": refresh_token}

    def refresh():
        _, data = call("POST", "/token", f"grant_type=refresh_token&refresh_token={state['refresh']}",
                       {"Content-Type": form, "Authorization": es_basic})
        state["refresh"] = json.loads(data)["refresh_token"]

    distinct = []

    def mint_distinct():
        _, data = call("POST", "/token", "grant_type=client_credentials",
                       {"Content-Type": form, "Authorization": es_basic})
        distinct.append(json.loads(data)["access_token"])

    def introspect_distinct():
        call("POST", "/introspect", f"token={distinct.pop()}",
             {"Content-Type": form, "Authorization": es_basic})

    access = seed["ACCESS_TOKEN"]
    scenarios = [
        ("discovery", lambda: call("GET", "/.well-known/openid-configuration")),
        ("client_credentials", lambda: call("POST", "/token", "grant_type=client_credentials",
                                            {"Content-Type": form, "Authorization": es_basic})),
        ("refresh", refresh),
        ("introspect_hot", lambda: call("POST", "/introspect", f"token={access}",
                                        {"Content-Type": form, "Authorization": es_basic})),
        ("introspect_distinct_first_use", None),
        ("userinfo", lambda: call("GET", "/userinfo", headers={"Authorization": f"Bearer {access}"})),
        ("code_flow_es256", lambda: code_flow(es_id, es_basic)),
        ("code_flow_rs256", lambda: code_flow(rs_id, rs_basic)),
    ]
    only = os.environ.get("CALLGRIND_ONLY", "").split()
    ctl = ["callgrind_control"]
    for name, run in scenarios:
        if only and name not in only:
            continue
        if name == "introspect_distinct_first_use":
            distinct.clear()
            for _ in range(requests):
                mint_distinct()
            run = introspect_distinct
        for _ in range(20):  # warm up (caches, connections)
            if name == "introspect_distinct_first_use":
                break
            run()
        subprocess.run([*ctl, "-z", str(server.pid)], check=True, capture_output=True)
        subprocess.run([*ctl, "-i", "on", str(server.pid)], check=True, capture_output=True)
        for _ in range(requests):
            run()
        subprocess.run([*ctl, "-i", "off", str(server.pid)], check=True, capture_output=True)
        subprocess.run([*ctl, "-d", name, str(server.pid)], check=True, capture_output=True)
        time.sleep(0.5)
        dumps = sorted(
            (f for f in os.listdir(work) if f.startswith(f"cg.{server.pid}.")),
            key=lambda f: os.path.getmtime(f"{work}/{f}"),
        )
        total = 0
        with open(f"{work}/{dumps[-1]}") as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
        os.rename(f"{work}/{dumps[-1]}", f"{work}/cg.{name}")
        print(f"{name}\t{total // requests}\tinstructions per {'flow' if 'flow' in name else 'request'}",
              flush=True)
finally:
    server.terminate()
    server.wait()
