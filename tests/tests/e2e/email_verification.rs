//! Address verification (issue 10), against the HTTP contract: a sign-up mails a link
//! (`{issuer}/email/verify?token=…`) and a six-digit code, read from what the suite's real SMTP
//! server received; `email_verified` in ID tokens and userinfo follows the link; a used link says
//! "already verified", an expired or replaced one fails; codes work through the API and the
//! pages; `registration.require_verified_email` stops unverified users at `/email/unverified`
//! and hides which addresses have accounts; a change of address stays pending until the new
//! address is verified.
//!
//! Backends: whatever `spawn_app` runs on (SQLite + memory, or Postgres + Redis).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Duration as Delay;
use gatehouse_tests::oauth::{VERIFIER, authorize_url, challenge, exchange, param, tokens_in};
use gatehouse_tests::smtp::{SmtpSink, point_at, use_sink};
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, attribute_value, csrf_from_html,
    has_field_error, hidden_value, jwt_claims, new_client, page_marker, set_cookie_lines,
    without_csrf,
};
use reqwest::Method;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(15);
const QUIET: Duration = Duration::from_millis(3000);
const VERIFY_SUBJECT: &str = "Verify your email address";
const EXISTS_SUBJECT: &str = "You already have an account";
const CHANGE_NOTICE_SUBJECT: &str = "Your email address is being changed";

async fn app_with(sink: &SmtpSink) -> TestApp {
    point_at(sink);
    TestApp::builder().configure(use_sink).spawn().await
}

async fn app_with_policy(sink: &SmtpSink) -> TestApp {
    point_at(sink);
    TestApp::builder()
        .configure(|s| {
            use_sink(s);
            s.registration.require_verified_email = true;
        })
        .spawn()
        .await
}

/// A client allowed everything these tests ask for.
fn client(app: &TestApp) -> TestClient {
    app.register_client(ClientSpec {
        scopes: ["openid", "profile", "email", "account", "offline_access"]
            .map(str::to_owned)
            .to_vec(),
        ..ClientSpec::default()
    })
}

/// The token of the `nth` verification mail to `email`, and the mail's code.
async fn verification(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> (String, String) {
    let mail = sink.expect_mail(email, VERIFY_SUBJECT, nth, PATIENCE).await;
    let token = mail
        .token_for(&app.address, "/email/verify")
        .unwrap_or_else(|| {
            panic!(
                "no {}/email/verify?token= link: {}",
                app.address,
                mail.text()
            )
        });
    assert!(token.len() >= 22, "token too short: {token}");
    let code = mail
        .verification_code()
        .unwrap_or_else(|| panic!("no `Code: ` line: {}", mail.text()));
    assert_eq!(code.len(), 6, "{code}");
    (token, code)
}

fn verify_path(token: &str) -> String {
    format!("/email/verify?token={token}")
}

fn email_verified_in(tokens: &Value) -> Value {
    jwt_claims(tokens["id_token"].as_str().unwrap())["email_verified"].clone()
}

async fn userinfo(app: &TestApp, tokens: &Value) -> Value {
    let response = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// An API call with the user's bearer token: status and JSON body (`Null` when empty).
async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, if bytes.is_empty() { Value::Null } else { body })
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

#[tokio::test]
async fn email_verified_is_false_after_sign_up_and_true_after_the_link() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("anna").await;
    let rp = client(&app);
    let browser = new_client();
    let before = tokens_in(&app, &browser, &rp, "anna", &[("scope", "openid email")]).await;
    assert_eq!(email_verified_in(&before), false);
    assert_eq!(userinfo(&app, &before).await["email_verified"], false);

    let (token, _) = verification(&app, &sink, "anna@example.com", 1).await;
    let (status, page) = app.get_page(&new_client(), &verify_path(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("email-verified"));
    assert!(app.email_verified("anna"));

    let after = tokens_in(&app, &browser, &rp, "anna", &[("scope", "openid email")]).await;
    assert_eq!(email_verified_in(&after), true, "a new ID token says so");
    assert_eq!(userinfo(&app, &after).await["email_verified"], true);

    // The second click: "already verified", not an error.
    let (status, page) = app.get_page(&new_client(), &verify_path(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page_marker(&page).as_deref(),
        Some("email-already-verified")
    );
    let user_id = app.user_id("anna").to_string();
    assert!(
        app.audit_actions()
            .iter()
            .any(|(a, t)| a == "email.verify" && t.as_deref() == Some(user_id.as_str())),
        "{:?}",
        app.audit_actions()
    );
    // An unknown link fails.
    let (status, page) = app
        .get_page(
            &new_client(),
            &verify_path("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("email-verify-failed"));
}

#[tokio::test]
async fn an_expired_link_fails() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("boris").await;
    let (token, _) = verification(&app, &sink, "boris@example.com", 1).await;
    app.advance_clock(Delay::hours(24) + Delay::seconds(1));
    let (status, page) = app.get_page(&new_client(), &verify_path(&token)).await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("email-verify-failed"));
    assert!(!app.email_verified("boris"));
}

#[tokio::test]
async fn a_resend_through_the_api_kills_the_old_link() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("cecil").await;
    let rp = client(&app);
    let tokens = tokens_in(
        &app,
        &new_client(),
        &rp,
        "cecil",
        &[("scope", "openid account")],
    )
    .await;
    let (old, _) = verification(&app, &sink, "cecil@example.com", 1).await;

    let (status, body) = api(
        &app,
        Method::POST,
        "/api/v1/account/email-verification",
        access(&tokens),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (new, _) = verification(&app, &sink, "cecil@example.com", 2).await;
    assert_ne!(old, new);

    let (status, page) = app.get_page(&new_client(), &verify_path(&old)).await;
    assert_eq!(status, 400, "the replaced link still works: {page}");
    assert_eq!(page_marker(&page).as_deref(), Some("email-verify-failed"));
    assert!(!app.email_verified("cecil"));

    let (status, page) = app.get_page(&new_client(), &verify_path(&new)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("email-verified"));
    assert!(app.email_verified("cecil"));

    // Verified: nothing to resend.
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/v1/account/email-verification",
        access(&tokens),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn the_code_confirms_the_address_through_the_api() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("dina").await;
    let rp = client(&app);
    let tokens = tokens_in(
        &app,
        &new_client(),
        &rp,
        "dina",
        &[("scope", "openid account")],
    )
    .await;
    let (token, code) = verification(&app, &sink, "dina@example.com", 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    let (status, body) = api(
        &app,
        Method::POST,
        "/api/v1/account/email-verification/confirm",
        access(&tokens),
        Some(json!({ "code": wrong })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(!app.email_verified("dina"));

    let (status, body) = api(
        &app,
        Method::POST,
        "/api/v1/account/email-verification/confirm",
        access(&tokens),
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, account) = api(&app, Method::GET, "/api/v1/account", access(&tokens), None).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["email_verified"], true, "{account}");
    // The link of the same mail is spent with it.
    let (status, page) = app.get_page(&new_client(), &verify_path(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page_marker(&page).as_deref(),
        Some("email-already-verified")
    );
}

#[tokio::test]
async fn the_account_page_resends_and_takes_the_code() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("emil").await;
    let (old, _) = verification(&app, &sink, "emil@example.com", 1).await;
    let browser = app.signed_in_browser("emil", GOOD_PASSWORD).await;
    let (status, account) = app.account_page(&browser).await;
    assert_eq!(status, 200, "{account}");
    assert!(account.contains("emil@example.com"), "{account}");
    assert_eq!(
        attribute_value(&account, "data-email-verified").as_deref(),
        Some("false"),
        "{account}"
    );
    assert!(
        account.contains(r#"action="/account/email/resend""#),
        "{account}"
    );

    let response = app
        .post_form(
            &browser,
            "/account/email/resend",
            &[("csrf_token", &csrf_from_html(&account))],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/account?notice=verification-sent"
    );
    let (new, code) = verification(&app, &sink, "emil@example.com", 2).await;
    assert_ne!(old, new);
    let (status, _) = app.get_page(&new_client(), &verify_path(&old)).await;
    assert_eq!(status, 400, "the resend did not kill the old link");

    // A wrong code: the account page with the error at the field.
    let (_, account) = app
        .get_page(&browser, "/account?notice=verification-sent")
        .await;
    assert!(
        account.contains(r#"data-notice="verification-sent""#),
        "{account}"
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let response = app
        .post_form(
            &browser,
            "/account/email/verify",
            &[("csrf_token", &csrf_from_html(&account)), ("code", wrong)],
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(has_field_error(&page, "code"), "{page}");

    let response = app
        .post_form(
            &browser,
            "/account/email/verify",
            &[("csrf_token", &csrf_from_html(&account)), ("code", &code)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/account?notice=email-verified"
    );
    let (_, account) = app.account_page(&browser).await;
    assert_eq!(
        attribute_value(&account, "data-email-verified").as_deref(),
        Some("true"),
        "{account}"
    );
}

/// Follows redirects inside the app from `url` in `browser`: the final page (status, URL,
/// body), or the redirect that left the app.
async fn follow(app: &TestApp, browser: &reqwest::Client, url: &str) -> (u16, String, String) {
    let mut next = url.to_owned();
    for _ in 0..10 {
        let url = if next.starts_with('/') {
            app.url(&next)
        } else {
            next.clone()
        };
        if !url.starts_with(&app.address) {
            return (302, url, String::new());
        }
        let response = browser.get(&url).send().await.unwrap();
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            next = response.headers()["location"].to_str().unwrap().to_owned();
            continue;
        }
        return (status, url, response.text().await.unwrap());
    }
    panic!("too many redirects")
}

#[tokio::test]
async fn with_the_policy_on_an_unverified_user_is_stopped_until_verified() {
    let sink = SmtpSink::start().await;
    let app = app_with_policy(&sink).await;
    let response = app
        .register("fred", "fred@example.com", GOOD_PASSWORD)
        .await;
    assert_eq!(response.status(), 201);
    let rp = client(&app);
    let browser = new_client();
    let challenge = challenge(VERIFIER);
    let authorize = authorize_url(
        &app,
        &rp,
        &[
            ("scope", "openid email"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    // Sign in from the authorization request.
    let (status, _, login) = follow(&app, &browser, &authorize).await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(page_marker(&login).as_deref(), Some("login"));
    let response = app
        .post_form(
            &browser,
            "/login",
            &[
                ("username", "fred"),
                ("password", GOOD_PASSWORD),
                ("csrf_token", &csrf_from_html(&login)),
                ("return_to", &hidden_value(&login, "return_to")),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, url, page) = follow(&app, &browser, &location).await;
    assert!(
        !url.starts_with(&rp.redirect_uri),
        "an unverified user got to the client: {url}"
    );
    assert_eq!(status, 200, "{url}: {page}");
    assert!(
        url.starts_with(&app.url("/email/unverified")),
        "not sent to verify: {url}"
    );
    assert_eq!(page_marker(&page).as_deref(), Some("email-unverified"));
    assert!(page.contains(r#"action="/account/email/resend""#), "{page}");
    assert!(page.contains(r#"action="/account/email/verify""#), "{page}");
    // Trying the authorization request again changes nothing.
    let (_, url, _) = follow(&app, &browser, &authorize).await;
    assert!(url.starts_with(&app.url("/email/unverified")), "{url}");

    // The code from the mail, on that page, continues the request to the client.
    let (_, code) = verification(&app, &sink, "fred@example.com", 1).await;
    let return_to = hidden_value(&page, "return_to");
    assert!(!return_to.is_empty(), "{page}");
    let response = app
        .post_form(
            &browser,
            "/account/email/verify",
            &[
                ("csrf_token", &csrf_from_html(&page)),
                ("code", &code),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, return_to);
    let (_, url, page) = follow(&app, &browser, &location).await;
    assert!(url.starts_with(&rp.redirect_uri), "{url}: {page}");
    let callback = reqwest::Url::parse(&url).unwrap();
    let code = param(&callback, "code").expect("a code after verifying");
    let response = exchange(&app, &rp, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(email_verified_in(&tokens), true);
}

#[tokio::test]
async fn with_the_policy_on_the_mailed_link_also_lets_the_flow_continue() {
    let sink = SmtpSink::start().await;
    let app = app_with_policy(&sink).await;
    assert_eq!(
        app.register("gina", "gina@example.com", GOOD_PASSWORD)
            .await
            .status(),
        201
    );
    let rp = client(&app);
    let browser = new_client();
    let challenge = challenge(VERIFIER);
    let authorize = authorize_url(
        &app,
        &rp,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let (_, _, login) = follow(&app, &browser, &authorize).await;
    let response = app
        .post_form(
            &browser,
            "/login",
            &[
                ("username", "gina"),
                ("password", GOOD_PASSWORD),
                ("csrf_token", &csrf_from_html(&login)),
                ("return_to", &hidden_value(&login, "return_to")),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (_, url, page) = follow(&app, &browser, &location).await;
    assert_eq!(
        page_marker(&page).as_deref(),
        Some("email-unverified"),
        "{url}"
    );

    let (token, _) = verification(&app, &sink, "gina@example.com", 1).await;
    let (status, _) = app.get_page(&new_client(), &verify_path(&token)).await;
    assert_eq!(status, 200);
    let (_, url, page) = follow(&app, &browser, &authorize).await;
    assert!(url.starts_with(&rp.redirect_uri), "{url}: {page}");
    assert!(param(&reqwest::Url::parse(&url).unwrap(), "code").is_some());
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn with_the_policy_on_sign_up_with_a_registered_address_answers_like_a_new_one() {
    let sink = SmtpSink::start().await;
    let app = app_with_policy(&sink).await;
    assert_eq!(
        app.register("owner", "owner@example.com", GOOD_PASSWORD)
            .await
            .status(),
        201
    );
    verification(&app, &sink, "owner@example.com", 1).await;
    let users = app.user_count();

    let fresh = app
        .register("newcomer", "newcomer@example.com", GOOD_PASSWORD)
        .await;
    let taken = app
        .register("intruder", "owner@example.com", GOOD_PASSWORD)
        .await;
    assert_eq!(fresh.status(), 201);
    assert_eq!(taken.status(), 201, "the taken address is revealed");
    assert_eq!(
        fresh.headers().get("location").is_some(),
        taken.headers().get("location").is_some()
    );
    assert_eq!(
        fresh.headers().get("content-type"),
        taken.headers().get("content-type")
    );
    let fresh: Value = fresh.json().await.unwrap();
    let taken: Value = taken.json().await.unwrap();
    assert_eq!(keys(&fresh), keys(&taken), "{fresh} vs {taken}");
    assert_eq!(taken["username"], "intruder");
    assert_eq!(taken["email"], "owner@example.com");
    assert_eq!(taken["email_verified"], fresh["email_verified"]);
    assert_eq!(app.user_count(), users + 1, "only the newcomer was created");

    // The owner is told; the newcomer gets a verification mail; the owner no second one.
    let notice = sink
        .expect_mail("owner@example.com", EXISTS_SUBJECT, 1, PATIENCE)
        .await;
    assert!(
        notice.text().contains("/password/forgot"),
        "{}",
        notice.text()
    );
    verification(&app, &sink, "newcomer@example.com", 1).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.mails_to("owner@example.com", VERIFY_SUBJECT).len(), 1);

    // A taken username is still refused (usernames are public).
    let response = app
        .register("owner", "someone-else@example.com", GOOD_PASSWORD)
        .await;
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn with_the_policy_on_the_sign_up_page_answers_alike_for_a_registered_address() {
    let sink = SmtpSink::start().await;
    let app = app_with_policy(&sink).await;
    assert_eq!(
        app.register("olga", "olga@example.com", GOOD_PASSWORD)
            .await
            .status(),
        201
    );
    let users = app.user_count();
    let mut pages = Vec::new();
    for (username, email) in [("pia", "pia@example.com"), ("quin", "olga@example.com")] {
        let browser = new_client();
        let (status, form) = app.get_page(&browser, "/register").await;
        assert_eq!(status, 200, "{form}");
        let response = app
            .post_form(
                &browser,
                "/register",
                &[
                    ("csrf_token", &csrf_from_html(&form)),
                    ("username", username),
                    ("email", email),
                    ("password", GOOD_PASSWORD),
                ],
            )
            .await;
        let status = response.status().as_u16();
        let no_session = set_cookie_lines(response.headers(), "gh_session")
            .iter()
            .all(|cookie| cookie.starts_with("gh_session=;"));
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{email}: {body}");
        assert_eq!(
            page_marker(&body).as_deref(),
            Some("register-check-email"),
            "{body}"
        );
        assert!(no_session, "a session before verifying");
        // The address and name may be echoed; everything else must be the same.
        pages.push(
            without_csrf(&body)
                .replace(email, "EMAIL")
                .replace(username, "USERNAME"),
        );
        assert_eq!(
            app.account_page(&browser).await.0,
            303,
            "signed in before verifying"
        );
    }
    assert_eq!(pages[0], pages[1]);
    assert_eq!(app.user_count(), users + 1);
    sink.expect_mail("olga@example.com", EXISTS_SUBJECT, 1, PATIENCE)
        .await;
    verification(&app, &sink, "pia@example.com", 1).await;
}

#[tokio::test]
async fn a_new_address_stays_pending_until_verified_and_the_old_one_is_told() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("hugo").await;
    let rp = client(&app);
    let tokens = tokens_in(
        &app,
        &new_client(),
        &rp,
        "hugo",
        &[("scope", "openid account")],
    )
    .await;

    let (status, body) = api(
        &app,
        Method::PATCH,
        "/api/v1/account",
        access(&tokens),
        Some(json!({ "email": "hugo.new@example.org" })),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    // Pending: the old address is still the account's; the new one is shown as pending.
    let (status, account) = api(&app, Method::GET, "/api/v1/account", access(&tokens), None).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["email"], "hugo@example.com", "{account}");
    let pending_shown = account
        .as_object()
        .unwrap()
        .iter()
        .any(|(key, value)| key != "email" && value == "hugo.new@example.org");
    assert!(pending_shown, "the pending address is not shown: {account}");
    let browser = app.signed_in_browser("hugo", GOOD_PASSWORD).await;
    let (_, page) = app.account_page(&browser).await;
    assert!(page.contains("data-email-pending"), "{page}");
    assert!(page.contains("hugo.new@example.org"), "{page}");

    let notice = sink
        .expect_mail("hugo@example.com", CHANGE_NOTICE_SUBJECT, 1, PATIENCE)
        .await;
    assert!(
        notice.text().contains("hugo.new@example.org"),
        "{}",
        notice.text()
    );
    let (token, _) = verification(&app, &sink, "hugo.new@example.org", 1).await;
    // Signing in still uses the old address's account as it was.
    assert!(!app.email_verified("hugo"));

    let (status, page) = app.get_page(&new_client(), &verify_path(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("email-verified"));
    let (_, account) = api(&app, Method::GET, "/api/v1/account", access(&tokens), None).await;
    assert_eq!(account["email"], "hugo.new@example.org", "{account}");
    assert_eq!(account["email_verified"], true, "{account}");
    let still_pending = account
        .as_object()
        .unwrap()
        .iter()
        .any(|(key, value)| key != "email" && value == "hugo.new@example.org");
    assert!(!still_pending, "{account}");
}

#[tokio::test]
async fn the_account_page_starts_a_change_of_address() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("iris").await;
    let browser = app.signed_in_browser("iris", GOOD_PASSWORD).await;
    let (_, account) = app.account_page(&browser).await;
    assert!(account.contains(r#"action="/account/email""#), "{account}");
    let response = app
        .post_form(
            &browser,
            "/account/email",
            &[
                ("csrf_token", &csrf_from_html(&account)),
                ("email", "iris.new@example.org"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/account?notice=email-change-sent"
    );
    sink.expect_mail("iris@example.com", CHANGE_NOTICE_SUBJECT, 1, PATIENCE)
        .await;
    let (token, _) = verification(&app, &sink, "iris.new@example.org", 1).await;
    let (_, page) = app.account_page(&browser).await;
    assert!(page.contains("data-email-pending"), "{page}");
    assert!(page.contains("iris.new@example.org"), "{page}");
    let (status, _) = app.get_page(&new_client(), &verify_path(&token)).await;
    assert_eq!(status, 200);
    let (_, page) = app.account_page(&browser).await;
    assert!(page.contains("iris.new@example.org"), "{page}");
    assert!(!page.contains("data-email-pending"), "{page}");
    assert_eq!(
        attribute_value(&page, "data-email-verified").as_deref(),
        Some("true")
    );
}
