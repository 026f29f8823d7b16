//! The browser sign-up page `/register` (issue 10), against the HTTP contract: the form with its
//! CSRF token, linked from the sign-in page with the authorization request's `return_to`; field
//! errors next to the field; a sign-up signs the browser in and continues the authorization
//! request to the client; a verification mail goes out (through the suite's real SMTP server).
//!
//! Backends: whatever `spawn_app` runs on (SQLite + memory, or Postgres + Redis).

use std::time::Duration;

use gatehouse_tests::oauth::{VERIFIER, authorize_url, challenge, exchange, param};
use gatehouse_tests::smtp::{SmtpSink, point_at, use_sink};
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestOptions, attribute_value, csrf_from_html,
    has_field_error, hidden_value, jwt_claims, new_client, page_marker,
};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(15);
const VERIFY_SUBJECT: &str = "Verify your email address";

async fn app_with(sink: &SmtpSink) -> TestApp {
    point_at(sink);
    TestApp::builder().configure(use_sink).spawn().await
}

/// `GET /register` in `browser`: the page, after checking the form is there.
async fn register_form(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    let (status, page) = app.get_page(browser, path).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("register"), "{page}");
    for input in ["username", "email", "password"] {
        assert!(
            page.contains(&format!(r#"name="{input}""#)),
            "no {input} input: {page}"
        );
    }
    assert!(page.contains(r#"action="/register""#), "{page}");
    page
}

async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    form_page: &str,
    username: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let return_to = hidden_value(form_page, "return_to");
    let mut form = vec![
        ("csrf_token", csrf_from_html(form_page)),
        ("username", username.to_owned()),
        ("email", email.to_owned()),
        ("password", password.to_owned()),
    ];
    if !return_to.is_empty() {
        form.push(("return_to", return_to));
    }
    browser
        .post(app.url("/register"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_has_the_form_and_a_csrf_token_and_the_login_page_links_to_it() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    let browser = new_client();
    let page = register_form(&app, &browser, "/register").await;
    assert!(!csrf_from_html(&page).is_empty());
    assert!(
        app.get_page(&browser, "/login")
            .await
            .1
            .contains(r#"data-link="register""#),
        "the sign-in page does not link to sign-up"
    );

    // Without its CSRF token the form does nothing.
    let users = app.user_count();
    let response = browser
        .post(app.url("/register"))
        .form(&[
            ("username", "nocsrf"),
            ("email", "nocsrf@example.com"),
            ("password", GOOD_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let response = new_client()
        .post(app.url("/register"))
        .form(&[
            ("csrf_token", csrf_from_html(&page).as_str()),
            ("username", "nocsrf"),
            ("email", "nocsrf@example.com"),
            ("password", GOOD_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_client_error(),
        "a token without its cookie: {}",
        response.status()
    );
    assert_eq!(app.user_count(), users);
}

#[tokio::test]
async fn bad_fields_are_shown_next_to_the_field() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    app.create_user("taken").await;
    let users = app.user_count();
    let browser = new_client();
    let page = register_form(&app, &browser, "/register").await;

    let cases = [
        ("ab", "ok1@example.com", GOOD_PASSWORD, "username"),
        ("okname1", "not-an-address", GOOD_PASSWORD, "email"),
        ("okname2", "ok2@example.com", "short", "password"),
    ];
    for (username, email, password, field) in cases {
        let response = submit(&app, &browser, &page, username, email, password).await;
        assert_eq!(response.status(), 400, "{field}");
        let body = response.text().await.unwrap();
        assert_eq!(page_marker(&body).as_deref(), Some("register"), "{body}");
        assert!(has_field_error(&body, field), "no error at {field}: {body}");
        // The password is not sent back.
        assert!(!body.contains(&format!(r#"value="{password}""#)), "{body}");
    }
    // Taken username or address: 409 at that field (the policy is off).
    let response = submit(
        &app,
        &browser,
        &page,
        "TAKEN",
        "fresh@example.com",
        GOOD_PASSWORD,
    )
    .await;
    assert_eq!(response.status(), 409);
    let body = response.text().await.unwrap();
    assert!(has_field_error(&body, "username"), "{body}");
    let response = submit(
        &app,
        &browser,
        &page,
        "fresh",
        "taken@example.com",
        GOOD_PASSWORD,
    )
    .await;
    assert_eq!(response.status(), 409);
    let body = response.text().await.unwrap();
    assert!(has_field_error(&body, "email"), "{body}");

    assert_eq!(app.user_count(), users, "a refused sign-up created a user");
    assert_eq!(app.account_page(&browser).await.0, 303, "signed in anyway");
}

#[tokio::test]
async fn a_sign_up_without_return_to_signs_in_and_goes_to_the_account() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    let browser = new_client();
    let page = register_form(&app, &browser, "/register").await;
    let response = submit(
        &app,
        &browser,
        &page,
        "nina",
        "nina@example.com",
        GOOD_PASSWORD,
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account");
    let (status, account) = app.account_page(&browser).await;
    assert_eq!(status, 200, "{account}");
    assert!(account.contains("nina@example.com"), "{account}");
    assert_eq!(
        attribute_value(&account, "data-email-verified").as_deref(),
        Some("false")
    );
    let mail = sink
        .expect_mail("nina@example.com", VERIFY_SUBJECT, 1, PATIENCE)
        .await;
    assert!(
        mail.token_for(&app.address, "/email/verify").is_some(),
        "{}",
        mail.text()
    );
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "user.register")
    );
}

#[tokio::test]
async fn a_sign_up_continues_the_authorization_request_to_the_client() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink).await;
    let rp = app.register_client(ClientSpec::default());
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

    // The authorization request sends the browser to sign in; the sign-in page links to
    // sign-up with the same return_to.
    let response = browser.get(&authorize).send().await.unwrap();
    assert!(response.status().is_redirection());
    let login_path = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(login_path.starts_with("/login"), "{login_path}");
    let (_, login) = app.get_page(&browser, &login_path).await;
    let return_to = hidden_value(&login, "return_to");
    assert!(return_to.starts_with("/authorize?"), "{return_to}");
    let link_at = login
        .find(r#"data-link="register""#)
        .unwrap_or_else(|| panic!("no sign-up link: {login}"));
    let tag_start = login[..link_at].rfind('<').unwrap();
    let tag_end = link_at + login[link_at..].find('>').unwrap();
    let href = attribute_value(&login[tag_start..=tag_end], "href").expect("an href");
    assert!(href.starts_with("/register?return_to="), "{href}");
    let linked = reqwest::Url::parse(&app.url(&href)).unwrap();
    assert_eq!(
        param(&linked, "return_to").as_deref(),
        Some(return_to.as_str())
    );

    let page = register_form(&app, &browser, &href).await;
    assert_eq!(hidden_value(&page, "return_to"), return_to);
    let response = submit(
        &app,
        &browser,
        &page,
        "olaf",
        "olaf@example.com",
        GOOD_PASSWORD,
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, return_to, "sign-up did not continue the request");

    // Signed in: the request goes on to the client with a code, without another sign-in.
    let callback = app.browse_authorize(&browser, &location, None).await;
    assert!(
        callback.as_str().starts_with(&rp.redirect_uri),
        "{callback}"
    );
    assert_eq!(param(&callback, "state").as_deref(), Some("st-123"));
    let code = param(&callback, "code").expect("a code");
    let response = exchange(&app, &rp, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], app.user_id("olaf").to_string());
    assert_eq!(claims["email_verified"], false);
    sink.expect_mail("olaf@example.com", VERIFY_SUBJECT, 1, PATIENCE)
        .await;
}

#[tokio::test]
async fn with_registration_disabled_the_page_refuses_and_is_not_linked() {
    let sink = SmtpSink::start().await;
    point_at(&sink);
    let app = TestApp::builder()
        .options(TestOptions {
            registration_enabled: false,
            configure: Some(use_sink),
            ..TestOptions::default()
        })
        .spawn()
        .await;
    let users = app.user_count();
    let browser = new_client();
    let (_, login) = app.get_page(&browser, "/login").await;
    assert!(!login.contains(r#"data-link="register""#), "{login}");
    let csrf = csrf_from_html(&login);
    let response = browser
        .post(app.url("/register"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "late"),
            ("email", "late@example.com"),
            ("password", GOOD_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.user_count(), users, "a user was created");
}
