"""Token exchange (RFC 8693) with an unmodified client library in another language:
requests-oauth2client, whose `OAuth2Client.token_exchange()` writes the RFC 8693 §2.1 request
itself (grant type, token type identifiers guessed from its `BearerToken` objects) and maps error
responses to its own exception classes (`InvalidTarget`, `InvalidRequest`, …). The same library
runs the device flow that gets the user's token (`authorize_device()`, `device_code()`, RFC
8628), with the code approved through Gatehouse's real pages (device_pages.py).

Checked against a running Gatehouse and a confidential client registered for the device code,
client credentials and token-exchange grants with AUDIENCE as its only exchange audience:
- delegation: `issued_token_type` is the access-token type, `token_type` Bearer, no refresh
  token; the new token's `sub` is the user, `act` is `{"sub": CLIENT_ID}` (the actor token's
  subject), `aud` is AUDIENCE, `exp` not later than the subject token's; the same with the API
  named by `resource` (RFC 8707) instead of `audience`; introspection (RFC 7662) shows `act`;
- a second exchange of that token nests the earlier actor (RFC 8693 §4.1);
- `invalid_target` for an audience or a resource the client is not registered for;
- `invalid_request` for a subject token Gatehouse did not issue;
- `invalid_request` without an actor token (impersonation): the client is not registered for it.

usage: token_exchange_client.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD USER_ID AUDIENCE
"""

import sys
from pathlib import Path

import jwt
import requests
from requests_oauth2client import ClientSecretBasic, OAuth2Client
from requests_oauth2client.exceptions import EndpointError, InvalidRequest, InvalidTarget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_pages import check, decide  # noqa: E402

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ELSEWHERE = "https://elsewhere.example.test/"


def claims(token):
    """The payload of one of our tokens; signatures are the resource server's concern here."""
    return jwt.decode(token.access_token, options={"verify_signature": False})


def refused(expected, what, call):
    """Runs `call`, which must raise the library's `expected` exception class."""
    try:
        call()
    except expected as err:
        print(f"  {what}: {err.error} ({err.description})")
        return err
    except EndpointError as err:
        raise AssertionError(f"{what}: expected {expected.__name__}, got {err.error}: {err.description}") from err
    raise AssertionError(f"{what}: expected {expected.__name__}, the exchange succeeded")


def main(argv):
    if len(argv) != 8:
        sys.exit(__doc__.strip().splitlines()[-1])
    issuer, client_id, client_secret, username, password, user_id, audience = argv[1:]
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    client = OAuth2Client.from_discovery_document(
        metadata,
        issuer=issuer,
        # The library's default for a (id, secret) pair is client_secret_post; the client is
        # registered for client_secret_basic, and Gatehouse holds it to that.
        auth=ClientSecretBasic(client_id, client_secret),
        device_authorization_endpoint=metadata["device_authorization_endpoint"],
        testing=True,  # an http issuer on loopback; the library insists on https otherwise
    )

    # The user's token, through the library's device flow; approved before the first poll, so
    # one poll redeems it.
    device = client.authorize_device(scope="openid profile")
    decide(issuer, username, password, device.verification_uri_complete)
    user_token = client.device_code(device.device_code)
    check(claims(user_token)["sub"] == user_id, f"device flow: sub {claims(user_token)['sub']}")
    bot_token = client.client_credentials()
    print(f"device flow and client credentials through requests-oauth2client: ok (user {user_id})")

    exchanged = client.token_exchange(
        subject_token=user_token,
        actor_token=bot_token,
        requested_token_type=ACCESS_TOKEN_TYPE,
        audience=audience,
    )
    check(exchanged.kwargs.get("issued_token_type") == ACCESS_TOKEN_TYPE, f"issued_token_type: {exchanged.kwargs}")
    check(exchanged.token_type.lower() == "bearer", f"token_type {exchanged.token_type}")
    check(exchanged.refresh_token is None, "a token exchange must not issue a refresh token")
    issued = claims(exchanged)
    check(issued["sub"] == user_id, f"sub {issued['sub']}, expected the user {user_id}")
    check(issued.get("act") == {"sub": client_id}, f"act {issued.get('act')}, expected the bot {client_id}")
    aud = issued["aud"] if isinstance(issued["aud"], list) else [issued["aud"]]
    check(aud == [audience], f"aud {issued['aud']}, expected [{audience}]")
    check(issued["exp"] <= claims(user_token)["exp"], "the new token outlives the subject token")
    print(f"delegation: issued_token_type, sub, act {issued['act']}, aud, exp: ok")

    by_resource = claims(
        client.token_exchange(subject_token=user_token, actor_token=bot_token, resource=audience)
    )
    check(by_resource["aud"] in (audience, [audience]), f"resource= exchange: aud {by_resource['aud']}")
    check(by_resource.get("act") == {"sub": client_id}, f"resource= exchange: act {by_resource.get('act')}")
    print("the same API named with resource (RFC 8707) instead of audience: ok")

    introspected = client.introspect_token(exchanged, token_type_hint="access_token")
    check(introspected.get("active") is True, f"introspection: {introspected}")
    check(introspected.get("act") == {"sub": client_id}, f"introspection act: {introspected.get('act')}")
    print("introspection shows act: ok")

    again = client.token_exchange(subject_token=exchanged, actor_token=bot_token, audience=audience)
    nested = claims(again).get("act")
    check(nested == {"sub": client_id, "act": {"sub": client_id}}, f"a second exchange: act {nested}")
    print(f"a second exchange nests the earlier actor: {nested}: ok")

    print("refused as RFC 8693 §2.2.2 says:")
    refused(
        InvalidTarget,
        "audience not registered",
        lambda: client.token_exchange(subject_token=user_token, actor_token=bot_token, audience=ELSEWHERE),
    )
    refused(
        InvalidTarget,
        "resource not registered",
        lambda: client.token_exchange(subject_token=user_token, actor_token=bot_token, resource=ELSEWHERE),
    )
    refused(
        InvalidRequest,
        "a subject token Gatehouse did not issue",
        lambda: client.token_exchange(
            subject_token="not-a-token", subject_token_type="access_token", actor_token=bot_token, audience=audience
        ),
    )
    refused(
        InvalidRequest,
        "no actor token (impersonation, not allowed for this client)",
        lambda: client.token_exchange(subject_token=user_token, audience=audience),
    )
    print("token exchange through requests-oauth2client: ok")


if __name__ == "__main__":
    main(sys.argv)
