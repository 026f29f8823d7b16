//! Browser sign-in: the form, the session cookie, the account-wide lockout ceiling, logout, and
//! `return_to`. (The per-source delays in front of the ceiling: `brute_force.rs`.)

use std::time::Instant;

use gatehouse_tests::{
    GOOD_PASSWORD, TestOptions, new_client, set_cookie_lines, spawn_app, spawn_app_with,
};

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn login_opens_a_session_with_safe_cookie_flags() {
    let app = spawn_app().await;
    app.create_user("erin").await;

    let response = app.login("erin", GOOD_PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account");
    let cookies = set_cookie_lines(response.headers(), "gh_session");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    let secret = cookie["gh_session=".len()..].split(';').next().unwrap();
    assert_eq!(secret.len(), 43, "256-bit base64url secret: {cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-http issuer: {cookie}");

    let account = app.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 200);
    let html = account.text().await.unwrap();
    assert!(
        html.contains(r#"<strong id="username">erin</strong>"#),
        "{html}"
    );

    // The store is keyed by the secret's hash, never the secret itself.
    let handle = gatehouse_sessions::BrowserSessions::handle_of(secret);
    assert_ne!(handle.0, secret);
    assert!(app.state.sessions.get(secret).await.unwrap().is_some());
    assert!(
        app.state
            .store
            .get(&format!("sess:{secret}"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.state
            .store
            .get(&format!("sess:{}", handle.0))
            .await
            .unwrap()
            .is_some()
    );

    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "login.success")
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_issuer_is_https() {
    let app = spawn_app_with(TestOptions {
        issuer: Some("https://id.example.com".to_owned()),
        ..Default::default()
    })
    .await;
    app.create_user("frank").await;
    let response = app.login("frank", GOOD_PASSWORD).await;
    assert_eq!(response.status(), 303);
    let cookie = &set_cookie_lines(response.headers(), "gh_session")[0];
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_user("grace").await;

    let wrong = app.login("grace", "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    assert!(set_cookie_lines(wrong.headers(), "gh_session").is_empty());
    let wrong = wrong.text().await.unwrap();
    let unknown = app.login("nobody-here", "not the password at all").await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    assert!(wrong.contains("Invalid username or password."));
    assert!(unknown.contains("Invalid username or password."));

    let account = app.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 303);
    let failures = app
        .audit_actions()
        .into_iter()
        .filter(|(action, _)| action == "login.failure")
        .count();
    assert_eq!(failures, 2);
}

/// The unknown-user path must pay for an argon2 verification too. With realistic parameters a
/// skipped verification is ~100x faster, so a 0.5 ratio cannot pass by accident.
#[tokio::test]
async fn unknown_users_take_as_long_as_wrong_passwords() {
    let app = spawn_app_with(TestOptions {
        argon2_memory_kib: 19456,
        argon2_iterations: 2,
        ..Default::default()
    })
    .await;
    app.create_user("heidi").await;
    let client = new_client();
    let csrf = app.login_form(&client).await;
    let attempt = |username: &'static str| {
        let client = client.clone();
        let csrf = csrf.clone();
        let url = app.url("/login");
        async move {
            let started = Instant::now();
            let response = client
                .post(url)
                .form(&[
                    ("username", username),
                    ("password", "wrong password 123"),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
            started.elapsed()
        }
    };
    let mut known = std::time::Duration::ZERO;
    let mut unknown = std::time::Duration::ZERO;
    for _ in 0..3 {
        known += attempt("heidi").await;
        unknown += attempt("no-such-user").await;
    }
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(ratio > 0.5, "unknown {unknown:?} vs known {known:?}");
}

/// The account-wide ceiling on its own: five failures, per-source delays off (so that one
/// address can reach it, as it could before delays existed).
fn ceiling_of_five_without_delays(settings: &mut gatehouse_server::Settings) {
    settings.lockout.max_failures = 5;
    settings.lockout.delay_after = 0;
}

#[tokio::test]
async fn five_failures_lock_the_account_until_the_lock_expires() {
    let app = gatehouse_tests::TestApp::builder()
        .configure(ceiling_of_five_without_delays)
        .with_user("ivan")
        .spawn()
        .await;
    for _ in 0..5 {
        assert_eq!(app.login("ivan", "wrong password!!").await.status(), 401);
    }
    // Locked: even the right password fails, with the same message.
    let locked = app.login("ivan", GOOD_PASSWORD).await;
    assert_eq!(locked.status(), 401);
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password.")
    );
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "account.lockout")
    );

    app.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(app.login("ivan", GOOD_PASSWORD).await.status(), 401);
    app.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(app.login("ivan", GOOD_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn failures_spread_beyond_the_window_do_not_lock() {
    let app = gatehouse_tests::TestApp::builder()
        .configure(ceiling_of_five_without_delays)
        .with_user("judy")
        .spawn()
        .await;
    for _ in 0..4 {
        assert_eq!(app.login("judy", "wrong password!!").await.status(), 401);
    }
    app.clock.advance(chrono::Duration::minutes(16));
    for _ in 0..4 {
        assert_eq!(app.login("judy", "wrong password!!").await.status(), 401);
    }
    assert_eq!(app.login("judy", GOOD_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn logout_ends_the_session_for_good() {
    let app = spawn_app().await;
    app.create_user("kim").await;
    let response = app.login("kim", GOOD_PASSWORD).await;
    let cookie = set_cookie_lines(response.headers(), "gh_session")[0].clone();
    let secret = cookie["gh_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let account = app.client.get(app.url("/account")).send().await.unwrap();
    let csrf = gatehouse_tests::csrf_from_html(&account.text().await.unwrap());

    // Without the CSRF token, logout is refused and the session survives.
    let refused = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(app.state.sessions.get(&secret).await.unwrap().is_some());

    let out = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/login");
    let cleared = &set_cookie_lines(out.headers(), "gh_session")[0];
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(app.state.sessions.get(&secret).await.unwrap().is_none());

    // Replaying the old cookie does not bring the session back.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/account"))
        .header("cookie", format!("gh_session={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert!(location(&replay).starts_with("/login"));
}

#[tokio::test]
async fn login_form_requires_its_csrf_token() {
    let app = spawn_app().await;
    app.create_user("leo").await;
    app.login_form(&app.client).await;
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "leo"),
            ("password", GOOD_PASSWORD),
            ("csrf_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(set_cookie_lines(response.headers(), "gh_session").is_empty());
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn return_to_is_honoured_only_for_local_paths() {
    let app = spawn_app().await;
    app.create_user("mia").await;
    let local = app
        .login_with(
            &new_client(),
            "mia",
            GOOD_PASSWORD,
            Some("/account?tab=sessions"),
        )
        .await;
    assert_eq!(location(&local), "/account?tab=sessions");
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let response = app
            .login_with(&new_client(), "mia", GOOD_PASSWORD, Some(evil))
            .await;
        assert_eq!(location(&response), "/account", "{evil}");
    }
}

#[tokio::test]
async fn account_requires_a_session_and_login_page_carries_return_to() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login?return_to=%2Faccount");
    let page = app
        .client
        .get(app.url("/login?return_to=%2Faccount"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = set_cookie_lines(page.headers(), "gh_csrf");
    assert!(csrf[0].contains("SameSite=Strict") && csrf[0].contains("HttpOnly"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"name="return_to" value="/account""#),
        "{html}"
    );
}

#[tokio::test]
async fn a_broken_form_gets_an_html_error_not_a_500() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn a_user_can_end_another_of_their_sessions() {
    let app = spawn_app().await;
    app.create_user("nina").await;
    let laptop = new_client();
    let phone = new_client();
    app.login_with(&laptop, "nina", GOOD_PASSWORD, None).await;
    app.login_with(&phone, "nina", GOOD_PASSWORD, None).await;

    let page = laptop
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = gatehouse_tests::csrf_from_html(&page);
    let fields = gatehouse_tests::hidden_fields(&page);
    let other: Vec<&String> = fields
        .iter()
        .filter(|(k, _)| k == "session")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        other.len(),
        1,
        "the page offers to end exactly the other session"
    );
    let ended = laptop
        .post(app.url("/account/sessions/end"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("session", other[0].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 303);
    assert_eq!(
        phone
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "phone signed out"
    );
    assert_eq!(
        laptop
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "laptop still in"
    );

    // Another user's handle cannot be ended through this form.
    app.create_user("omar").await;
    let omar = new_client();
    app.login_with(&omar, "omar", GOOD_PASSWORD, None).await;
    let user = app
        .state
        .accounts
        .database()
        .find_user_by_login("omar")
        .unwrap()
        .unwrap();
    let handles = app.state.sessions.list_for_user(user.id).await.unwrap();
    let response = laptop
        .post(app.url("/account/sessions/end"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("session", handles[0].0.0.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        omar.get(app.url("/account")).send().await.unwrap().status(),
        200,
        "omar untouched"
    );
}
