"""A tiny API that accepts Gatehouse access tokens addressed to it, checking them offline.

It reads the issuer's discovery document once, then validates each `Authorization: Bearer`
token against the published keys (the JWKS, fetched once and again only for a key id it has not
seen) as RFC 9068 §4 says a resource server should: header `typ` `at+jwt`, a signature by one of
the issuer's keys, `iss` the issuer, `aud` naming this API's identifier, `exp` in the future. No
call to the authorization server per request: no introspection.

`GET /` (any path) answers 200 with the token's `sub`, `act`, `client_id` and `scope` as JSON,
and prints the same on standard output; a missing or unacceptable token gets 401 with
`WWW-Authenticate: Bearer` and the reason (RFC 6750 §3).

usage: resource_server.py --issuer URL --identifier URI [--port N]
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import requests

# RFC 9068 §2.1; `application/at+jwt` is the same media type written out in full (RFC 7515 §4.1.9).
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
# The algorithms Gatehouse signs access tokens with (`tokens.access_token_alg`).
ALGORITHMS = ["ES256", "RS256"]


class TokenRejected(Exception):
    pass


class Validator:
    def __init__(self, issuer, identifier):
        self.issuer = issuer
        self.identifier = identifier
        discovery = requests.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=10)
        discovery.raise_for_status()
        metadata = discovery.json()
        if metadata.get("issuer") != issuer:
            raise SystemExit(f"discovery names issuer {metadata.get('issuer')!r}, expected {issuer!r}")
        # Keys are cached; an unknown `kid` (a rotation) refetches the set, nothing else does.
        self.keys = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=True, lifespan=3600)

    def validate(self, token):
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as err:
            raise TokenRejected(f"not a JWT: {err}") from err
        if header.get("typ") not in ACCESS_TOKEN_TYPES:
            raise TokenRejected(f"typ is {header.get('typ')!r}, not at+jwt: not an access token")
        try:
            key = self.keys.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self.issuer,
                audience=self.identifier,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientError as err:
            raise TokenRejected(f"no published key: {err}") from err
        except jwt.InvalidTokenError as err:
            raise TokenRejected(f"{type(err).__name__}: {err}") from err


def handler_for(validator):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token:
                # RFC 6750 §3.1: no error code when the request carried no token at all.
                return self.answer(401, {"error": "no bearer token"}, 'Bearer realm="api"')
            try:
                claims = validator.validate(token.strip())
            except TokenRejected as err:
                print(f"rejected: {err}", flush=True)
                reason = str(err).replace('"', "'")
                return self.answer(
                    401,
                    {"error": "invalid_token", "error_description": str(err)},
                    f'Bearer realm="api", error="invalid_token", error_description="{reason}"',
                )
            seen = {name: claims.get(name) for name in ("sub", "act", "client_id", "scope")}
            print(f"accepted: sub={seen['sub']} act={json.dumps(seen['act'])} client_id={seen['client_id']}", flush=True)
            return self.answer(200, seen)

        def answer(self, status, body, challenge=None):
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            if challenge:
                self.send_header("WWW-Authenticate", challenge)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            pass  # one line per decision above is enough

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--issuer", required=True, help="the Gatehouse issuer URL")
    parser.add_argument("--identifier", required=True, help="this API's resource identifier (the tokens' aud)")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    validator = Validator(args.issuer, args.identifier)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(validator))
    print(f"API {args.identifier} listening on http://127.0.0.1:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
