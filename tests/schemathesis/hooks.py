"""Schemathesis hooks of tests/schemathesis/run.sh (loaded through SCHEMATHESIS_HOOKS).

- `filter_case`: the run's bearer token belongs to a service account, the `admin`
  client_credentials client whose id run.sh passes in GATEHOUSE_SCHEMATHESIS_CLIENT_ID. The
  fuzzer reuses the client ids `GET /api/v1/admin/clients` answers, so left alone it would
  sooner or later delete, disable, demote or edit that very client, and every later request
  would be answered 401 or 403: the rest of the run would test nothing. Changes aimed at that
  one client are dropped; every operation still runs on every other client, and reading the
  service account is fuzzed like any read.
- `filter_failure`: drops the two kinds of finding that are the API's documented behaviour
  rather than a mismatch (see UNDESCRIBABLE and `empty_query_parameter_accepted`).
"""

import os
import re
from urllib.parse import parse_qsl, urlsplit

import schemathesis

SERVICE_ACCOUNT = os.environ["GATEHOUSE_SCHEMATHESIS_CLIENT_ID"]
CLIENT_PATHS = "/api/v1/admin/clients/{id}"


@schemathesis.hook
def filter_case(context, case):
    if case.method.upper() in ("GET", "HEAD") or not case.path.startswith(CLIENT_PATHS):
        return True
    return str((case.path_parameters or {}).get("id")) != SERVICE_ACCOUNT


# A 400 naming one of these fields answers a schema-valid value that no schema can rule out:
# an opaque cursor only the API hands out (`next_cursor`), a window whose `until` is not after
# its `since`, a URI or scope checked by rules the registration code owns (scheme, fragment,
# loopback host, known scopes), an organisation named that does not exist, or a registration
# whose fields contradict each other (a grant that needs redirect URIs, a public client with a
# secret-based method, exchange audiences without the token-exchange grant…). Every other 400 for
# schema-valid data still fails the run.
UNDESCRIBABLE = {
    ("GET /api/v1/admin/users", "cursor"),
    ("GET /api/v1/admin/clients", "cursor"),
    ("GET /api/v1/admin/audit-events", "cursor"),
    ("GET /api/v1/admin/audit-events", "until"),
    *(
        (operation, field)
        for operation in ("POST /api/v1/admin/clients", "PATCH /api/v1/admin/clients/{id}")
        for field in (
            "redirect_uris",
            "post_logout_redirect_uris",
            "backchannel_logout_uri",
            "scopes",
            "grant_types",
            "token_endpoint_auth_method",
            "client_type",
            "backchannel_logout_session_required",
            # RFC 8707 §2 resources (absolute URIs without fragment) and RFC 8693 audiences,
            # which the token-exchange grant needs and only it may have, like impersonation.
            "resources",
            "exchange_audiences",
            "allow_impersonation",
            # An organisation that does not exist.
            "organization",
        )
    ),
    # A slug shaped like a UUID (the pattern cannot exclude it: ids and slugs share a parameter).
    ("POST /api/v1/admin/organizations", "slug"),
    # A lock must end in the future: "now" moves while the case is in flight.
    ("POST /api/v1/admin/users/{id}/lock", "until"),
}


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if failure.code == "ST201":
        return not empty_query_parameter_accepted(failure, response)
    if failure.code != "ST202" or response.status_code != 400:
        return True
    try:
        field = response.json().get("field") or ""
    except Exception:
        return True
    # `redirect_uris[2]` is a rule about `redirect_uris`.
    field = field.split("[", 1)[0]
    # `?organization=` on any admin path may name no organisation (a 400 naming the field).
    if field == "organization" and case.path.startswith("/api/v1/admin/"):
        return False
    return (f"{case.method.upper()} {case.path}", field) not in UNDESCRIBABLE


def empty_query_parameter_accepted(failure, response):
    """An empty query parameter (`?role=`) is no filter, as an HTML form sends it: the lists
    read it as absent, which no schema of a typed parameter can say. True when every parameter
    the failure names went out empty."""
    line = next((l for l in failure.message.splitlines() if " in query" in l), None)
    if line is None:
        return False
    named = set(re.findall(r"`([^`]+)`", line.split(" in query", 1)[0]))
    sent = parse_qsl(urlsplit(response.request.url).query, keep_blank_values=True)
    empty = {name for name, value in sent if value == ""}
    return bool(named) and named <= empty
