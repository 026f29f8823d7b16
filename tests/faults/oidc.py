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
    elif command == "code-flow" and len(args) == 5:
        print(code_flow(connect(args[0]), *args[1:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
