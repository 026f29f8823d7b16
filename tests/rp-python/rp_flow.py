"""An unmodified OIDC relying party (Authlib) against a running Gatehouse.

Pointed only at the issuer URL and a client created with `gatehouse client create`, it walks the
whole flow: discovery, authorization code + PKCE through the real login and consent pages, ID
token validation against the JWKS, userinfo, refresh, introspection, revocation and RP-initiated
logout. Any deviation raises, so the script exits non-zero.

usage: rp_flow.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
"""

import re
import secrets
import sys
from html import unescape
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

REDIRECT_URI = "http://rp.example.test/callback"
POST_LOGOUT_URI = "http://rp.example.test/bye"


def hidden_fields(html):
    pattern = r'<input type="hidden" name="([^"]*)" value="([^"]*)">'
    return {unescape(n): unescape(v) for n, v in re.findall(pattern, html)}


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def browse_to_callback(browser, issuer, url, username, password):
    """Follows the browser until Gatehouse redirects to the RP's redirect_uri."""
    for _ in range(10):
        if url.startswith(REDIRECT_URI):
            return url
        response = browser.get(urljoin(issuer, url), allow_redirects=False)
        if response.is_redirect:
            url = urljoin(issuer, response.headers["location"])
            continue
        check(response.status_code == 200, f"unexpected {response.status_code} at {url}")
        fields = hidden_fields(response.text)
        if 'action="/login"' in response.text:
            fields.update(username=username, password=password)
            response = browser.post(urljoin(issuer, "/login"), data=fields, allow_redirects=False)
            check(response.status_code == 303, f"login failed: {response.status_code}")
        elif 'name="consent"' in response.text:
            fields["consent"] = "approve"
            response = browser.post(urljoin(issuer, "/authorize"), data=fields, allow_redirects=False)
            check(response.is_redirect, f"consent failed: {response.status_code}")
        else:
            raise AssertionError(f"unexpected page at {url}")
        url = urljoin(issuer, response.headers["location"])
    raise AssertionError("too many redirects")


def main(issuer, client_id, client_secret, username, password):
    meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    check(meta["issuer"] == issuer, "issuer mismatch in discovery")
    jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())

    rp = OAuth2Session(
        client_id,
        client_secret,
        scope="openid profile email offline_access",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )

    browser = requests.Session()
    callback = browse_to_callback(browser, issuer, url, username, password)
    query = parse_qs(urlparse(callback).query)
    check(query.get("iss") == [issuer], "RFC 9207 iss missing from the callback")

    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
    )
    claims = jwt.decode(
        token["id_token"],
        jwks,
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "nonce": {"essential": True, "value": nonce},
            "exp": {"essential": True},
        },
    )
    claims.validate()
    check(isinstance(claims["iat"], int) and isinstance(claims["exp"], int), "non-integer timestamps")
    access_token = token["access_token"]
    check(jwt.decode(access_token, jwks).header.get("typ") == "at+jwt", "access token typ")

    userinfo = rp.get(meta["userinfo_endpoint"]).json()
    check(userinfo["sub"] == claims["sub"], "userinfo sub mismatch")
    check(userinfo.get("preferred_username") == username, "userinfo username")

    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    check(refreshed["refresh_token"] != token["refresh_token"], "refresh token not rotated")

    active = rp.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    check(active["active"] is True, "fresh token not active")
    rp.revoke_token(meta["revocation_endpoint"], token=refreshed["access_token"])
    inactive = rp.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    check(inactive["active"] is False, "revoked token still active")

    logout = browser.get(
        meta["end_session_endpoint"],
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "bye",
        },
        allow_redirects=False,
    )
    check(logout.headers.get("location") == f"{POST_LOGOUT_URI}?state=bye", "logout redirect")
    account = browser.get(f"{issuer}/account", allow_redirects=False)
    check(account.status_code == 303, "session survived logout")
    print("python relying party (authlib): 1 passed, 0 failed")


if __name__ == "__main__":
    main(*sys.argv[1:6])
