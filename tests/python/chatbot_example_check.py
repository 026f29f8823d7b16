"""Checks a run of examples/chatbot (see its run-ci.sh): what the chatbot printed, what the API
(resource_server.py) logged, and that the API refuses what it must.

- The chatbot's output: the device flow linked the user, the API refused the user's own token
  (addressed to Gatehouse), the exchanged token's `sub` is the user's id and its `act.sub` the
  bot's client id, `aud` the API, and the API accepted it and answered the same `sub` and `act`.
- The API's log: exactly one accepted token, with that `sub` and `act`.
- Tokens the API must refuse (401 `invalid_token`), sent here directly: none at all; a bare
  string; the bot's client-credentials token (a real, live token, but addressed to Gatehouse);
  a token with the right claims signed with another key under a published key id; one with a key
  id the issuer never published.

usage: chatbot_example_check.py ISSUER CLIENT_ID CLIENT_SECRET USER_ID API_URL AUDIENCE CHATBOT_OUTPUT API_LOG
"""

import json
import re
import sys
import time
from pathlib import Path

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_pages import check  # noqa: E402


def value_of(output, label):
    """The JSON value printed after `label:` (the last such line), e.g. `  act: {"sub": "…"}`."""
    found = re.findall(rf"^\s*{re.escape(label)}: (.+)$", output, re.M)
    check(found, f"the chatbot printed no `{label}:` line")
    return json.loads(found[-1])


def section(output, title):
    parts = output.split(f"== {title}", 1)
    check(len(parts) == 2, f"the chatbot printed no section {title!r}")
    return parts[1].split("\n== ", 1)[0]


def api_refuses(api, token, what):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    answer = requests.get(api, headers=headers, timeout=10)
    check(answer.status_code == 401, f"{what}: the API answered {answer.status_code}: {answer.text}")
    check(answer.headers.get("WWW-Authenticate", "").startswith("Bearer"), f"{what}: no Bearer challenge")
    if token is not None:
        check(answer.json().get("error") == "invalid_token", f"{what}: {answer.text}")
    print(f"the API refuses {what}: {answer.json().get('error_description', answer.json().get('error'))}")


def main(argv):
    if len(argv) != 9:
        sys.exit(__doc__.strip().splitlines()[-1])
    issuer, client_id, client_secret, user_id, api, audience, output_file, log_file = argv[1:]
    output = Path(output_file).read_text()
    api_log = Path(log_file).read_text()

    check("linked after" in output, "the device flow did not link the user")
    user_part = section(output, "1.")
    check(
        re.search(r"the API with the user's own token: HTTP 401 .*audience", user_part, re.I),
        "the API did not refuse the user's own token for its audience",
    )
    exchange = section(output, "3.")
    check(
        value_of(exchange, "issued_token_type") == "urn:ietf:params:oauth:token-type:access_token",
        "issued_token_type",
    )
    check(value_of(exchange, "sub") == user_id, f"exchanged sub {value_of(exchange, 'sub')}, expected {user_id}")
    check(value_of(exchange, "act") == {"sub": client_id}, f"exchanged act {value_of(exchange, 'act')}")
    aud = value_of(exchange, "aud")
    check(aud == audience or aud == [audience], f"exchanged aud {aud}, expected {audience}")
    called = section(output, "4.")
    check("the API accepted the token: HTTP 200" in called, "the API did not accept the exchanged token")
    check(value_of(called, "API says sub") == user_id, "the API saw another sub")
    check(value_of(called, "API says act") == {"sub": client_id}, "the API saw another act")
    print(f"chatbot output: sub {user_id}, act.sub {client_id}, aud {audience}, accepted by the API: ok")

    accepted = re.findall(r"^accepted: sub=(\S+) act=(.+) client_id=\S*$", api_log, re.M)
    check(len(accepted) == 1, f"the API log shows {len(accepted)} accepted tokens: {api_log}")
    check(accepted[0][0] == user_id and json.loads(accepted[0][1]) == {"sub": client_id}, f"API log: {accepted}")
    check(re.search(r"^rejected: .*audience", api_log, re.M | re.I), "the API log does not show the user's token rejected")
    print("API log: one token accepted (the exchanged one), the user's own rejected: ok")

    api_refuses(api, None, "a request without a token")
    api_refuses(api, "not.a.token", "a string that is not a JWT")
    bot = requests.post(
        f"{issuer}/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret), timeout=10
    )
    check(bot.status_code == 200, f"client credentials: {bot.text}")
    bot_token = bot.json()["access_token"]
    api_refuses(api, bot_token, "the bot's own token (aud is Gatehouse, not the API)")

    real_kid = jwt.get_unverified_header(bot_token)["kid"]
    now = int(time.time())
    forged_claims = {
        "iss": issuer,
        "sub": user_id,
        "aud": audience,
        "act": {"sub": client_id},
        "client_id": client_id,
        "iat": now,
        "exp": now + 300,
        "jti": "forged",
    }
    impostor = ec.generate_private_key(ec.SECP256R1())
    for kid, what in ((real_kid, "a token signed with another key under a published kid"),
                      ("never-published", "a token with an unknown kid")):
        forged = jwt.encode(forged_claims, impostor, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})
        api_refuses(api, forged, what)
    print("the API refuses what it must: ok")


if __name__ == "__main__":
    main(sys.argv)
