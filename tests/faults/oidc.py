#!/usr/bin/env python3
"""Browser-less helpers for tests/faults/run.sh. Standard library only, no redirects followed.

usage:
  oidc.py csrf BASE
      GET /login; prints `COOKIE TOKEN` (the gh_csrf double-submit cookie and the form's token).
  oidc.py login BASE USERNAME PASSWORD
      Signs in through the real login form; prints the gh_session cookie value.
  oidc.py code-flow BASE CLIENT_ID CLIENT_SECRET REDIRECT_URI SESSION
      With that browser session: GET /authorize (first-party client, so no consent page), then
      exchanges the code at /token (client_secret_basic); prints the token response as JSON.
  oidc.py load BASE SECONDS THREADS CLIENT_ID CLIENT_SECRET OUT
      Keeps THREADS connections busy for SECONDS: each loops over a self-service registration
      (POST /api/v1/users, a new username each time: a Postgres write) and a client_credentials
      request at /token (which reads the client from Postgres whenever its 5 s cache expired).
      Writes one line per answer to OUT: `SECONDS_SINCE_START STATUS KIND USERNAME` (status 000
      when nothing came back within 5 s or the connection failed).
  oidc.py json FIELD [FIELD ...] < JSON
      Prints each top-level FIELD of the JSON document on stdin, one per line (empty if absent;
      true/false for booleans; nested values as JSON).
Any unexpected answer exits 1 with what was received on stderr.
"""
import base64
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse

TIMEOUT = 10


def connect(base):
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT)


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, resp.headers, resp.read()


def cookie(headers, name):
    for value in headers.get_all("Set-Cookie") or []:
        key, _, val = value.split(";", 1)[0].partition("=")
        if key.strip() == name:
            return val.strip()
    return None


def fail(what, status, headers, body):
    location = headers.get("Location", "") if headers else ""
    sys.exit(f"oidc.py: {what}: HTTP {status} {location} {body[:300]!r}")


def csrf(conn):
    status, headers, body = request(conn, "GET", "/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    csrf_cookie = cookie(headers, "gh_csrf")
    if status != 200 or not token or not csrf_cookie:
        fail("GET /login gave no CSRF cookie and token", status, headers, body)
    return csrf_cookie, token.group(1).decode()


def login(conn, username, password):
    csrf_cookie, token = csrf(conn)
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrf_token": token, "return_to": ""}
    )
    status, headers, body = request(
        conn,
        "POST",
        "/login",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"gh_csrf={csrf_cookie}"},
    )
    session = cookie(headers, "gh_session")
    if status != 303 or not session:
        fail("POST /login", status, headers, body)
    return session


def code_flow(conn, client_id, client_secret, redirect_uri, session):
    path = "/authorize?" + urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email offline_access",
            "state": "faults",
            "nonce": "faults",
        }
    )
    status, headers, body = request(conn, "GET", path, headers={"Cookie": f"gh_session={session}"})
    location = headers.get("Location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code")
    if status != 302 or not code:
        fail("GET /authorize", status, headers, body)
    basic = base64.b64encode(
        f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}".encode()
    ).decode()
    form = urllib.parse.urlencode(
        {"grant_type": "authorization_code", "code": code[0], "redirect_uri": redirect_uri}
    )
    status, headers, body = request(
        conn,
        "POST",
        "/token",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
    )
    if status != 200:
        fail("code exchange at /token", status, headers, body)
    return body.decode()


def load(base, seconds, threads, client_id, client_secret, out):
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    started = time.monotonic()
    lines = []
    lock = threading.Lock()

    def one(conn, kind, method, path, body, headers, username=""):
        sent = time.monotonic() - started
        try:
            status, _, _ = request(conn, method, path, body, headers)
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
        with lock:
            lines.append(f"{sent:.3f} {status:03d} {kind} {username}")

    def worker(n):
        conn = http.client.HTTPConnection(
            urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port, timeout=5
        )
        i = 0
        while time.monotonic() - started < seconds:
            i += 1
            username = f"load{n}x{i}x{int(started)}"
            one(
                conn,
                "register",
                "POST",
                "/api/v1/users",
                json.dumps(
                    {
                        "username": username,
                        "email": f"{username}@example.com",
                        "password": f"{username} passphrase",
                    }
                ),
                {"Content-Type": "application/json"},
                username,
            )
            one(
                conn,
                "token",
                "POST",
                "/token",
                "grant_type=client_credentials",
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Authorization": f"Basic {basic}",
                },
            )
            time.sleep(0.02)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with open(out, "w") as f:
        f.write("\n".join(sorted(lines, key=lambda l: float(l.split()[0]))) + "\n")


def json_fields(fields):
    try:
        doc = json.load(sys.stdin)
    except ValueError:
        doc = {}
    for field in fields:
        value = doc.get(field) if isinstance(doc, dict) else None
        if value is None:
            print("")
        elif isinstance(value, bool):
            print("true" if value else "false")
        elif isinstance(value, str):
            print(value)
        else:
            print(json.dumps(value))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "json":
        json_fields(args)
    elif command == "csrf" and len(args) == 1:
        print(*csrf(connect(args[0])))
    elif command == "login" and len(args) == 3:
        print(login(connect(args[0]), args[1], args[2]))
    elif command == "load" and len(args) == 6:
        load(args[0], float(args[1]), int(args[2]), *args[3:])
    elif command == "code-flow" and len(args) == 5:
        print(code_flow(connect(args[0]), *args[1:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
