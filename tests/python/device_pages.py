"""A person approving a device code (RFC 8628 §3.3) through Gatehouse's real pages, with a
`requests` session standing in for the browser: the login form with its CSRF token, the page that
`verification_uri_complete` opens (it only fills the code in, §5.4), the confirmation page with
the client's name and scopes, and its Allow (or Deny) button. Every step checks the page it
lands on, so a changed page fails here rather than quietly approving nothing.

Used by examples/chatbot/run-ci.sh and tests/python/token_exchange_client.py; also a command:

usage: device_pages.py ISSUER USERNAME PASSWORD VERIFICATION_URI_COMPLETE [approve|deny]
"""

import re
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import requests


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Forms(HTMLParser):
    """The forms of a page: action -> {name: value} of its named inputs, and the values its
    submit buttons send (`buttons`: action -> {name: [values]})."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.fields = {}
        self.buttons = {}
        self._action = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._action = attrs.get("action", "")
            self.fields.setdefault(self._action, {})
            self.buttons.setdefault(self._action, {})
        elif self._action is not None and attrs.get("name"):
            if tag == "input" and attrs.get("type", "text") != "submit":
                self.fields[self._action].setdefault(attrs["name"], attrs.get("value") or "")
            elif tag == "button" or (tag == "input" and attrs.get("type") == "submit"):
                self.buttons[self._action].setdefault(attrs["name"], []).append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._action = None


def page_name(html):
    match = re.search(r'data-page="([^"]+)"', html)
    return match.group(1) if match else None


def form_fields(html, action):
    forms = Forms(html)
    check(action in forms.fields, f"no form posting to {action} (forms: {sorted(forms.fields)})")
    return dict(forms.fields[action]), forms.buttons[action]


def sign_in(browser, issuer, username, password, return_to):
    """GET /login, then POST its form with the credentials; expects the redirect to
    `return_to` that a signed-in browser gets (a user without a second factor)."""
    page = browser.get(urljoin(issuer, "/login"), params={"return_to": return_to}, allow_redirects=False)
    check(page.status_code == 200 and page_name(page.text) == "login", f"GET /login: {page.status_code}")
    fields, _ = form_fields(page.text, "/login")
    check(fields.get("csrf_token"), "the login form has no CSRF token")
    fields.update(username=username, password=password)
    signed_in = browser.post(urljoin(issuer, "/login"), data=fields, allow_redirects=False)
    check(
        signed_in.status_code == 303 and signed_in.headers.get("Location") == return_to,
        f"POST /login: expected 303 to {return_to}, got {signed_in.status_code} "
        f"to {signed_in.headers.get('Location')} (page {page_name(signed_in.text)})",
    )


def decide(issuer, username, password, verification_uri_complete, decision="approve"):
    """Signs `username` in and allows (`approve`) or denies (`deny`) the device request that
    `verification_uri_complete` names. Returns the confirmation page's client name."""
    check(decision in ("approve", "deny"), f"unknown decision {decision}")
    link = urlparse(verification_uri_complete)
    check(
        urljoin(issuer, link.path) == urljoin(issuer, "/device"),
        f"verification_uri_complete is not the issuer's /device page: {verification_uri_complete}",
    )
    code = parse_qs(link.query).get("user_code", [""])[0]
    check(re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", code), f"user code {code!r}")

    browser = requests.Session()
    # Not signed in yet: the link leads to the login page, which comes back here.
    first = browser.get(verification_uri_complete, allow_redirects=False)
    check(first.status_code == 303, f"GET {link.path} signed out: expected 303, got {first.status_code}")
    to_login = urlparse(first.headers["Location"])
    check(to_login.path == "/login", f"not sent to /login: {first.headers['Location']}")
    return_to = parse_qs(to_login.query).get("return_to", [""])[0]
    check(code in return_to, f"the login page would not come back to the code: {return_to!r}")
    sign_in(browser, issuer, username, password, return_to)

    # The link fills the code in and approves nothing by itself (§5.4).
    entry = browser.get(verification_uri_complete, allow_redirects=False)
    check(entry.status_code == 200 and page_name(entry.text) == "device", f"GET {link.path}: {entry.status_code}")
    fields, _ = form_fields(entry.text, "/device")
    check(fields.get("user_code") == code, f"the code is not filled in: {fields.get('user_code')!r}")
    check(fields.get("action") == "show" and fields.get("csrf_token"), f"entry form fields: {sorted(fields)}")
    confirm = browser.post(urljoin(issuer, "/device"), data=fields, allow_redirects=False)
    check(
        confirm.status_code == 200 and page_name(confirm.text) == "device-confirm",
        f"POST /device (show): {confirm.status_code}, page {page_name(confirm.text)}",
    )
    client_name = re.search(r'<dd id="client-name">([^<]*)</dd>', confirm.text)
    check(client_name, "the confirmation page does not name the client")

    fields, buttons = form_fields(confirm.text, "/device")
    check(decision in buttons.get("action", []), f"no {decision} button: {buttons}")
    check(fields.get("csrf_token") and fields.get("user_code") == code, f"confirm form fields: {fields}")
    fields["action"] = decision
    done = browser.post(urljoin(issuer, "/device"), data=fields, allow_redirects=False)
    expected = "approved" if decision == "approve" else "denied"
    check(
        done.status_code == 200
        and page_name(done.text) == "device-done"
        and f'data-decision="{expected}"' in done.text,
        f"POST /device ({decision}): {done.status_code}, page {page_name(done.text)}",
    )
    return client_name.group(1)


def main(argv):
    if len(argv) not in (5, 6):
        sys.exit(__doc__.strip().splitlines()[-1])
    issuer, username, password, link = argv[1:5]
    decision = argv[5] if len(argv) == 6 else "approve"
    client = decide(issuer, username, password, link, decision)
    print(f"{username} chose {decision} for {client} on {link}")


if __name__ == "__main__":
    main(sys.argv)
