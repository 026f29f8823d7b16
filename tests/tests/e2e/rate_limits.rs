//! Per-IP rate limits (RFC 6585 §4) on the sign-in forms and registration: the request over the
//! limit gets 429 with `Retry-After` before any password is checked, and the next window lets the
//! client in again. Limits are lowered through the settings; the window moves with the app's
//! clock.

use gatehouse_server::config::RateLimitRule;
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{GOOD_PASSWORD, TestApp, csrf_from_html, hidden_value, new_client};
use serde_json::Value;

const WINDOW_SECS: u64 = 60;

fn small(limit: u64) -> RateLimitRule {
    RateLimitRule {
        limit,
        window_secs: WINDOW_SECS,
    }
}

fn login_failures(app: &TestApp) -> usize {
    app.audit_actions()
        .into_iter()
        .filter(|(action, _)| action == "login.failure")
        .count()
}

/// `Retry-After` as seconds; asserts it is there and within the window.
fn retry_after(response: &reqwest::Response) -> u64 {
    let secs: u64 = response
        .headers()
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=WINDOW_SECS).contains(&secs), "Retry-After: {secs}");
    secs
}

fn is_html(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"))
}

#[tokio::test]
async fn the_login_over_the_limit_is_refused_before_the_password_is_checked() {
    let app = TestApp::builder()
        .configure(|s| s.rate_limits.login_per_ip = small(3))
        .with_user("rita")
        .spawn()
        .await;
    let browser = new_client();
    for attempt in 1..=3 {
        let response = app
            .login_with(&browser, "rita", "not the password", None)
            .await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    assert_eq!(login_failures(&app), 3);

    // The right password, over the limit: refused without a look at it.
    let refused = app.login_with(&browser, "rita", GOOD_PASSWORD, None).await;
    assert_eq!(refused.status(), 429);
    assert!(is_html(&refused));
    let wait = retry_after(&refused);
    assert!(refused.text().await.unwrap().contains("Too many attempts"));
    // Also from a browser with no form at all: the form's content does not matter.
    let bare = new_client()
        .post(app.url("/login"))
        .form(&[("username", "rita")])
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 429);
    assert_eq!(login_failures(&app), 3, "no password was checked");

    app.advance_clock(chrono::Duration::seconds(i64::try_from(wait).unwrap()));
    let response = app.login_with(&browser, "rita", GOOD_PASSWORD, None).await;
    assert_eq!(response.status(), 303, "a new window lets the client in");
}

#[tokio::test]
async fn the_second_factor_over_the_limit_is_refused_before_the_code_is_checked() {
    let app = TestApp::builder()
        .configure(|s| s.rate_limits.second_factor_per_ip = small(2))
        .with_user("sven")
        .spawn()
        .await;
    let (secret, _) = app.enrol_totp("sven").await;
    app.advance_clock(chrono::Duration::seconds(30));
    let browser = new_client();
    let password_step = app.login_with(&browser, "sven", GOOD_PASSWORD, None).await;
    assert_eq!(password_step.status(), 303);
    let page = browser
        .get(app.url("/login/second-factor"))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    let submit = |code: String| {
        let form = [
            ("code", code),
            ("csrf_token", csrf_from_html(&html)),
            ("return_to", hidden_value(&html, "return_to")),
        ];
        let request = browser.post(app.url("/login/second-factor")).form(&form);
        async move { request.send().await.unwrap() }
    };
    for attempt in 1..=2 {
        assert_eq!(
            submit("000000".to_owned()).await.status(),
            401,
            "attempt {attempt}"
        );
    }
    let failures = login_failures(&app);

    let refused = submit(code_at(&secret, app.clock_now(), 0)).await;
    assert_eq!(refused.status(), 429);
    assert!(is_html(&refused));
    let wait = retry_after(&refused);
    assert_eq!(login_failures(&app), failures, "no code was checked");

    app.advance_clock(chrono::Duration::seconds(i64::try_from(wait).unwrap()));
    let passed = submit(code_at(&secret, app.clock_now(), 0)).await;
    assert_eq!(
        passed.status(),
        303,
        "a new window lets the client in, and the refused request spent no attempt"
    );
}

#[tokio::test]
async fn the_registration_over_the_limit_is_a_problem_with_retry_after() {
    let app = TestApp::builder()
        .configure(|s| s.rate_limits.registration_per_ip = small(2))
        .spawn()
        .await;
    app.create_user("ada").await;
    app.create_user("bob").await;
    let users = app.user_count();

    let refused = app.register("cyd", "cyd@example.com", GOOD_PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let wait = retry_after(&refused);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:gatehouse:problem:too-many-requests");
    assert_eq!(problem["status"], 429);
    // Refused before the body is read: a malformed one gets the same answer.
    let malformed = app
        .client
        .post(app.url("/api/v1/users"))
        .header("content-type", "text/plain")
        .body("nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 429);
    assert_eq!(app.user_count(), users);

    app.advance_clock(chrono::Duration::seconds(i64::try_from(wait).unwrap()));
    app.create_user("cyd").await;
}

#[tokio::test]
async fn disabled_limits_refuse_nothing() {
    let app = TestApp::builder()
        .configure(|s| {
            s.rate_limits.enabled = false;
            s.rate_limits.registration_per_ip = small(1);
        })
        .spawn()
        .await;
    for name in ["dan", "eve", "fay"] {
        app.create_user(name).await;
    }
}
