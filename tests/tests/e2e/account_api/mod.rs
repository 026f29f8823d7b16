//! The account REST API (`/api/v1/account`) behind access tokens with the `account` scope
//! (RFC 6750): the 401/403 challenges, the account, the session list and ending sessions, and
//! the second factor's lifecycle (RFC 6238 TOTP, recovery codes) with the re-authentication
//! window. Tokens come from the real code flow; TOTP codes from the suite's own RFC 6238 code.

use chrono::{DateTime, Duration};
use gatehouse_tests::oauth::{refresh, tokens_in};
use gatehouse_tests::totp::{code_at, secret_of_uri};
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, csrf_from_html, hidden_value, new_client,
    spawn_app,
};
use reqwest::Method;
use reqwest::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use serde_json::{Value, json};

mod sessions;
mod two_factor;

const ACCOUNT_SCOPE: &[(&str, &str)] = &[("scope", "openid account")];

/// What the API answered: status, headers, and the JSON body (`Null` when there is none).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: reqwest::header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .map_or("", |value| value.to_str().unwrap())
    }

    /// The problem document's `type`, after checking it is one.
    fn problem_type(&self) -> &str {
        assert_eq!(
            self.header(CONTENT_TYPE),
            "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], self.status, "{}", self.body);
        self.body["type"].as_str().unwrap()
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(app: &TestApp, path: &str, token: &str) -> Answer {
    call(app, Method::GET, path, Some(token), None).await
}

/// A first-party client allowed the `account` scope.
fn account_client(app: &TestApp) -> TestClient {
    app.register_client(ClientSpec {
        scopes: vec!["openid".to_owned(), "account".to_owned()],
        ..ClientSpec::default()
    })
}

/// The token response of a code flow for `username` in `browser`, scope `openid account`.
async fn account_tokens(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    username: &str,
) -> Value {
    tokens_in(app, browser, rp, username, ACCOUNT_SCOPE).await
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let answer = get(app, "/api/v1/account/sessions", token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body.as_array().unwrap().clone()
}

/// The session the token was issued in, by the list's `current` mark.
async fn current_session_id(app: &TestApp, token: &str) -> String {
    let list = sessions(app, token).await;
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    current[0]["id"].as_str().unwrap().to_owned()
}

/// Starts a TOTP enrolment: the secret, checked against the `otpauth://` URI.
async fn begin_totp(app: &TestApp, token: &str) -> String {
    let answer = call(app, Method::POST, "/api/v1/account/totp", Some(token), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header(CACHE_CONTROL), "no-store");
    let secret = answer.body["secret"].as_str().unwrap().to_owned();
    let uri = answer.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert_eq!(secret_of_uri(uri), secret);
    secret
}

async fn confirm_totp(app: &TestApp, token: &str, code: &str) -> Answer {
    call(
        app,
        Method::POST,
        "/api/v1/account/totp/confirm",
        Some(token),
        Some(json!({ "code": code })),
    )
    .await
}

/// Enrols and confirms TOTP; the secret and the recovery codes.
async fn enable_totp(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let secret = begin_totp(app, token).await;
    let answer = confirm_totp(app, token, &code_at(&secret, app.clock_now(), 0)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    (secret, recovery_codes(&answer))
}

fn recovery_codes(answer: &Answer) -> Vec<String> {
    let codes: Vec<String> = answer.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), codes.len(), "{codes:?}");
    codes
}

async fn totp_enabled(app: &TestApp, token: &str) -> bool {
    let answer = get(app, "/api/v1/account", token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["totp_enabled"].as_bool().unwrap()
}

/// Signs in with the password in a new browser and submits `code` on the second-factor page:
/// the status of that submission (303 signed in, 401 refused).
async fn second_factor_sign_in(app: &TestApp, username: &str, code: &str) -> u16 {
    let browser = new_client();
    let response = app
        .login_with(&browser, username, GOOD_PASSWORD, None)
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/login/second-factor"), "{location}");
    let html = browser
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser
        .post(app.url("/login/second-factor"))
        .form(&[
            ("code", code),
            ("csrf_token", &csrf_from_html(&html)),
            ("return_to", &hidden_value(&html, "return_to")),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A code of the same length that is surely not `code`.
fn wrong_code(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                char::from(c as u8 + 1)
            }
        })
        .collect()
}

#[tokio::test]
async fn requests_without_a_usable_token_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    app.create_user("abel").await;
    let rp = account_client(&app);
    let tokens = account_tokens(&app, &new_client(), &rp, "abel").await;
    let session = "0".repeat(64);
    let routes = [
        (Method::GET, "/api/v1/account".to_owned()),
        (Method::GET, "/api/v1/account/sessions".to_owned()),
        (Method::DELETE, "/api/v1/account/sessions".to_owned()),
        (
            Method::DELETE,
            format!("/api/v1/account/sessions/{session}"),
        ),
        (Method::POST, "/api/v1/account/totp".to_owned()),
        (Method::DELETE, "/api/v1/account/totp".to_owned()),
        (Method::POST, "/api/v1/account/totp/confirm".to_owned()),
        (Method::POST, "/api/v1/account/recovery-codes".to_owned()),
    ];
    for (method, path) in &routes {
        // No token, and not even a body: authentication is checked first.
        let answer = call(&app, method.clone(), path, None, None).await;
        assert_eq!(answer.status, 401, "{method} {path}");
        assert_eq!(
            answer.problem_type(),
            "urn:gatehouse:problem:unauthorized",
            "{method} {path}"
        );
        assert_eq!(
            answer.header(WWW_AUTHENTICATE),
            r#"Bearer realm="gatehouse", scope="account""#,
            "{method} {path}: no error code without a token (RFC 6750 §3.1)"
        );
    }

    // Another scheme is no bearer token either.
    let response = app
        .client
        .get(app.url("/api/v1/account"))
        .basic_auth("abel", Some(GOOD_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        !response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=")
    );

    // A token that is not ours, or ours tampered with: invalid_token.
    let tampered = format!("{}x", access(&tokens));
    for bad in ["not-a-jwt", tampered.as_str()] {
        let answer = get(&app, "/api/v1/account", bad).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.problem_type(), "urn:gatehouse:problem:unauthorized");
        assert!(
            answer
                .header(WWW_AUTHENTICATE)
                .starts_with(r#"Bearer realm="gatehouse", error="invalid_token""#),
            "{}",
            answer.header(WWW_AUTHENTICATE)
        );
    }

    // The real token works until it expires (600 s).
    assert_eq!(
        get(&app, "/api/v1/account", access(&tokens)).await.status,
        200
    );
    app.clock.advance(Duration::seconds(601));
    let answer = get(&app, "/api/v1/account", access(&tokens)).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .header(WWW_AUTHENTICATE)
            .contains(r#"error="invalid_token""#)
    );
}

#[tokio::test]
async fn a_token_without_the_account_scope_gets_403_insufficient_scope() {
    let app = spawn_app().await;
    app.create_user("bea").await;
    let rp = account_client(&app);
    let tokens = tokens_in(&app, &new_client(), &rp, "bea", &[("scope", "openid")]).await;
    assert_eq!(tokens["scope"], "openid");

    for (method, path) in [
        (Method::GET, "/api/v1/account"),
        (Method::GET, "/api/v1/account/sessions"),
        (Method::POST, "/api/v1/account/totp"),
    ] {
        let answer = call(&app, method.clone(), path, Some(access(&tokens)), None).await;
        assert_eq!(answer.status, 403, "{method} {path}");
        assert_eq!(
            answer.problem_type(),
            "urn:gatehouse:problem:insufficient-scope"
        );
        let challenge = answer.header(WWW_AUTHENTICATE);
        assert!(
            challenge.starts_with(r#"Bearer realm="gatehouse", error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(challenge.ends_with(r#"scope="account""#), "{challenge}");
    }
    // The same token is otherwise good: userinfo serves it.
    let response = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access(&tokens))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_account_is_the_token_holders() {
    let app = spawn_app().await;
    let user = app.create_user("cleo").await;
    app.create_user("dora").await;
    let rp = account_client(&app);
    let tokens = account_tokens(&app, &new_client(), &rp, "cleo").await;

    let answer = get(&app, "/api/v1/account", access(&tokens)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header(CACHE_CONTROL), "no-store");
    let mut account = answer.body.clone();
    let created_at = account
        .as_object_mut()
        .unwrap()
        .remove("created_at")
        .unwrap();
    assert_eq!(
        account,
        json!({
            "id": user["id"],
            "username": "cleo",
            "email": "cleo@example.com",
            "email_verified": false,
            "pending_email": null,
            "totp_enabled": false,
        })
    );
    // The stored time may be less precise than the one registration answered with.
    let stored = DateTime::parse_from_rfc3339(created_at.as_str().unwrap()).unwrap();
    let registered = DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).unwrap();
    assert!(
        (stored - registered).num_seconds().abs() < 1,
        "{stored} {registered}"
    );
    // HEAD is served by the same handler, without a body.
    let head = call(
        &app,
        Method::HEAD,
        "/api/v1/account",
        Some(access(&tokens)),
        None,
    )
    .await;
    assert_eq!((head.status, head.body), (200, Value::Null));
}

#[tokio::test]
async fn malformed_bodies_are_400_problems() {
    let app = spawn_app().await;
    app.create_user("milo").await;
    let rp = account_client(&app);
    let tokens = account_tokens(&app, &new_client(), &rp, "milo").await;
    let token = access(&tokens);

    let cases: [(&str, Option<&str>, &str, Option<&str>); 5] = [
        ("{nope", Some("application/json"), "malformed-body", None),
        (
            "{}",
            Some("application/json"),
            "malformed-body",
            Some("code"),
        ),
        (
            r#"{"code":123456}"#,
            Some("application/json"),
            "malformed-body",
            Some("code"),
        ),
        (
            r#"{"code":"1","x":1}"#,
            Some("application/json"),
            "malformed-body",
            Some("x"),
        ),
        (
            r#"{"code":"1"}"#,
            Some("text/plain"),
            "unsupported-media-type",
            None,
        ),
    ];
    for (body, content_type, kind, field) in cases {
        let mut request = app
            .client
            .post(app.url("/api/v1/account/totp/confirm"))
            .bearer_auth(token)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            format!("urn:gatehouse:problem:{kind}"),
            "{body}"
        );
        assert_eq!(problem["field"].as_str(), field, "{body}");
    }
    // A password body read the same way.
    let answer = call(
        &app,
        Method::DELETE,
        "/api/v1/account/totp",
        Some(token),
        Some(json!({ "pass": GOOD_PASSWORD })),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["field"], "pass");
}

#[tokio::test]
async fn account_routes_answer_other_methods_with_405_and_allow() {
    let app = spawn_app().await;
    let routes = [
        ("/api/v1/account", "GET, HEAD, PATCH"),
        ("/api/v1/account/sessions", "GET, HEAD, DELETE"),
        (
            "/api/v1/account/sessions/0000000000000000000000000000000000000000000000000000000000000000",
            "DELETE",
        ),
        ("/api/v1/account/totp", "POST, DELETE"),
        ("/api/v1/account/totp/confirm", "POST"),
        ("/api/v1/account/recovery-codes", "POST"),
        ("/api/v1/account/email-verification", "POST"),
        ("/api/v1/account/email-verification/confirm", "POST"),
        ("/api/v1/account/password", "POST"),
    ];
    for (path, allow) in routes {
        for method in ["PUT", "PATCH", "OPTIONS"] {
            if allow.contains(method) {
                continue;
            }
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let answer = call(&app, method.clone(), path, None, None).await;
            assert_eq!(answer.status, 405, "{method} {path}");
            assert_eq!(answer.header(ALLOW), allow, "{method} {path}");
            assert_eq!(
                answer.problem_type(),
                "urn:gatehouse:problem:method-not-allowed"
            );
        }
    }
}
