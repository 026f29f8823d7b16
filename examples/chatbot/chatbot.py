"""A chatbot that links a chat user's Gatehouse account and calls an API on the user's behalf.

1. Device authorization (RFC 8628): the bot asks `/device_authorization` for a code, shows the
   user the code and the link (in a chat, a message), and polls `/token` at the interval the
   server gave, slowing down when told to (`slow_down`), until the user allows or denies.
2. Its own token: client credentials (RFC 6749 §4.4). This is the actor token, so the API can
   see which bot acts.
3. Token exchange (RFC 8693): the user's access token (subject) and the bot's (actor) become one
   access token for the API only (`aud`), with `act: {"sub": <the bot>}` (delegation: the user's
   identity, the bot as the one acting), expiring no later than the user's token.
4. The API call with that token; the API (resource_server.py) validates it offline.

The user's own token is tried on the API first, to show why the exchange is needed: it is
addressed to Gatehouse, not to the API, so the API refuses it.

Decoded claims are printed for the reader. The bot does not verify its own tokens' signatures
(it got them straight from the token endpoint over the connection it chose, OpenID Connect Core
§3.1.3.7 makes the same allowance for the ID token); the API verifies everything.

usage: chatbot.py --issuer URL --client-id ID --client-secret SECRET --api URL [--audience URI]
       (CHATBOT_CLIENT_SECRET in the environment instead of --client-secret)
"""

import argparse
import base64
import json
import os
import sys
import time

import requests

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class Failed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def claims_of(jwt):
    """The payload of a JWT, not verified (see the module doc)."""
    try:
        payload = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as err:
        raise Failed(f"the access token is not a JWT: {err}") from err


def oauth_error(response):
    try:
        body = response.json()
        return body.get("error", "?"), body.get("error_description", "")
    except ValueError:
        return f"HTTP {response.status_code}", response.text[:200]


class Bot:
    def __init__(self, issuer, client_id, client_secret):
        self.http = requests.Session()
        self.auth = (client_id, client_secret)  # client_secret_basic, the client's registered method
        self.client_id = client_id
        discovery = self.http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=10)
        discovery.raise_for_status()
        self.metadata = discovery.json()
        for needed in ("device_authorization_endpoint", "token_endpoint"):
            if needed not in self.metadata:
                raise Failed(f"discovery has no {needed}")
        for grant in (DEVICE_CODE, TOKEN_EXCHANGE):
            if grant not in self.metadata.get("grant_types_supported", []):
                raise Failed(f"the server does not advertise {grant}")

    def token_request(self, **form):
        return self.http.post(self.metadata["token_endpoint"], data=form, auth=self.auth, timeout=10)

    def link_user(self, scope):
        """RFC 8628 §3.1–3.5: the user's tokens, once they allow the request."""
        started = self.http.post(
            self.metadata["device_authorization_endpoint"], data={"scope": scope}, auth=self.auth, timeout=10
        )
        if started.status_code != 200:
            raise Failed("device authorization refused: %s %s" % oauth_error(started))
        grant = started.json()
        say("To link your account, open this link and allow the request:")
        say(f"  verification_uri_complete: {grant['verification_uri_complete']}")
        say(f"or go to {grant['verification_uri']} and enter the code")
        say(f"  user_code: {grant['user_code']}")
        interval = grant.get("interval", 5)  # §3.2: 5 s when the server names none
        deadline = time.monotonic() + grant["expires_in"]
        polls = 0
        while time.monotonic() < deadline:
            time.sleep(interval)
            polls += 1
            answer = self.token_request(grant_type=DEVICE_CODE, device_code=grant["device_code"])
            if answer.status_code == 200:
                say(f"linked after {polls} poll(s)")
                return answer.json()
            error, description = oauth_error(answer)
            if error == "authorization_pending":
                continue
            if error == "slow_down":  # §3.5: this and every later poll 5 s further apart
                interval += 5
                say(f"asked to slow down: polling every {interval} s")
                continue
            raise Failed(f"linking failed: {error} {description}")  # access_denied, expired_token, …
        raise Failed("linking failed: the code expired before the user decided")

    def own_token(self):
        """The bot's own access token (client credentials), used as the actor token."""
        answer = self.token_request(grant_type="client_credentials")
        if answer.status_code != 200:
            raise Failed("client credentials refused: %s %s" % oauth_error(answer))
        return answer.json()["access_token"]

    def exchange(self, subject_token, actor_token, audience):
        """RFC 8693 §2.1: a token for `audience` carrying the user as `sub`, the bot as `act`."""
        answer = self.token_request(
            grant_type=TOKEN_EXCHANGE,
            subject_token=subject_token,
            subject_token_type=ACCESS_TOKEN_TYPE,
            actor_token=actor_token,
            actor_token_type=ACCESS_TOKEN_TYPE,
            requested_token_type=ACCESS_TOKEN_TYPE,
            audience=audience,
        )
        if answer.status_code != 200:
            raise Failed("token exchange refused: %s %s" % oauth_error(answer))
        return answer.json()


def call_api(api, token):
    return requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def summary(claims):
    for name in ("sub", "act", "aud", "client_id", "scope"):
        if name in claims:
            say(f"  {name}: {json.dumps(claims[name])}")
    say(f"  expires in: {claims['exp'] - int(time.time())} s")


def run(args):
    bot = Bot(args.issuer, args.client_id, args.client_secret)

    say("== 1. Linking the chat user's account (device authorization, RFC 8628)")
    user = bot.link_user(args.scope)
    user_token = user["access_token"]
    user_claims = claims_of(user_token)
    say(f"the user's access token (for {json.dumps(user_claims.get('aud'))}):")
    summary(user_claims)
    say(f"  refresh token: {'yes' if 'refresh_token' in user else 'no'} (kept by the bot to stay linked)")

    refused = call_api(args.api, user_token)
    say(f"the API with the user's own token: HTTP {refused.status_code} {refused.json().get('error_description', '')}")
    if refused.status_code != 401:
        raise Failed("the API accepted a token that is not addressed to it")

    say()
    say("== 2. The bot's own token (client credentials): the actor")
    actor_token = bot.own_token()
    say(f"  sub: {json.dumps(claims_of(actor_token)['sub'])}")

    say()
    say("== 3. Token exchange (RFC 8693): the user's token for one addressed to the API, the bot acting")
    exchanged = bot.exchange(user_token, actor_token, args.audience)
    say(f"  issued_token_type: {json.dumps(exchanged.get('issued_token_type'))}")
    say(f"  token_type: {json.dumps(exchanged.get('token_type'))}")
    say(f"  refresh token: {'yes' if 'refresh_token' in exchanged else 'no'}")
    api_claims = claims_of(exchanged["access_token"])
    summary(api_claims)

    say()
    say(f"== 4. Calling the API at {args.api}")
    answer = call_api(args.api, exchanged["access_token"])
    if answer.status_code != 200:
        raise Failed(f"the API refused the exchanged token: HTTP {answer.status_code} {answer.text}")
    seen = answer.json()
    say(f"the API accepted the token: HTTP {answer.status_code}")
    say(f"  API says sub: {json.dumps(seen.get('sub'))}")
    say(f"  API says act: {json.dumps(seen.get('act'))}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default=os.environ.get("CHATBOT_CLIENT_SECRET"))
    parser.add_argument("--api", required=True, help="the API's URL (resource_server.py)")
    parser.add_argument(
        "--audience", default="https://api.example.test/", help="the API's identifier, an exchange audience of the client"
    )
    parser.add_argument("--scope", default="openid profile offline_access", help="what the bot asks the user for")
    args = parser.parse_args()
    if not args.client_secret:
        parser.error("--client-secret or CHATBOT_CLIENT_SECRET is required")
    try:
        return run(args)
    except (Failed, requests.RequestException) as err:
        say(f"FAILED: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
