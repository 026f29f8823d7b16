//! A signed-in user's change of password (issue 10), against the HTTP contract:
//! `POST /api/v1/account/password` and the account page's form. A wrong current password is
//! refused and counts toward the account's lockout like a failed sign-in; the right one sets the
//! new password, ends the user's other sessions and their grants (the current one stays), and
//! mails a notice through the suite's real SMTP server.
//!
//! Backends: whatever `spawn_app` runs on (SQLite + memory, or Postgres + Redis).

use std::time::Duration;

use gatehouse_tests::oauth::{refresh, tokens_in};
use gatehouse_tests::smtp::{SmtpSink, point_at, use_sink};
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, attribute_value, csrf_from_html,
    has_field_error, new_client,
};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(15);
const QUIET: Duration = Duration::from_millis(3000);
const NEW_PASSWORD: &str = "a brand new passphrase 42";
const CHANGED_SUBJECT: &str = "Your password was changed";

async fn app_with(sink: &SmtpSink, user: &str) -> TestApp {
    point_at(sink);
    TestApp::builder()
        .configure(use_sink)
        .with_user(user)
        .spawn()
        .await
}

fn client(app: &TestApp) -> TestClient {
    app.register_client(ClientSpec {
        scopes: ["openid", "profile", "email", "account", "offline_access"]
            .map(str::to_owned)
            .to_vec(),
        ..ClientSpec::default()
    })
}

async fn account_tokens(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    user: &str,
) -> Value {
    tokens_in(app, browser, rp, user, &[("scope", "openid account")]).await
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

/// `POST /api/v1/account/password`: status, content type and JSON body (`Null` when empty).
async fn change(app: &TestApp, token: &str, body: Value) -> (u16, String, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/account/password"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, content_type, body)
}

fn count(app: &TestApp, action: &str) -> usize {
    app.audit_actions()
        .iter()
        .filter(|(a, _)| a == action)
        .count()
}

async fn login_status(app: &TestApp, username: &str, password: &str) -> u16 {
    app.login_with(&new_client(), username, password, None)
        .await
        .status()
        .as_u16()
}

async fn refresh_status(app: &TestApp, rp: &TestClient, tokens: &Value) -> (u16, Value) {
    let response = refresh(app, rp, tokens["refresh_token"].as_str().unwrap()).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_wrong_current_password_is_403_and_counts_toward_lockout() {
    let sink = SmtpSink::start().await;
    point_at(&sink);
    // The account-wide ceiling at five, so that five wrong current passwords reach it.
    let app = TestApp::builder()
        .configure(|settings| {
            use_sink(settings);
            settings.lockout.max_failures = 5;
        })
        .with_user("ada")
        .spawn()
        .await;
    let rp = client(&app);
    let tokens = account_tokens(&app, &new_client(), &rp, "ada").await;
    let failures = count(&app, "login.failure");

    // A weak new password is a 400 and no attempt at the current one.
    let (status, content_type, body) = change(
        &app,
        access(&tokens),
        json!({ "current_password": GOOD_PASSWORD, "new_password": "short" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(content_type, "application/problem+json");

    // Five wrong current passwords (lockout.max_failures): each one 403 and audited as a
    // failed sign-in; the fifth locks the account.
    for attempt in 1..=5 {
        let (status, content_type, body) = change(
            &app,
            access(&tokens),
            json!({ "current_password": "not my password!", "new_password": NEW_PASSWORD }),
        )
        .await;
        assert_eq!(status, 403, "attempt {attempt}: {body}");
        assert_eq!(content_type, "application/problem+json", "{body}");
        assert_eq!(
            count(&app, "login.failure"),
            failures + attempt,
            "attempt {attempt} was not counted as a failure"
        );
    }
    assert!(
        count(&app, "account.lockout") >= 1,
        "five wrong current passwords did not lock the account: {:?}",
        app.audit_actions()
    );
    // Locked: the right password neither signs in nor changes it.
    assert_eq!(login_status(&app, "ada", GOOD_PASSWORD).await, 401);
    let (status, _, body) = change(
        &app,
        access(&tokens),
        json!({ "current_password": GOOD_PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(count(&app, "password.change"), 0);
    tokio::time::sleep(QUIET).await;
    assert!(sink.mails_to("ada@example.com", CHANGED_SUBJECT).is_empty());
}

#[tokio::test]
async fn the_right_password_changes_it_ends_other_sessions_and_keeps_this_one() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, "ben").await;
    let rp = client(&app);
    // This session (where the token comes from) and another browser with its own grant.
    let here = new_client();
    let tokens = account_tokens(&app, &here, &rp, "ben").await;
    let there = new_client();
    let elsewhere = tokens_in(&app, &there, &rp, "ben", &[]).await;
    // Whoever held the old password may have taken an offline token too.
    let offline = tokens_in(
        &app,
        &there,
        &rp,
        "ben",
        &[("scope", "openid offline_access")],
    )
    .await;
    assert_eq!(app.account_page(&there).await.0, 200);

    let (status, _, body) = change(
        &app,
        access(&tokens),
        json!({ "current_password": GOOD_PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, Value::Null);

    // The other browser and its grants are gone.
    let response = there.get(app.url("/account")).send().await.unwrap();
    assert_eq!(response.status(), 303, "the other session survived");
    for (what, tokens) in [("session", &elsewhere), ("offline", &offline)] {
        let (status, body) = refresh_status(&app, &rp, tokens).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "the other browser's {what} refresh token survived: {body}"
        );
    }
    // This one stays: its browser, its access token and its refresh token.
    assert_eq!(
        app.account_page(&here).await.0,
        200,
        "the current session ended"
    );
    let response = app
        .client
        .get(app.url("/api/v1/account"))
        .bearer_auth(access(&tokens))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body) = refresh_status(&app, &rp, &tokens).await;
    assert_eq!(status, 200, "the current grant ended: {body}");

    assert_eq!(login_status(&app, "ben", GOOD_PASSWORD).await, 401);
    assert_eq!(login_status(&app, "ben", NEW_PASSWORD).await, 303);
    let notice = sink
        .expect_mail("ben@example.com", CHANGED_SUBJECT, 1, PATIENCE)
        .await;
    assert!(
        notice.text().contains("/password/forgot"),
        "{}",
        notice.text()
    );
    let user_id = app.user_id("ben").to_string();
    assert!(
        app.audit_actions()
            .iter()
            .any(|(a, t)| a == "password.change" && t.as_deref() == Some(user_id.as_str()))
    );
}

#[tokio::test]
async fn other_sessions_can_be_kept() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, "cara").await;
    let rp = client(&app);
    let tokens = account_tokens(&app, &new_client(), &rp, "cara").await;
    let there = app.signed_in_browser("cara", GOOD_PASSWORD).await;
    let (status, _, body) = change(
        &app,
        access(&tokens),
        json!({
            "current_password": GOOD_PASSWORD,
            "new_password": NEW_PASSWORD,
            "sign_out_other_sessions": false,
        }),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(app.account_page(&there).await.0, 200);
    assert_eq!(login_status(&app, "cara", NEW_PASSWORD).await, 303);
    sink.expect_mail("cara@example.com", CHANGED_SUBJECT, 1, PATIENCE)
        .await;
}

/// The `value` of the `sign_out_other_sessions` checkbox, after checking it is checked.
fn checkbox_value(html: &str) -> String {
    let at = html
        .find(r#"name="sign_out_other_sessions""#)
        .unwrap_or_else(|| panic!("no sign_out_other_sessions checkbox: {html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    let tag = &html[start..=end];
    assert!(tag.contains(r#"type="checkbox""#), "{tag}");
    assert!(tag.contains("checked"), "not checked by default: {tag}");
    attribute_value(tag, "value").unwrap_or_else(|| "on".to_owned())
}

#[tokio::test]
async fn the_account_page_form_changes_the_password() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, "dora").await;
    let here = app.signed_in_browser("dora", GOOD_PASSWORD).await;
    let there = app.signed_in_browser("dora", GOOD_PASSWORD).await;
    let (status, page) = app.account_page(&here).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"action="/account/password""#), "{page}");
    assert!(page.contains(r#"name="current_password""#), "{page}");
    assert!(page.contains(r#"name="new_password""#), "{page}");
    let sign_out = checkbox_value(&page);
    let csrf = csrf_from_html(&page);
    let failures = count(&app, "login.failure");

    let response = app
        .post_form(
            &here,
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", "not my password!"),
                ("new_password", NEW_PASSWORD),
                ("sign_out_other_sessions", &sign_out),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(has_field_error(&body, "current_password"), "{body}");
    assert_eq!(count(&app, "login.failure"), failures + 1);

    let response = app
        .post_form(
            &here,
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", GOOD_PASSWORD),
                ("new_password", "short"),
                ("sign_out_other_sessions", &sign_out),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(has_field_error(&body, "new_password"), "{body}");

    // Without the CSRF token nothing happens.
    let response = app
        .post_form(
            &here,
            "/account/password",
            &[
                ("current_password", GOOD_PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(login_status(&app, "dora", GOOD_PASSWORD).await, 303);

    let response = app
        .post_form(
            &here,
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", GOOD_PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("sign_out_other_sessions", &sign_out),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/account?notice=password-changed"
    );
    let (status, page) = app
        .get_page(&here, "/account?notice=password-changed")
        .await;
    assert_eq!(status, 200, "this session ended");
    assert!(page.contains(r#"data-notice="password-changed""#), "{page}");
    let response = there.get(app.url("/account")).send().await.unwrap();
    assert_eq!(
        response.status(),
        303,
        "the other browser is still signed in"
    );
    assert_eq!(login_status(&app, "dora", GOOD_PASSWORD).await, 401);
    assert_eq!(login_status(&app, "dora", NEW_PASSWORD).await, 303);
    sink.expect_mail("dora@example.com", CHANGED_SUBJECT, 1, PATIENCE)
        .await;
}
