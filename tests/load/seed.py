#!/usr/bin/env python3
"""Prepares the load run against a started gatehouse: signs a user in through the real login form,
runs real authorization code flows, and prints what the wrk scripts need as shell assignments.

usage: seed.py BASE_URL CLIENT_ID CLIENT_SECRET USERNAME PASSWORD REDIRECT_URI REFRESH_POOL OUT_DIR
       seed.py exchange BASE_URL CLIENT_ID CLIENT_SECRET USERNAME PASSWORD REDIRECT_URI SCOPE
       seed.py tokens BASE_URL CLIENT_ID CLIENT_SECRET COUNT OUT_FILE

Writes OUT_DIR/refresh_tokens.lua (the refresh-token pool) and prints `KEY=value` lines:
SESSION_COOKIE, CSRF_COOKIE, CSRF_TOKEN, ACCESS_TOKEN (a user token with openid profile email),
SESSION_HANDLE (SHA-256 of the session cookie, its store key), UNUSED_CODE (a live code that is
never exchanged, for measuring its size in the store).

`exchange` prepares the token-exchange scenario (RFC 8693) for a first-party client registered
for authorization_code, client_credentials and the token-exchange grant: it signs USERNAME in
afresh (the session of the first form may have been pushed out by the login scenarios since),
runs one code flow for that client and prints SUBJECT_TOKEN (the user's access token with SCOPE,
issued to the client, so the client may exchange it) and ACTOR_TOKEN (the client's own
client_credentials token, the actor of the delegation).
`tokens` mints COUNT distinct client_credentials access tokens for the introspection scenario
over many tokens (lua/introspect_many.lua) and writes them to OUT_FILE as the Lua table
`introspect_tokens`; it prints nothing.
Standard library only, no redirects followed.
"""
import base64
import hashlib
import http.client
import json
import re
import sys
import urllib.parse

if len(sys.argv) > 1 and sys.argv[1] == "tokens":
    import concurrent.futures

    base, client_id, client_secret, count, out_file = sys.argv[2:7]
    url = urllib.parse.urlsplit(base)
    basic = "Basic " + base64.b64encode(
        f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}".encode()
    ).decode()

    def mint(n):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        tokens = []
        for _ in range(n):
            conn.request(
                "POST",
                "/token",
                "grant_type=client_credentials",
                {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic},
            )
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                sys.exit(f"seed: client_credentials returned {resp.status}: {body[:200]!r}")
            tokens.append(json.loads(body)["access_token"])
        return tokens

    count, workers = int(count), 4
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        shares = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
        minted = [t for part in pool.map(mint, shares) for t in part]
    if len(set(minted)) != count:
        sys.exit(f"seed: {len(set(minted))} distinct tokens of {count}")
    with open(out_file, "w") as f:
        f.write("introspect_tokens = {\n")
        for token in minted:
            f.write(f'  "{token}",\n')
        f.write("}\n")
    sys.exit(0)

exchange_mode = len(sys.argv) > 1 and sys.argv[1] == "exchange"
if exchange_mode:
    base, client_id, client_secret, username, password, redirect_uri, scope = sys.argv[2:9]
else:
    base, client_id, client_secret, username, password, redirect_uri, pool, out_dir = sys.argv[1:9]
    pool = int(pool)
    scope = "openid profile email offline_access"
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
basic = "Basic " + base64.b64encode(
    f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}".encode()
).decode()
form_headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}


def request(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp.headers, data


def cookie(headers, name):
    for value in headers.get_all("Set-Cookie") or []:
        first = value.split(";", 1)[0]
        key, _, val = first.partition("=")
        if key.strip() == name:
            return val.strip()
    sys.exit(f"seed: no {name} cookie in response")


def sign_in():
    """Logs in through the form, as a browser would: the CSRF cookie and form token come from
    GET. Returns the session cookie, the CSRF cookie and the form token."""
    status, headers, body = request("GET", "/login")
    csrf_cookie = cookie(headers, "gh_csrf")
    match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    if status != 200 or not match:
        sys.exit(f"seed: GET /login returned {status} without a csrf token")
    csrf_token = match.group(1).decode()
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrf_token": csrf_token, "return_to": ""}
    )
    status, headers, body = request(
        "POST",
        "/login",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"gh_csrf={csrf_cookie}"},
    )
    if status != 303:
        sys.exit(f"seed: POST /login returned {status}: {body[:200]!r}")
    return cookie(headers, "gh_session"), csrf_cookie, csrf_token


authorize_path = "/authorize?" + urllib.parse.urlencode(
    {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "load",
        "nonce": "load",
    }
)


def code():
    status, headers, body = request("GET", authorize_path, headers={"Cookie": f"gh_session={session}"})
    location = headers.get("Location", "")
    found = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code")
    if status != 302 or not found:
        sys.exit(f"seed: /authorize returned {status} -> {location!r} {body[:200]!r}")
    return found[0]


def exchange(value):
    form = urllib.parse.urlencode(
        {"grant_type": "authorization_code", "code": value, "redirect_uri": redirect_uri}
    )
    status, _, body = request("POST", "/token", form, form_headers)
    if status != 200:
        sys.exit(f"seed: code exchange returned {status}: {body[:200]!r}")
    return json.loads(body)


if exchange_mode:
    session, _, _ = sign_in()
    subject = exchange(code())["access_token"]
    status, _, body = request(
        "POST", "/token", urllib.parse.urlencode({"grant_type": "client_credentials"}), form_headers
    )
    if status != 200:
        sys.exit(f"seed: client_credentials returned {status}: {body[:200]!r}")
    print(f"SUBJECT_TOKEN={subject}")
    print(f"ACTOR_TOKEN={json.loads(body)['access_token']}")
    sys.exit(0)

session, csrf_cookie, csrf_token = sign_in()
refresh_tokens = []
access_token = None
for _ in range(pool):
    tokens = exchange(code())
    refresh_tokens.append(tokens["refresh_token"])
    access_token = tokens["access_token"]

with open(f"{out_dir}/refresh_tokens.lua", "w") as f:
    f.write("seed_tokens = {\n")
    for token in refresh_tokens:
        f.write(f'  "{token}",\n')
    f.write("}\n")

print(f"SESSION_COOKIE={session}")
print(f"SESSION_HANDLE={hashlib.sha256(session.encode()).hexdigest()}")
print(f"CSRF_COOKIE={csrf_cookie}")
print(f"CSRF_TOKEN={csrf_token}")
print(f"ACCESS_TOKEN={access_token}")
print(f"UNUSED_CODE={code()}")
