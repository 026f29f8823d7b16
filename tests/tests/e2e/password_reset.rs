//! Password reset by mail (issue 10), against the HTTP contract: `POST /api/v1/password-resets`
//! and the `/password/forgot` page answer the same for known and unknown addresses and mail only
//! the known one; the mailed link (`{issuer}/password/reset?token=…`, read from what the suite's
//! real SMTP server received) works once, survives GETs, expires after 30 minutes and dies when a
//! newer one is requested; an account with TOTP needs a code; a reset signs out every browser,
//! revokes every refresh token (offline ones too), fires back-channel logout, mails a notice and
//! marks the address verified; both surfaces are rate limited.
//!
//! Backends: whatever `spawn_app` runs on (SQLite + memory, or Postgres + Redis).

use std::time::Duration;

use chrono::Duration as Delay;
use gatehouse_server::config::RateLimitRule;
use gatehouse_tests::oauth::{VERIFIER, authorize_url, challenge, exchange, refresh, tokens_in};
use gatehouse_tests::sink::HttpSink;
use gatehouse_tests::smtp::{SmtpSink, point_at, use_sink};
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, csrf_from_html, has_field_error, hidden_value,
    jwt_claims, new_client, page_marker, without_csrf,
};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(15);
/// Long enough for the mail worker (polling every second) to have sent anything queued.
const QUIET: Duration = Duration::from_millis(3000);
const NEW_PASSWORD: &str = "a brand new passphrase 42";
const RESET_SUBJECT: &str = "Reset your password";
const CHANGED_SUBJECT: &str = "Your password was changed";

async fn app_with(sink: &SmtpSink, users: &[&str]) -> TestApp {
    point_at(sink);
    let mut builder = TestApp::builder().configure(use_sink);
    for user in users {
        builder = builder.with_user(user);
    }
    builder.spawn().await
}

/// Status, content type and raw body of an API call.
struct Raw {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn problem_type(&self) -> String {
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

async fn raw(response: reqwest::Response) -> Raw {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let content_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
    let retry_after = header("retry-after");
    Raw {
        status,
        content_type,
        retry_after,
        body: response.text().await.unwrap(),
    }
}

async fn request_reset(app: &TestApp, email: &str) -> Raw {
    raw(app
        .client
        .post(app.url("/api/v1/password-resets"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap())
    .await
}

async fn complete(app: &TestApp, token: &str, new_password: &str, code: Option<&str>) -> Raw {
    let mut body = json!({ "token": token, "new_password": new_password });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    raw(app
        .client
        .post(app.url("/api/v1/password-resets/complete"))
        .json(&body)
        .send()
        .await
        .unwrap())
    .await
}

/// The token of the `nth` reset mail to `email`.
async fn reset_token(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let mail = sink.expect_mail(email, RESET_SUBJECT, nth, PATIENCE).await;
    let token = mail
        .token_for(&app.address, "/password/reset")
        .unwrap_or_else(|| {
            panic!(
                "no {}/password/reset?token= link: {}",
                app.address,
                mail.text()
            )
        });
    // ≥ 128 random bits: at least 22 base64url characters.
    assert!(token.len() >= 22, "token too short: {token}");
    token
}

/// Requests a reset for `email` through the API and returns the `nth` mailed token.
async fn requested_token(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let answer = request_reset(app, email).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    reset_token(app, sink, email, nth).await
}

fn reset_path(token: &str) -> String {
    format!("/password/reset?token={token}")
}

async fn login_status(app: &TestApp, username: &str, password: &str) -> u16 {
    app.login_with(&new_client(), username, password, None)
        .await
        .status()
        .as_u16()
}

fn audited(app: &TestApp, action: &str, target: &str) -> bool {
    app.audit_actions()
        .iter()
        .any(|(a, t)| a == action && t.as_deref() == Some(target))
}

#[tokio::test]
async fn known_and_unknown_addresses_get_identical_answers_and_only_the_known_one_a_mail() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["alice"]).await;

    // The API: same status, same type, byte-identical body.
    let known = request_reset(&app, "alice@example.com").await;
    let unknown = request_reset(&app, "nobody@example.com").await;
    assert_eq!(known.status, 202, "{}", known.body);
    assert_eq!(
        (unknown.status, &unknown.content_type, &unknown.body),
        (known.status, &known.content_type, &known.body),
        "the API answer reveals whether the address has an account"
    );

    // The page: the form, then the same "check your mail" page either way.
    let browser = new_client();
    let (status, form) = app.get_page(&browser, "/password/forgot").await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(page_marker(&form).as_deref(), Some("password-forgot"));
    assert!(form.contains(r#"name="email""#), "{form}");
    let csrf = csrf_from_html(&form);
    let mut pages = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        let response = app
            .post_form(
                &browser,
                "/password/forgot",
                &[("email", email), ("csrf_token", &csrf)],
            )
            .await;
        let answer = raw(response).await;
        assert_eq!(answer.status, 200, "{email}: {}", answer.body);
        assert_eq!(
            page_marker(&answer.body).as_deref(),
            Some("password-forgot-sent"),
            "{}",
            answer.body
        );
        // The page may echo the address typed; nothing else may differ.
        pages.push(Raw {
            body: without_csrf(&answer.body).replace(email, "EMAIL"),
            ..answer
        });
    }
    assert_eq!(pages[0].content_type, pages[1].content_type);
    assert_eq!(
        pages[0].body, pages[1].body,
        "the page reveals whether the address has an account"
    );

    // Only the known address gets mail: one per request, each with its own link.
    let mails = sink
        .wait_for_mails("alice@example.com", RESET_SUBJECT, 2, PATIENCE)
        .await;
    assert_eq!(mails.len(), 2);
    let first = mails[0].token_for(&app.address, "/password/reset").unwrap();
    let second = mails[1].token_for(&app.address, "/password/reset").unwrap();
    assert_ne!(first, second);
    assert!(mails[0].decoded_part("text/html").is_some());
    tokio::time::sleep(QUIET).await;
    assert!(
        sink.messages()
            .iter()
            .all(|mail| !mail.is_to("nobody@example.com")),
        "an unknown address was mailed"
    );
    assert_eq!(
        sink.mails_to("alice@example.com", RESET_SUBJECT).len(),
        2,
        "one mail per request"
    );
    let alice = app.user_id("alice").to_string();
    let requests = app
        .audit_actions()
        .iter()
        .filter(|(a, t)| a == "password.reset_request" && t.as_deref() == Some(alice.as_str()))
        .count();
    assert_eq!(requests, 2, "{:?}", app.audit_actions());
}

#[tokio::test]
async fn the_link_works_once_and_a_get_consumes_nothing() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["bob"]).await;
    let token = requested_token(&app, &sink, "bob@example.com", 1).await;

    // A mail scanner and then the user open the link: the form both times, nothing spent.
    let browser = new_client();
    for _ in 0..2 {
        let (status, page) = app.get_page(&browser, &reset_path(&token)).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page_marker(&page).as_deref(), Some("password-reset"));
        assert_eq!(hidden_value(&page, "token"), token);
        assert!(page.contains(r#"name="new_password""#), "{page}");
        assert!(
            !page.contains(r#"name="code""#),
            "no second factor on this account: {page}"
        );
    }

    // A weak password is refused and spends nothing either.
    let weak = complete(&app, &token, "short", None).await;
    assert_eq!(weak.status, 400, "{}", weak.body);

    let done = complete(&app, &token, NEW_PASSWORD, None).await;
    assert_eq!(done.status, 204, "{}", done.body);
    assert!(done.body.is_empty(), "{}", done.body);

    // Twice: the link is spent.
    let again = complete(&app, &token, "yet another passphrase 7", None).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(
        again.problem_type().ends_with("invalid-token"),
        "{}",
        again.body
    );
    let (status, page) = app.get_page(&browser, &reset_path(&token)).await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("password-reset-failed"));

    // The password that counts is the one the first use set.
    assert_eq!(login_status(&app, "bob", GOOD_PASSWORD).await, 401);
    assert_eq!(
        login_status(&app, "bob", "yet another passphrase 7").await,
        401
    );
    assert_eq!(login_status(&app, "bob", NEW_PASSWORD).await, 303);
}

#[tokio::test]
async fn the_reset_page_sets_the_password_once() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["carla"]).await;
    let token = requested_token(&app, &sink, "carla@example.com", 1).await;
    let browser = new_client();
    let (status, page) = app.get_page(&browser, &reset_path(&token)).await;
    assert_eq!(status, 200, "{page}");
    let csrf = csrf_from_html(&page);

    // A weak password: the form again, with the error at the field, and the link still good.
    let response = app
        .post_form(
            &browser,
            "/password/reset",
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("new_password", "short"),
            ],
        )
        .await;
    let weak = raw(response).await;
    assert_eq!(weak.status, 400, "{}", weak.body);
    assert!(has_field_error(&weak.body, "new_password"), "{}", weak.body);

    let response = app
        .post_form(
            &browser,
            "/password/reset",
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    let done = raw(response).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        page_marker(&done.body).as_deref(),
        Some("password-reset-done")
    );
    assert!(done.body.contains(r#"href="/login"#), "{}", done.body);

    let response = app
        .post_form(
            &browser,
            "/password/reset",
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("new_password", "yet another passphrase 7"),
            ],
        )
        .await;
    let again = raw(response).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(
        page_marker(&again.body).as_deref(),
        Some("password-reset-failed"),
        "{}",
        again.body
    );
    assert_eq!(login_status(&app, "carla", NEW_PASSWORD).await, 303);
}

#[tokio::test]
async fn an_expired_link_fails() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["dan"]).await;
    let token = requested_token(&app, &sink, "dan@example.com", 1).await;

    app.advance_clock(Delay::minutes(29));
    let (status, page) = app.get_page(&new_client(), &reset_path(&token)).await;
    assert_eq!(status, 200, "still good after 29 minutes: {page}");

    app.advance_clock(Delay::minutes(2));
    let (status, page) = app.get_page(&new_client(), &reset_path(&token)).await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("password-reset-failed"));
    let expired = complete(&app, &token, NEW_PASSWORD, None).await;
    assert_eq!(expired.status, 400, "{}", expired.body);
    assert!(
        expired.problem_type().ends_with("invalid-token"),
        "{}",
        expired.body
    );
    assert_eq!(login_status(&app, "dan", NEW_PASSWORD).await, 401);
    assert_eq!(login_status(&app, "dan", GOOD_PASSWORD).await, 303);
}

#[tokio::test]
async fn a_second_request_kills_the_first_link() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["erin"]).await;
    let first = requested_token(&app, &sink, "erin@example.com", 1).await;
    let second = requested_token(&app, &sink, "erin@example.com", 2).await;
    assert_ne!(first, second);

    let (status, page) = app.get_page(&new_client(), &reset_path(&first)).await;
    assert_eq!(
        status, 400,
        "the replaced link still shows its form: {page}"
    );
    assert_eq!(page_marker(&page).as_deref(), Some("password-reset-failed"));
    let old = complete(&app, &first, NEW_PASSWORD, None).await;
    assert_eq!(old.status, 400, "{}", old.body);
    assert!(
        old.problem_type().ends_with("invalid-token"),
        "{}",
        old.body
    );

    let new = complete(&app, &second, NEW_PASSWORD, None).await;
    assert_eq!(new.status, 204, "{}", new.body);
    assert_eq!(login_status(&app, "erin", NEW_PASSWORD).await, 303);
}

#[tokio::test]
async fn a_user_with_totp_must_give_a_code_through_the_api() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["fay"]).await;
    let (secret, _) = app.enrol_totp("fay").await;
    // The enrolment spent the current step.
    app.advance_clock(Delay::seconds(30));
    let token = requested_token(&app, &sink, "fay@example.com", 1).await;

    let (status, page) = app.get_page(&new_client(), &reset_path(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"name="code""#),
        "the form asks for a code: {page}"
    );

    let missing = complete(&app, &token, NEW_PASSWORD, None).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(
        missing.problem_type().ends_with("second-factor-required"),
        "{}",
        missing.body
    );
    let current = code_at(&secret, app.clock_now(), 0);
    let near: Vec<String> = (-2..=2)
        .map(|step| code_at(&secret, app.clock_now(), step))
        .collect();
    let wrong_code = ["000000", "111111", "222222", "333333", "444444", "555555"]
        .into_iter()
        .find(|code| !near.iter().any(|n| n == code))
        .unwrap();
    let wrong = complete(&app, &token, NEW_PASSWORD, Some(wrong_code)).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(
        wrong.problem_type().ends_with("invalid-code"),
        "{}",
        wrong.body
    );
    // Neither changed the password.
    let leads_to = app
        .login_with(&new_client(), "fay", NEW_PASSWORD, None)
        .await;
    assert_eq!(leads_to.status(), 401, "the mailbox alone set the password");

    let right = complete(&app, &token, NEW_PASSWORD, Some(&current)).await;
    assert_eq!(right.status, 204, "{}", right.body);
    // The new password, then still the second factor.
    let response = app
        .login_with(&new_client(), "fay", NEW_PASSWORD, None)
        .await;
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/second-factor"),
        "the reset did not remove the second factor"
    );
}

#[tokio::test]
async fn a_user_with_totp_can_reset_on_the_page_with_a_recovery_code() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["gus"]).await;
    let (_, recovery) = app.enrol_totp("gus").await;
    let token = requested_token(&app, &sink, "gus@example.com", 1).await;
    let browser = new_client();
    let (_, page) = app.get_page(&browser, &reset_path(&token)).await;
    assert_eq!(page_marker(&page).as_deref(), Some("password-reset"));
    let csrf = csrf_from_html(&page);

    let response = app
        .post_form(
            &browser,
            "/password/reset",
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
                ("code", ""),
            ],
        )
        .await;
    let missing = raw(response).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(has_field_error(&missing.body, "code"), "{}", missing.body);

    let response = app
        .post_form(
            &browser,
            "/password/reset",
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("new_password", NEW_PASSWORD),
                ("code", &recovery[0]),
            ],
        )
        .await;
    let done = raw(response).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        page_marker(&done.body).as_deref(),
        Some("password-reset-done")
    );
    assert_eq!(login_status(&app, "gus", GOOD_PASSWORD).await, 401);
}

/// The code flow for `username` with `password` in `browser`, exchanged: the token response.
async fn tokens_with_password(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    username: &str,
    password: &str,
    scope: &str,
) -> Value {
    let challenge = challenge(VERIFIER);
    let url = authorize_url(
        app,
        rp,
        &[
            ("scope", scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let callback = app
        .browse_authorize(browser, &url, Some((username, password)))
        .await;
    let code = gatehouse_tests::oauth::param(&callback, "code")
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let response = exchange(app, rp, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh_error(app: &TestApp, rp: &TestClient, tokens: &Value) -> (u16, Value) {
    let response = refresh(app, rp, tokens["refresh_token"].as_str().unwrap()).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_reset_signs_everything_old_out_and_tells_the_user() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, &["hana"]).await;
    let user_id = app.user_id("hana").to_string();
    assert!(!app.email_verified("hana"));
    let backchannel = HttpSink::start(&[], 200).await;
    let rp = app.register_client(ClientSpec {
        backchannel_logout_uri: Some(backchannel.url("/bc")),
        ..ClientSpec::default()
    });

    // A browser with a grant and an offline grant, and a second browser with a session.
    let browser = new_client();
    let online = tokens_in(&app, &browser, &rp, "hana", &[]).await;
    let offline = tokens_in(
        &app,
        &browser,
        &rp,
        "hana",
        &[("scope", "openid offline_access")],
    )
    .await;
    assert!(offline["refresh_token"].is_string(), "{offline}");
    let sid = jwt_claims(online["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.signed_in_browser("hana", GOOD_PASSWORD).await;
    assert_eq!(app.account_page(&browser).await.0, 200);
    assert_eq!(app.account_page(&other).await.0, 200);
    // The grants work before the reset.
    let (status, refreshed) = refresh_error(&app, &rp, &online).await;
    assert_eq!(status, 200, "{refreshed}");
    let online = refreshed;

    let token = requested_token(&app, &sink, "hana@example.com", 1).await;
    let done = complete(&app, &token, NEW_PASSWORD, None).await;
    assert_eq!(done.status, 204, "{}", done.body);

    // Every browser is signed out.
    for (name, cookies) in [("first", &browser), ("second", &other)] {
        let response = cookies.get(app.url("/account")).send().await.unwrap();
        assert_eq!(
            response.status(),
            303,
            "the {name} browser is still signed in"
        );
        assert!(
            response.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login"),
            "{name}"
        );
    }
    // Every refresh token is dead, the offline one included.
    for (name, grant) in [("online", &online), ("offline", &offline)] {
        let (status, body) = refresh_error(&app, &rp, grant).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "the {name} refresh token survived the reset: {body}"
        );
    }
    // The relying party hears of it (Back-Channel Logout 1.0).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let logouts: Vec<Value> = backchannel
            .requests()
            .iter()
            .filter_map(|request| {
                request
                    .form()
                    .into_iter()
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, token)| jwt_claims(&token))
            })
            .collect();
        if logouts.iter().any(|logout| logout["sid"] == sid.as_str()) {
            assert!(
                logouts
                    .iter()
                    .all(|logout| logout["sub"] == user_id.as_str()),
                "{logouts:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no back-channel logout for sid {sid}: {logouts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The old password is gone, the new one works.
    assert_eq!(login_status(&app, "hana", GOOD_PASSWORD).await, 401);
    assert_eq!(login_status(&app, "hana", NEW_PASSWORD).await, 303);

    // The owner is told; the address counts as verified now (the mailbox was proven).
    let notice = sink
        .expect_mail("hana@example.com", CHANGED_SUBJECT, 1, PATIENCE)
        .await;
    assert!(
        notice.text().contains("/password/forgot"),
        "{}",
        notice.text()
    );
    assert!(app.email_verified("hana"));
    let fresh = tokens_with_password(
        &app,
        &new_client(),
        &rp,
        "hana",
        NEW_PASSWORD,
        "openid email",
    )
    .await;
    assert_eq!(
        jwt_claims(fresh["id_token"].as_str().unwrap())["email_verified"],
        true
    );

    assert!(audited(&app, "password.reset_request", &user_id));
    assert!(audited(&app, "password.reset", &user_id));
}

fn small(limit: u64) -> RateLimitRule {
    RateLimitRule {
        limit,
        window_secs: 60,
    }
}

fn retry_after_secs(answer: &Raw) -> i64 {
    let secs: i64 = answer
        .retry_after
        .as_deref()
        .unwrap_or_else(|| panic!("a 429 without Retry-After: {}", answer.body))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "Retry-After: {secs}");
    secs
}

#[tokio::test]
async fn requests_over_the_ip_limit_get_429_with_retry_after_on_both_surfaces() {
    let sink = SmtpSink::start().await;
    point_at(&sink);
    let app = TestApp::builder()
        .configure(|s| {
            use_sink(s);
            s.rate_limits.password_reset_per_ip = small(3);
        })
        .with_user("ivy")
        .spawn()
        .await;
    let browser = new_client();
    let (_, form) = app.get_page(&browser, "/password/forgot").await;
    let csrf = csrf_from_html(&form);
    for n in 0..3 {
        let answer = request_reset(&app, &format!("someone{n}@example.com")).await;
        assert_eq!(answer.status, 202, "request {n}: {}", answer.body);
    }
    let refused = request_reset(&app, "ivy@example.com").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.content_type, "application/problem+json");
    let wait = retry_after_secs(&refused);

    // The page shares the count, and answers in HTML.
    let response = app
        .post_form(
            &browser,
            "/password/forgot",
            &[("email", "ivy@example.com"), ("csrf_token", &csrf)],
        )
        .await;
    let page = raw(response).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    retry_after_secs(&page);
    // Completions count too.
    let completion = complete(
        &app,
        "no-such-token-aaaaaaaaaaaaaaaaaaaa",
        NEW_PASSWORD,
        None,
    )
    .await;
    assert_eq!(completion.status, 429, "{}", completion.body);

    tokio::time::sleep(QUIET).await;
    assert!(
        sink.mails_to("ivy@example.com", RESET_SUBJECT).is_empty(),
        "a refused request sent mail"
    );

    app.advance_clock(Delay::seconds(wait));
    let answer = request_reset(&app, "ivy@example.com").await;
    assert_eq!(answer.status, 202, "a new window: {}", answer.body);
    reset_token(&app, &sink, "ivy@example.com", 1).await;
}

#[tokio::test]
async fn requests_for_one_address_are_limited_whether_or_not_it_has_an_account() {
    let sink = SmtpSink::start().await;
    point_at(&sink);
    let app = TestApp::builder()
        .configure(|s| {
            use_sink(s);
            s.rate_limits.password_reset_per_account = small(2);
        })
        .with_user("jon")
        .spawn()
        .await;
    let mut answers = Vec::new();
    for email in ["jon@example.com", "ghost@example.com"] {
        for n in 0..2 {
            let answer = request_reset(&app, email).await;
            assert_eq!(answer.status, 202, "{email} #{n}: {}", answer.body);
        }
        let refused = request_reset(&app, email).await;
        assert_eq!(refused.status, 429, "{email}: {}", refused.body);
        retry_after_secs(&refused);
        answers.push(refused);
    }
    assert_eq!(
        answers[0].body.len(),
        answers[1].body.len(),
        "{} vs {}",
        answers[0].body,
        answers[1].body
    );
    // Another address is not affected.
    assert_eq!(request_reset(&app, "JON2@example.com").await.status, 202);
    let mails = sink
        .wait_for_mails("jon@example.com", RESET_SUBJECT, 2, PATIENCE)
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        sink.mails_to("jon@example.com", RESET_SUBJECT).len(),
        2,
        "the refused request sent mail: {mails:?}"
    );
}
