//! A negative test for each MUST of the provider, over HTTP against both backends.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_tests::oauth::{
    VERIFIER, authorize_url, challenge, code_in, exchange, param, refresh, tokens_in,
};
use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, TestApp, TestClient, new_client, spawn_app};
use serde_json::Value;

async fn oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}

async fn setup() -> (TestApp, TestClient) {
    let app = spawn_app().await;
    app.create_user("olga").await;
    let rp = app.register_client(ClientSpec::default());
    (app, rp)
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirects_get_an_error_page_not_a_redirect() {
    let (app, rp) = setup().await;
    let evil = TestClient {
        redirect_uri: "https://evil.example/cb".to_owned(),
        ..rp.clone()
    };
    let unknown = TestClient {
        client_id: "no-such-client".to_owned(),
        ..rp.clone()
    };
    for bad in [&evil, &unknown] {
        let response = app
            .client
            .get(authorize_url(&app, bad, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}

#[tokio::test]
async fn prompt_none_without_a_session_redirects_login_required() {
    let (app, rp) = setup().await;
    let response = app
        .client
        .get(authorize_url(&app, &rp, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&rp.redirect_uri));
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    assert_eq!(
        param(&location, "iss").as_deref(),
        Some(app.address.as_str())
    );
}

#[tokio::test]
async fn public_clients_must_use_s256_pkce() {
    let app = spawn_app().await;
    app.create_user("olga").await;
    let spa = app.register_client(ClientSpec {
        public: true,
        ..Default::default()
    });
    let browser = new_client();
    // Log in first so errors are about PKCE, not the session.
    app.login_with(&browser, "olga", GOOD_PASSWORD, None).await;
    for extra in [
        vec![],
        vec![
            ("code_challenge", challenge(VERIFIER)),
            ("code_challenge_method", "plain".to_owned()),
        ],
    ] {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = browser
            .get(authorize_url(&app, &spa, &extra))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let location =
            reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(
            param(&location, "error").as_deref(),
            Some("invalid_request"),
            "{location}"
        );
    }
    // With S256 the public client gets a code and redeems it with only its client_id.
    let code = code_for(&app, &spa, "olga").await;
    let response = exchange(&app, &spa, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant() {
    let (app, rp) = setup().await;
    let code = code_for(&app, &rp, "olga").await;
    let wrong = "x".repeat(43);
    oauth_error(
        exchange(&app, &rp, &code, &wrong).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_what_it_issued() {
    let (app, rp) = setup().await;
    let code = code_for(&app, &rp, "olga").await;
    let first: Value = exchange(&app, &rp, &code, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    oauth_error(
        exchange(&app, &rp, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
    oauth_error(
        refresh(&app, &rp, refresh_token).await,
        400,
        "invalid_grant",
    )
    .await;
    let introspection: Value = app
        .client
        .post(app.url("/introspect"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspection["active"], false);
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let (app, rp) = setup().await;
    let code = code_for(&app, &rp, "olga").await;
    app.clock.advance(chrono::Duration::seconds(61));
    oauth_error(
        exchange(&app, &rp, &code, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_secret_is_401_with_a_basic_challenge() {
    let (app, rp) = setup().await;
    let code = code_for(&app, &rp, "olga").await;
    let wrong = TestClient {
        client_secret: Some("not-the-secret".to_owned()),
        ..rp.clone()
    };
    let response = exchange(&app, &wrong, &code, VERIFIER).await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    oauth_error(response, 401, "invalid_client").await;
}

#[tokio::test]
async fn unsupported_grant_types_are_named() {
    let (app, rp) = setup().await;
    let response = app
        .client
        .post(app.url("/token"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[
            ("grant_type", "password"),
            ("username", "olga"),
            ("password", GOOD_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(response, 400, "unsupported_grant_type").await;
    let not_a_form = app
        .client
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(not_a_form, 400, "invalid_request").await;
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_family() {
    let (app, rp) = setup().await;
    let first = tokens_for(&app, &rp, "olga").await;
    let original = first["refresh_token"].as_str().unwrap().to_owned();
    let second: Value = refresh(&app, &rp, &original).await.json().await.unwrap();
    let rotated = second["refresh_token"].as_str().unwrap().to_owned();
    // Replaying the rotated-away token kills the family, including the newest token.
    oauth_error(refresh(&app, &rp, &original).await, 400, "invalid_grant").await;
    oauth_error(refresh(&app, &rp, &rotated).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn tampered_and_unsigned_tokens_are_rejected_at_userinfo() {
    let (app, rp) = setup().await;
    let tokens = tokens_for(&app, &rp, "olga").await;
    let access = tokens["access_token"].as_str().unwrap();
    let ok = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let parts: Vec<&str> = access.split('.').collect();
    let mut claims = crate::oidc_flow::jwt_part(access, 1);
    claims["sub"] = Value::from("someone-else");
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    for bad in [tampered.as_str(), unsigned.as_str(), "garbage"] {
        let response = app
            .client
            .get(app.url("/userinfo"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    let missing = app.client.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let challenge = missing.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_exchanges_of_one_code_succeed_once() {
    let (app, rp) = setup().await;
    let code = code_for(&app, &rp, "olga").await;
    let attempts = (0..50).map(|_| exchange(&app, &rp, &code, VERIFIER));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_refreshes_succeed_once_and_revoke_the_family() {
    let (app, rp) = setup().await;
    let tokens = tokens_for(&app, &rp, "olga").await;
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let attempts = (0..50).map(|_| refresh(&app, &rp, &token));
    let responses = futures_util::future::join_all(attempts).await;
    let mut winners = Vec::new();
    for response in responses {
        if response.status() == 200 {
            let body: Value = response.json().await.unwrap();
            winners.push(body["refresh_token"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(response.status(), 400);
        }
    }
    assert_eq!(winners.len(), 1);
    // The replays revoked the family, so even the winner's new token is dead.
    oauth_error(refresh(&app, &rp, &winners[0]).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn prompt_login_and_max_age_force_a_fresh_login_then_return() {
    let (app, rp) = setup().await;
    let browser = new_client();
    app.login_with(&browser, "olga", GOOD_PASSWORD, None).await;
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let url = authorize_url(&app, &rp, &[extra]);
        let first = browser.get(&url).send().await.unwrap();
        assert_eq!(first.status(), 302);
        let location = first.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/login?"), "{extra:?}: {location}");
        assert!(location.contains("force=1"));
        // The login page is shown although a session exists, and afterwards a code is issued.
        let callback = app
            .browse_authorize(&browser, &url, Some(("olga", GOOD_PASSWORD)))
            .await;
        assert!(param(&callback, "code").is_some(), "{extra:?}: {callback}");
    }
}

#[tokio::test]
async fn third_party_consent_is_asked_once_and_can_be_denied() {
    let app = spawn_app().await;
    app.create_user("olga").await;
    let rp = app.register_client(ClientSpec {
        first_party: false,
        ..Default::default()
    });
    let browser = new_client();
    app.login_with(&browser, "olga", GOOD_PASSWORD, None).await;
    let url = authorize_url(&app, &rp, &[]);

    // Denied: access_denied at the client, and nothing remembered.
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Test RP") && html.contains("<code>email</code>"),
        "{html}"
    );
    let mut form = gatehouse_tests::hidden_fields(&html);
    form.push(("consent".to_owned(), "deny".to_owned()));
    let denied = browser
        .post(app.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(denied.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));

    // A forged consent POST without the CSRF token is refused.
    let mut forged: Vec<(String, String)> = gatehouse_tests::hidden_fields(&html)
        .into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .collect();
    forged.push(("consent".to_owned(), "approve".to_owned()));
    forged.push(("csrf_token".to_owned(), "forged".to_owned()));
    let refused = browser
        .post(app.url("/authorize"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // Approved once, then remembered: the next authorization skips the page.
    let callback = app.browse_authorize(&browser, &url, None).await;
    assert!(param(&callback, "code").is_some());
    let again = browser.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert!(
        again.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&rp.redirect_uri)
    );
}

#[tokio::test]
async fn logout_without_a_matching_hint_asks_for_confirmation() {
    let (app, _rp) = setup().await;
    let browser = new_client();
    app.login_with(&browser, "olga", GOOD_PASSWORD, None).await;
    // A bare GET (e.g. an image tag on another site) must not end the session.
    let page = browser.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out?"));
    assert_eq!(
        browser
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Confirming with the page's CSRF token ends it.
    let csrf = gatehouse_tests::csrf_from_html(&html);
    let done = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(
        browser
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    // An unregistered post_logout_redirect_uri is an error page, never a redirect.
    let bad = browser
        .get(app.url("/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.headers().get("location").is_none());
}

#[tokio::test]
async fn a_code_issued_with_a_challenge_needs_its_verifier() {
    let (app, rp) = setup().await;
    let code = code_for(&app, &rp, "olga").await;
    let response = app
        .client
        .post(app.url("/token"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", rp.redirect_uri.as_str()),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn revoking_a_consent_on_the_account_page_asks_again() {
    let app = spawn_app().await;
    app.create_user("olga").await;
    let rp = app.register_client(ClientSpec {
        first_party: false,
        ..Default::default()
    });
    let browser = new_client();
    app.login_with(&browser, "olga", GOOD_PASSWORD, None).await;
    let url = authorize_url(&app, &rp, &[]);
    app.browse_authorize(&browser, &url, None).await;

    let (_, account) = app.account_page(&browser).await;
    assert!(account.contains("Test RP"), "{account}");
    let csrf = gatehouse_tests::csrf_from_html(&account);
    let forged = browser
        .post(app.url("/account/consents/revoke"))
        .form(&[
            ("csrf_token", "forged"),
            ("client_id", rp.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let revoked = browser
        .post(app.url("/account/consents/revoke"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_id", rp.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    assert!(
        app.audit_actions()
            .contains(&("consent.revoke".to_owned(), Some(rp.client_id.clone())))
    );
    // Consent is asked again.
    let again = browser.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains(r#"name="consent""#));
}

#[tokio::test]
async fn protocol_endpoints_answer_wrong_methods_with_json_405() {
    let app = spawn_app().await;
    for path in ["/token", "/introspect", "/revoke"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}

#[tokio::test]
async fn oversized_bodies_get_an_error_in_each_surfaces_format() {
    let app = spawn_app().await;
    let huge = "x=".to_owned() + &"a".repeat(300 * 1024);
    let token = app
        .client
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    oauth_error(token, 400, "invalid_request").await;

    let page = app
        .client
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let api = app
        .client
        .post(app.url("/api/v1/users"))
        .header("content-type", "application/json")
        .body(format!("{{\"username\":\"{}\"}}", "a".repeat(300 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 413);
    assert_eq!(api.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn userinfo_takes_the_token_from_exactly_one_place() {
    let (app, rp) = setup().await;
    let tokens = tokens_for(&app, &rp, "olga").await;
    let access = tokens["access_token"].as_str().unwrap();
    // RFC 6750 §2.2: the form body.
    let form = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let claims: Value = form.json().await.unwrap();
    assert_eq!(claims["preferred_username"], "olga");
    assert_eq!(claims["email"], "olga@example.com");
    // RFC 6750 §2: never more than one method in a request.
    let both = app
        .client
        .post(app.url("/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    assert!(
        both.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
}

/// Logs a fresh browser in and returns a code issued with the test PKCE challenge.
async fn code_for(app: &TestApp, rp: &TestClient, username: &str) -> String {
    code_in(app, &new_client(), rp, username, &[]).await
}

/// A fresh code for `username`, exchanged: the token response JSON.
async fn tokens_for(app: &TestApp, rp: &TestClient, username: &str) -> Value {
    tokens_in(app, &new_client(), rp, username, &[]).await
}
