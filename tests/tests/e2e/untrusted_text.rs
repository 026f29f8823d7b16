//! Request text that no account or client can hold (a NUL, which Postgres refuses in text;
//! zero-width and other invisible characters) is answered as a client mistake on both backends:
//! `invalid_client`, a failed login, a 400 naming the field. Never a 500, and nothing written.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, TestApp, new_client, spawn_app};
use serde_json::Value;

/// POSTs a raw, already-encoded form body, so the test controls every byte.
async fn post_form(
    app: &TestApp,
    path: &str,
    body: &str,
    basic: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(credentials) = basic {
        request = request.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(credentials)),
        );
    }
    request.send().await.unwrap()
}

async fn invalid_client(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
    body
}

#[tokio::test]
async fn a_nul_in_a_form_client_id_is_an_unknown_client() {
    let app = spawn_app().await;
    app.register_client(ClientSpec::default());
    let unknown = invalid_client(
        post_form(
            &app,
            "/token",
            "grant_type=client_credentials&client_id=abc&client_secret=s",
            None,
        )
        .await,
    )
    .await;
    for body in [
        "grant_type=client_credentials&client_id=ab%00c&client_secret=s",
        "grant_type=authorization_code&code=x&redirect_uri=http%3A%2F%2Frp.example.test%2Fcallback&client_id=ab%00c",
        "grant_type=client_credentials&client_id=%00",
        "grant_type=client_credentials&client_id=ab%1Bc&client_secret=s",
        "grant_type=client_credentials&client_id=caf%C3%A9&client_secret=s",
    ] {
        let refused = invalid_client(post_form(&app, "/token", body, None).await).await;
        assert_eq!(
            refused["error_description"], unknown["error_description"],
            "{body}"
        );
    }
    for path in ["/introspect", "/revoke"] {
        invalid_client(
            post_form(&app, path, "token=t&client_id=ab%00c&client_secret=s", None).await,
        )
        .await;
    }
}

#[tokio::test]
async fn a_nul_in_a_basic_client_id_is_an_unknown_client() {
    let app = spawn_app().await;
    // Raw and form-encoded (RFC 6749 §2.3.1 encodes the id before Base64): both decode to a NUL.
    for credentials in ["ab\0c:secret", "ab%00c:secret", "%00:secret"] {
        let response = post_form(
            &app,
            "/token",
            "grant_type=client_credentials",
            Some(credentials),
        )
        .await;
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic"),
            "{credentials:?}"
        );
        invalid_client(response).await;
    }
}

#[tokio::test]
async fn a_nul_client_id_elsewhere_is_never_a_server_error() {
    let app = spawn_app().await;
    let authorize = app
        .client
        .get(app.url(
            "/authorize?response_type=code&client_id=ab%00c&scope=openid\
             &redirect_uri=http%3A%2F%2Frp.example.test%2Fcallback",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        authorize.status(),
        400,
        "an error page for an unknown client"
    );
    let logout = app
        .client
        .get(app.url("/logout?client_id=ab%00c"))
        .send()
        .await
        .unwrap();
    assert!(logout.status().as_u16() < 500, "{}", logout.status());

    // The account page's consent revocation takes a client id from a form.
    app.create_user("olga").await;
    let browser = new_client();
    app.login_with(&browser, "olga", GOOD_PASSWORD, None).await;
    let account = browser.get(app.url("/account")).send().await.unwrap();
    let csrf = gatehouse_tests::csrf_from_html(&account.text().await.unwrap());
    let revoked = browser
        .post(app.url("/account/consents/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={csrf}&client_id=ab%00c"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
}

#[tokio::test]
async fn a_nul_in_the_login_name_is_a_failed_login() {
    let app = spawn_app().await;
    app.create_user("bob").await;
    let client = new_client();
    let csrf = app.login_form(&client).await;
    let unknown = client
        .post(app.url("/login"))
        .form(&[
            ("username", "nobody-here"),
            ("password", GOOD_PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password.")
    );
    // The right password for "bob": a NUL must not be stripped into a match either.
    for username in ["bob%00", "%00", "b%00ob", "bob%1B"] {
        let response = client
            .post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username={username}&password={}&csrf_token={csrf}",
                GOOD_PASSWORD.replace(' ', "+")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{username}");
        assert!(
            gatehouse_tests::set_cookie_lines(response.headers(), "gh_session").is_empty(),
            "{username}"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("Invalid username or password."), "{username}");
    }
    let failures: Vec<_> = app
        .audit_actions()
        .into_iter()
        .filter(|(action, _)| action == "login.failure")
        .collect();
    assert_eq!(failures.len(), 5, "{failures:?}");
    assert!(
        failures
            .iter()
            .any(|(_, target)| target.as_deref() == Some("bob\u{FFFD}")),
        "the trail records the attempt, NUL replaced: {failures:?}"
    );
}

/// The problem document for a refused registration; the field it names.
async fn refused_field(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:gatehouse:problem:validation", "{body}");
    body["field"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn registration_refuses_nul_and_invisible_characters_and_writes_nothing() {
    let app = spawn_app().await;
    app.register("alice", "alice@example.com", GOOD_PASSWORD)
        .await
        .error_for_status()
        .unwrap();
    let users = app.user_count();
    let events = app.audit_actions().len();
    for (username, email, field) in [
        ("alice2", "alice@example.com\u{0}", "email"),
        ("alice2", "ali\u{0}ce@example.com", "email"),
        ("alice2", "alice@exam\u{200B}ple.com", "email"),
        ("alice2", "\u{FEFF}alice@example.com", "email"),
        ("alice2", "alice@example.com\u{202E}", "email"),
        ("alice2", "alice@example.com ", "email"),
        ("alice\u{0}", "alice2@example.com", "username"),
        ("alice\u{200B}", "alice2@example.com", "username"),
    ] {
        let response = app.register(username, email, GOOD_PASSWORD).await;
        assert_eq!(refused_field(response).await, field, "{email:?}");
    }
    assert_eq!(app.user_count(), users, "no account was created");
    assert_eq!(app.audit_actions().len(), events, "nothing was audited");
}

#[tokio::test]
async fn canonically_equivalent_emails_are_one_account() {
    let app = spawn_app().await;
    let created = app
        .register("jose", "jose\u{301}@example.com", GOOD_PASSWORD)
        .await;
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.unwrap();
    assert_eq!(user["email"], "jos\u{E9}@example.com", "stored in NFC");

    let duplicate = app
        .register("jose2", "jos\u{E9}@example.com", GOOD_PASSWORD)
        .await;
    assert_eq!(duplicate.status(), 409);
    let body: Value = duplicate.json().await.unwrap();
    assert_eq!(body["field"], "email");

    for login in ["jos\u{E9}@example.com", "jose\u{301}@example.com"] {
        let response = app
            .login_with(&new_client(), login, GOOD_PASSWORD, None)
            .await;
        assert_eq!(response.status(), 303, "{login:?}");
    }
}
