"""An unmodified OIDC relying party (Authlib) against a running Gatehouse.

Pointed only at the issuer URL and a client created with `gatehouse client create`, it walks the
whole flow: discovery, authorization code + PKCE through the real login and consent pages, ID
token validation against the JWKS, userinfo, refresh, introspection, revocation and RP-initiated
logout. Any deviation raises, so the script exits non-zero.

With a second user (TOTP_USERNAME, TOTP_PASSWORD: created without a second factor), it also
enrols that user in TOTP through the account pages (/account/totp), computing codes itself
(RFC 6238: HMAC-SHA-1, 6 digits, 30 s; standard library only), and runs the code flow again with
the second-factor page after the login page: once with a TOTP code, once with a recovery code.
It checks the ID tokens' `amr` (["pwd"] for the password-only user, ["pwd","otp","mfa"] with the
second factor), replay protection (a code's time step is accepted once), spent recovery codes,
and the five-attempt limit of a pending sign-in.

usage: rp_flow.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD [TOTP_USERNAME TOTP_PASSWORD]
"""

import re
import secrets
import sys
import time
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from otp import base32_key, current_step, hotp  # noqa: E402  (RFC 4226/6238, shared)

REDIRECT_URI = "http://rp.example.test/callback"
POST_LOGOUT_URI = "http://rp.example.test/bye"
PASSWORD_AMR = ["pwd"]
TOTP_AMR = ["pwd", "otp", "mfa"]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


# --- pages -------------------------------------------------------------------------------------
class Forms(HTMLParser):
    """The forms of a page: action -> {name: value} of every named input (hidden or not)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.forms = {}
        self._current = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = self.forms.setdefault(attrs.get("action", ""), {})
        elif tag == "input" and self._current is not None and attrs.get("name"):
            if attrs.get("type", "text") in ("hidden", "text", "password", "email", "number"):
                self._current.setdefault(attrs["name"], attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def form(html, action):
    """The named fields of the page's form posting to `action`; raises if there is none."""
    forms = Forms(html).forms
    check(action in forms, f"no form posting to {action} (forms: {sorted(forms)})")
    return dict(forms[action])


def data_page(html):
    match = re.search(r'data-page="([^"]+)"', html)
    return match.group(1) if match else None


def element_text(html, pattern):
    match = re.search(pattern, html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip() if match else None




class Authenticator:
    """A TOTP app that remembers the last time step it gave out: the server accepts each step at
    most once per user (RFC 6238 §5.2) and one step either side of its own, so the next code is
    for the current step, or the next one if the current one was used."""

    def __init__(self, secret):
        self.key = base32_key(secret)
        self.last_step = None

    def code_at(self, step):
        return hotp(self.key, step)

    def next_code(self):
        step = current_step()
        if self.last_step is not None and self.last_step >= step:
            step = self.last_step + 1
        while step > current_step() + 1:  # two codes in one step: wait for the window
            time.sleep(1)
        self.last_step = step
        return self.code_at(step)

    def wrong_code(self):
        """Six digits that no step in the server's window (and around it) accepts."""
        now = current_step()
        taken = {self.code_at(s) for s in range(now - 2, now + 3)}
        for candidate in range(10**6):
            code = f"{(int(self.code_at(now)) + 1 + candidate) % 10**6:06d}"
            if code not in taken:
                return code
        raise AssertionError("unreachable")


# --- the browser -------------------------------------------------------------------------------
def sign_in(browser, issuer, username, password, return_to):
    """GET /login, POST the form; returns the POST's response (not followed)."""
    page = browser.get(urljoin(issuer, "/login"), params={"return_to": return_to}, allow_redirects=False)
    check(page.status_code == 200, f"GET /login: {page.status_code}")
    fields = form(page.text, "/login")
    fields.update(username=username, password=password)
    return browser.post(urljoin(issuer, "/login"), data=fields, allow_redirects=False)


def submit_second_factor(browser, issuer, html, code):
    fields = form(html, "/login/second-factor")
    fields["code"] = code
    return browser.post(urljoin(issuer, "/login/second-factor"), data=fields, allow_redirects=False)


def expect_refused(response, what, page="second-factor"):
    check(response.status_code == 401, f"{what}: expected 401, got {response.status_code}")
    check(data_page(response.text) == page, f"{what}: expected the {page} page")
    if page == "second-factor":
        check('role="alert"' in response.text, f"{what}: no error shown")
    check("gh_session" not in response.cookies, f"{what}: a session cookie was set")


def browse_to_callback(browser, issuer, url, username, password, second_factor=None):
    """Follows the browser until Gatehouse redirects to the RP's redirect_uri. `second_factor`
    (html -> response) answers the second-factor page; without it that page is an error."""
    for _ in range(12):
        if url.startswith(REDIRECT_URI):
            return url
        response = browser.get(urljoin(issuer, url), allow_redirects=False)
        if response.is_redirect:
            url = urljoin(issuer, response.headers["location"])
            continue
        check(response.status_code == 200, f"unexpected {response.status_code} at {url}")
        forms = Forms(response.text).forms
        if "/login" in forms:
            fields = dict(forms["/login"])
            fields.update(username=username, password=password)
            response = browser.post(urljoin(issuer, "/login"), data=fields, allow_redirects=False)
            check(response.status_code == 303, f"login failed: {response.status_code}")
            location = response.headers["location"]
            if second_factor is None:
                check("gh_session" in response.cookies, "password login set no session cookie")
                check(
                    not location.startswith("/login/second-factor"),
                    "second factor asked of a password-only user",
                )
            else:
                # The password alone opens nothing: a pending sign-in scoped to /login, no session.
                check(
                    location.startswith("/login/second-factor?return_to="),
                    f"TOTP login went to {location}",
                )
                check("gh_session" not in response.cookies, "session cookie before the second factor")
                pending = [c for c in browser.cookies if c.name == "gh_login"]
                check(len(pending) == 1 and pending[0].path == "/login", "no gh_login cookie on /login")
        elif "/login/second-factor" in forms:
            check(second_factor is not None, f"second-factor page for a password-only user at {url}")
            check(data_page(response.text) == "second-factor", "second-factor page without its data-page")
            response = second_factor(response.text)
            check(response.status_code == 303, f"second factor failed: {response.status_code}")
            check("gh_session" in response.cookies, "second factor set no session cookie")
        elif "/authorize" in forms and 'name="consent"' in response.text:
            fields = dict(forms["/authorize"])
            fields["consent"] = "approve"
            response = browser.post(urljoin(issuer, "/authorize"), data=fields, allow_redirects=False)
            check(response.is_redirect, f"consent failed: {response.status_code}")
        else:
            raise AssertionError(f"unexpected page at {url} ({data_page(response.text)})")
        url = urljoin(issuer, response.headers["location"])
    raise AssertionError("too many redirects")


# --- the RP ------------------------------------------------------------------------------------
class RelyingParty:
    def __init__(self, issuer, client_id, client_secret):
        self.issuer, self.client_id, self.client_secret = issuer, client_id, client_secret
        self.meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        check(self.meta["issuer"] == issuer, "issuer mismatch in discovery")
        acr_values = self.meta.get("acr_values_supported")
        check(isinstance(acr_values, list) and acr_values, "acr_values_supported missing or empty")
        check(all(isinstance(v, str) and v for v in acr_values), "acr_values_supported: not strings")
        self.acr_values = acr_values
        check("amr" in self.meta.get("claims_supported", []), "amr not in claims_supported")
        self.jwks = JsonWebKey.import_key_set(requests.get(self.meta["jwks_uri"], timeout=10).json())

    def session(self):
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope="openid profile email offline_access",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )

    def sign_in(self, browser, username, password, second_factor=None):
        """Authorization code + PKCE through the pages; returns (rp, token, claims)."""
        rp = self.session()
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(
            self.meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        callback = browse_to_callback(browser, self.issuer, url, username, password, second_factor)
        query = parse_qs(urlparse(callback).query)
        check(query.get("iss") == [self.issuer], "RFC 9207 iss missing from the callback")
        token = rp.fetch_token(
            self.meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
        )
        claims = jwt.decode(
            token["id_token"],
            self.jwks,
            claims_options={
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.client_id},
                "nonce": {"essential": True, "value": nonce},
                "exp": {"essential": True},
            },
        )
        claims.validate()
        check(isinstance(claims["iat"], int) and isinstance(claims["exp"], int), "non-integer timestamps")
        check(isinstance(claims.get("auth_time"), int), "auth_time missing")
        if "acr" in claims:
            check(claims["acr"] in self.acr_values, f"acr {claims['acr']!r} not in acr_values_supported")
        userinfo = rp.get(self.meta["userinfo_endpoint"]).json()
        check(userinfo["sub"] == claims["sub"], "userinfo sub mismatch")
        check(userinfo.get("preferred_username") == username, "userinfo username")
        return rp, token, claims

    def log_out(self, browser, token):
        logout = browser.get(
            self.meta["end_session_endpoint"],
            params={
                "id_token_hint": token["id_token"],
                "post_logout_redirect_uri": POST_LOGOUT_URI,
                "state": "bye",
            },
            allow_redirects=False,
        )
        check(logout.headers.get("location") == f"{POST_LOGOUT_URI}?state=bye", "logout redirect")
        account = browser.get(f"{self.issuer}/account", allow_redirects=False)
        check(account.status_code == 303, "session survived logout")


def password_flow(op, username, password):
    """The password-only user through every endpoint the RP uses."""
    browser = requests.Session()
    rp, token, claims = op.sign_in(browser, username, password)
    check(claims.get("amr") == PASSWORD_AMR, f"password-only amr: {claims.get('amr')}")
    access_token = token["access_token"]
    check(jwt.decode(access_token, op.jwks).header.get("typ") == "at+jwt", "access token typ")

    meta = op.meta
    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    check(refreshed["refresh_token"] != token["refresh_token"], "refresh token not rotated")
    if "id_token" in refreshed:
        refreshed_claims = jwt.decode(refreshed["id_token"], op.jwks)
        check(refreshed_claims.get("amr") == PASSWORD_AMR, "amr changed on refresh")

    active = rp.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    check(active["active"] is True, "fresh token not active")
    rp.revoke_token(meta["revocation_endpoint"], token=refreshed["access_token"])
    inactive = rp.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    check(inactive["active"] is False, "revoked token still active")
    op.log_out(browser, token)
    print("  password-only login: amr", claims["amr"], "acr", claims.get("acr"))
    return claims


def enrol_totp(issuer, username, password):
    """TOTP enrolment through the account pages, as a person with an authenticator app would:
    sign in with return_to=/account/totp, start, read the secret, confirm with a code, keep the
    recovery codes. Returns (Authenticator, recovery codes)."""
    browser = requests.Session()
    response = sign_in(browser, issuer, username, password, "/account/totp")
    check(response.status_code == 303, f"enrolment sign-in: {response.status_code}")
    check(
        urlparse(response.headers["location"]).path == "/account/totp",
        "sign-in did not return to /account/totp",
    )
    check("gh_session" in response.cookies, "no session for a user without TOTP")

    start = browser.get(f"{issuer}/account/totp", allow_redirects=False)
    check(start.status_code == 200, f"GET /account/totp: {start.status_code}")
    check(data_page(start.text) == "totp-start", f"GET /account/totp: page {data_page(start.text)}")
    fields = form(start.text, "/account/totp/enrol")
    if "password" in fields:  # asked only when the sign-in is older than the window
        fields["password"] = password
    enrol = browser.post(f"{issuer}/account/totp/enrol", data=fields, allow_redirects=False)
    check(enrol.status_code == 200, f"POST /account/totp/enrol: {enrol.status_code}")
    check(data_page(enrol.text) == "totp-enrol", f"enrol: page {data_page(enrol.text)}")
    secret = element_text(enrol.text, r'<code id="totp-secret"[^>]*>(.*?)</code>')
    uri = element_text(enrol.text, r'<code id="totp-uri"[^>]*>(.*?)</code>')
    check(secret and uri, "enrol page without the secret or the otpauth URI")
    parsed = urlparse(uri)
    check(parsed.scheme == "otpauth" and parsed.netloc == "totp", f"not a TOTP URI: {uri}")
    params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    check(base32_key(params.get("secret", "")) == base32_key(secret), "URI secret differs from the shown one")
    check(username in unescape(parsed.path), "URI label does not name the user")
    check(params.get("algorithm", "SHA1").upper() == "SHA1", "not SHA-1")
    check(params.get("digits", "6") == "6" and params.get("period", "30") == "30", "not 6 digits / 30 s")
    check(len(base32_key(secret)) >= 16, "secret shorter than 128 bits")

    app = Authenticator(secret)
    fields = form(enrol.text, "/account/totp/confirm")
    # A wrong code is refused and the enrolment stays pending.
    fields["code"] = app.wrong_code()
    wrong = browser.post(f"{issuer}/account/totp/confirm", data=fields, allow_redirects=False)
    check(data_page(wrong.text) != "recovery-codes", "a wrong code confirmed the enrolment")
    if "/account/totp/confirm" in Forms(wrong.text).forms:
        fields = form(wrong.text, "/account/totp/confirm")
    fields["code"] = app.next_code()
    confirm = browser.post(f"{issuer}/account/totp/confirm", data=fields, allow_redirects=False)
    check(confirm.status_code == 200, f"POST /account/totp/confirm: {confirm.status_code}")
    check(data_page(confirm.text) == "recovery-codes", f"confirm: page {data_page(confirm.text)}")
    codes = [
        unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r'<li class="recovery-code"[^>]*>(.*?)</li>', confirm.text, re.S)
    ]
    check(len(codes) == 10 and len(set(codes)) == 10 and all(codes), f"{len(codes)} recovery codes")
    print(f"  enrolled TOTP for {username}: confirmed at step {app.last_step}, {len(codes)} recovery codes")
    return app, codes


def totp_flows(op, issuer, username, password, password_acr):
    app, recovery = enrol_totp(issuer, username, password)

    # 1. Password, then a TOTP code. The code that confirmed enrolment counts as used, so this
    #    is the current step's code if the step has moved on since, else the next step's (the
    #    server accepts one step either side of its own, each step once).
    browser = requests.Session()
    used = []

    def totp_code(html):
        used.append(app.next_code())
        return submit_second_factor(browser, issuer, html, used[-1])

    _, token, claims = op.sign_in(browser, username, password, totp_code)
    check(claims.get("amr") == TOTP_AMR, f"TOTP login amr: {claims.get('amr')}")
    if password_acr is not None:
        check(claims.get("acr") != password_acr, "the same acr for password-only and TOTP logins")
    op.log_out(browser, token)
    print("  TOTP login: amr", claims["amr"], "acr", claims.get("acr"), f"(code of step {app.last_step})")

    # 2. Password, then the same code again (refused: its step is used), a wrong code
    #    (refused), then a recovery code.
    browser = requests.Session()

    def replay_then_recovery(html):
        replayed = submit_second_factor(browser, issuer, html, used[-1])
        expect_refused(replayed, "replayed TOTP code")
        wrong = submit_second_factor(browser, issuer, replayed.text, app.wrong_code())
        expect_refused(wrong, "wrong TOTP code")
        return submit_second_factor(browser, issuer, wrong.text, recovery[0])

    _, token, claims = op.sign_in(browser, username, password, replay_then_recovery)
    check(claims.get("amr") == TOTP_AMR, f"recovery-code login amr: {claims.get('amr')}")
    op.log_out(browser, token)
    print("  recovery-code login: amr", claims["amr"], "(a replayed and a wrong TOTP code refused first)")

    # 3. The spent recovery code is refused; the fifth wrong code ends the pending sign-in, after
    #    which even an unused recovery code is refused: the user starts over with the password.
    #    (run.sh raises lockout.delay_after so that the brute-force delay does not answer first.)
    browser = requests.Session()
    response = sign_in(browser, issuer, username, password, "/account")
    check(response.status_code == 303, f"sign-in: {response.status_code}")
    check(response.headers["location"].startswith("/login/second-factor"), "no second factor asked")
    pending = browser.cookies.get("gh_login", path="/login")
    page = browser.get(urljoin(issuer, response.headers["location"]), allow_redirects=False)
    check(data_page(page.text) == "second-factor", "second-factor page expected")
    html = page.text
    for attempt in range(1, 6):
        fields = form(html, "/login/second-factor")
        code = recovery[0] if attempt == 1 else app.wrong_code()
        response = submit_second_factor(browser, issuer, html, code)
        expect_refused(response, f"attempt {attempt}", "second-factor" if attempt < 5 else "sign-in-again")
        html = response.text
    fields["code"] = recovery[1]
    after = requests.post(
        urljoin(issuer, "/login/second-factor"),
        data=fields,
        cookies={"gh_login": pending, "gh_csrf": browser.cookies.get("gh_csrf")},
        allow_redirects=False,
    )
    expect_refused(after, "a recovery code after five attempts", "sign-in-again")
    print("  spent recovery code refused; the pending sign-in ended after 5 attempts")


def main(issuer, client_id, client_secret, username, password, totp_username=None, totp_password=None):
    op = RelyingParty(issuer, client_id, client_secret)
    print("  discovery: acr_values_supported", op.acr_values)
    claims = password_flow(op, username, password)
    passed = 1
    if totp_username:
        totp_flows(op, issuer, totp_username, totp_password, claims.get("acr"))
        passed += 2
    print(f"python relying party (authlib): {passed} passed, 0 failed")


if __name__ == "__main__":
    main(*sys.argv[1:8])
