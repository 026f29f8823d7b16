//! `gatehouse user reset-2fa USERNAME` against a running server. The command works on the
//! database alone (on the embedded default the sessions live in the server's memory, out of its
//! reach): it removes the second factor and leaves a request in the session-end outbox, which the
//! server polls; within a few seconds the user's session cookie is refused, the refresh tokens
//! answer `invalid_grant` and the relying party gets a back-channel logout token.
//!
//! The command's function runs in-process against the app's own database, as the binary would
//! with the same `database.url`. Backends: whatever `spawn_app` runs on.

use std::time::Duration;

use gatehouse_server::cli::reset_second_factor;
use gatehouse_tests::oauth::{refresh, tokens_in};
use gatehouse_tests::sink::HttpSink;
use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, TestApp, TestClient, new_client, spawn_app};
use serde_json::Value;
use uuid::Uuid;

/// A few poll intervals of the server's outbox poller (every 2 s).
const WITHIN: Duration = Duration::from_secs(8);

async fn totp_enabled(app: &TestApp, user_id: Uuid) -> bool {
    app.state.app.totp_status(user_id).await.unwrap().enabled
}

async fn refresh_error(app: &TestApp, rp: &TestClient, tokens: &Value) -> (u16, Option<String>) {
    let response = refresh(app, rp, tokens["refresh_token"].as_str().unwrap()).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().map(str::to_owned))
}

/// Where a password-only sign-in in a fresh browser leads.
async fn password_sign_in_leads_to(app: &TestApp, username: &str) -> String {
    let response = app
        .login_with(&new_client(), username, GOOD_PASSWORD, None)
        .await;
    assert_eq!(response.status(), 303);
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn audited(app: &TestApp, action: &str, user_id: Uuid) -> bool {
    let target = Some(user_id.to_string());
    app.audit_actions()
        .iter()
        .any(|(a, t)| a == action && *t == target)
}

fn pending_requests(app: &TestApp) -> i64 {
    app.state
        .accounts
        .database()
        .count_session_end_requests()
        .unwrap()
}

#[tokio::test]
async fn reset_2fa_removes_the_second_factor_and_the_server_ends_every_session() {
    let app = spawn_app().await;
    let user = app.create_user("rosa").await;
    let user_id: Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let sink = HttpSink::start(&[], 200).await;
    let rp = app.register_client(ClientSpec {
        backchannel_logout_uri: Some(sink.url("/bc")),
        ..ClientSpec::default()
    });
    let browser = new_client();
    let tokens = tokens_in(&app, &browser, &rp, "rosa", &[]).await;
    let offline = tokens_in(
        &app,
        &browser,
        &rp,
        "rosa",
        &[("scope", "openid offline_access")],
    )
    .await;
    let sid = claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    app.enrol_totp("rosa").await;
    assert!(totp_enabled(&app, user_id).await);
    assert_eq!(app.account_page(&browser).await.0, 200);
    assert!(
        password_sign_in_leads_to(&app, "rosa")
            .await
            .starts_with("/login/second-factor"),
        "the password alone is not enough while TOTP is on"
    );

    let reset = reset_second_factor(
        app.state.settings.clone(),
        "Rosa".to_owned(),
        app.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!((reset.user_id, reset.removed), (user_id, true));
    assert_eq!(reset.username, "rosa");
    assert!(
        reset.to_string().contains("within about 2 seconds"),
        "{reset}"
    );
    // The second factor is gone at once, and audited as the operator's.
    assert!(!totp_enabled(&app, user_id).await);
    assert!(audited(&app, "totp.reset", user_id));

    // The server ends the sessions within a few seconds.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while app.account_page(&browser).await.0 == 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session still works {WITHIN:?} after the reset"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login"),
        "the account page sends the browser to sign in"
    );
    for grant in [&tokens, &offline] {
        assert_eq!(
            refresh_error(&app, &rp, grant).await,
            (400, Some("invalid_grant".to_owned()))
        );
    }
    assert!(audited(&app, "session.end_all", user_id));
    let end_all = app
        .state
        .accounts
        .database()
        .recent_audit_events(1000)
        .unwrap()
        .into_iter()
        .find(|event| event.action == "session.end_all")
        .unwrap();
    assert_eq!(end_all.actor.as_deref(), Some("cli"));

    // The relying party hears of the session's end (Back-Channel Logout 1.0 §2.7).
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let logouts: Vec<Value> = sink
            .requests()
            .iter()
            .map(|request| claims(&request.form()[0].1))
            .collect();
        if logouts.iter().any(|logout| logout["sid"] == sid.as_str()) {
            assert!(
                logouts
                    .iter()
                    .all(|logout| logout["sub"] == user_id.to_string()),
                "{logouts:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no logout token with sid {sid}: {logouts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The request is done and gone; the password alone now signs in.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while pending_requests(&app) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "request never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(password_sign_in_leads_to(&app, "rosa").await, "/account");
}

#[tokio::test]
async fn reset_2fa_of_an_unknown_user_is_an_error_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.create_user("sven").await;
    let user_id: Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let rp = app.register_client(ClientSpec::default());
    let browser = new_client();
    let tokens = tokens_in(&app, &browser, &rp, "sven", &[]).await;
    app.enrol_totp("sven").await;
    assert!(totp_enabled(&app, user_id).await);
    let audit_before = app.audit_actions();

    let err = reset_second_factor(
        app.state.settings.clone(),
        "nobody".to_owned(),
        app.clock_now(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no user"), "{err}");
    assert!(err.to_string().contains("nobody"), "{err}");

    assert_eq!(pending_requests(&app), 0, "nothing asked of the server");
    assert_eq!(app.audit_actions(), audit_before, "nothing audited");
    // Given the server's poller time to act on anything it might have found.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(totp_enabled(&app, user_id).await);
    assert_eq!(app.account_page(&browser).await.0, 200);
    assert_eq!(
        refresh(&app, &rp, tokens["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}
