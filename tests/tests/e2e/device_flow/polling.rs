//! The device's side (RFC 8628 §3.2, §3.4–3.5): the endpoint's answers and checks, every poll
//! error, one redemption, a user locked in between, refresh tokens with `offline_access`.

use gatehouse_identity::GrantType;
use gatehouse_tests::{ClientSpec, TestApp, TestClient, jwt_claims, new_client, page_marker};
use serde_json::Value;

use super::*;

#[tokio::test]
async fn an_approved_device_gets_tokens_once() {
    let app = TestApp::builder().with_user("dora").spawn().await;
    let tv = device_client(&app);
    let started = start(&app, &tv, "openid profile").await;

    // §3.2: the response.
    let code = user_code(&started);
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-");
    assert!(
        code.chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{code}"
    );
    assert!(device_code(&started).len() >= 43, "{started}");
    assert_eq!(started["verification_uri"], app.url("/device"));
    assert_eq!(
        started["verification_uri_complete"],
        app.url(&format!("/device?user_code={code}"))
    );
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 5);

    poll_error(&app, &tv, &device_code(&started), "authorization_pending").await;

    // Sign-in first: the login page returns to the pre-filled page, which approves nothing.
    let browser = new_client();
    let complete = started["verification_uri_complete"].as_str().unwrap();
    let response = browser.get(complete).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/login?return_to=%2Fdevice%3Fuser_code%3D"),
        "{location}"
    );
    let login = app
        .login_with(
            &browser,
            "dora",
            gatehouse_tests::GOOD_PASSWORD,
            Some(&format!("/device?user_code={code}")),
        )
        .await;
    assert_eq!(login.status(), 303);
    let back = login.headers()["location"].to_str().unwrap().to_owned();
    let (status, html) = app.get_page(&browser, &back).await;
    assert_eq!(status, 200);
    assert_eq!(page_marker(&html).as_deref(), Some("device"));
    assert!(html.contains(&format!(r#"value="{code}""#)), "{html}");
    app.advance_clock(chrono::Duration::seconds(5));
    poll_error(&app, &tv, &device_code(&started), "authorization_pending").await;

    // The confirmation names the client, the scopes and when the device asked.
    let (status, confirm) = enter_code(&app, &browser, &code).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("Test RP"), "{confirm}");
    assert!(confirm.contains("<code>profile</code>"), "{confirm}");
    let requested = gatehouse_tests::attribute_value(&confirm, "data-requested-at").unwrap();
    assert_eq!(
        requested.parse::<i64>().unwrap(),
        app.clock_now().timestamp() - 5
    );
    decide(&app, &browser, &confirm, "approve").await;
    assert_eq!(audit_count(&app, "device.approve"), 1);

    app.advance_clock(chrono::Duration::seconds(5));
    let (status, tokens) = poll(&app, &tv, &device_code(&started)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile");
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access: {tokens}"
    );
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], app.user_id("dora").to_string());
    assert_eq!(id_token["aud"], tv.client_id.as_str());
    assert!(id_token.get("nonce").is_none());
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["client_id"], tv.client_id.as_str());

    // Once: every later poll is invalid_grant, even at a polite interval.
    poll_error(&app, &tv, &device_code(&started), "invalid_grant").await;
    app.advance_clock(chrono::Duration::seconds(10));
    poll_error(&app, &tv, &device_code(&started), "invalid_grant").await;
    // The code is spent for the user too.
    let (status, html) = enter_code(&app, &browser, &code).await;
    assert_eq!(status, 400, "{html}");
    // Approving was the consent: the account lists the app.
    let (_, account) = app.account_page(&browser).await;
    assert!(account.contains("Test RP"), "{account}");
}

#[tokio::test]
async fn every_poll_error_of_section_3_5() {
    let app = TestApp::builder().with_user("eve").spawn().await;
    let tv = device_client(&app);

    // slow_down: a poll sooner than the interval; the interval then grows by 5 s each time.
    let started = start(&app, &tv, "openid").await;
    let device = device_code(&started);
    poll_error(&app, &tv, &device, "authorization_pending").await;
    poll_error(&app, &tv, &device, "slow_down").await; // 0 s < 5 s → interval 10
    app.advance_clock(chrono::Duration::seconds(9));
    poll_error(&app, &tv, &device, "slow_down").await; // 9 s < 10 s → interval 15
    app.advance_clock(chrono::Duration::seconds(14));
    poll_error(&app, &tv, &device, "slow_down").await; // 14 s < 15 s → interval 20
    app.advance_clock(chrono::Duration::seconds(20));
    poll_error(&app, &tv, &device, "authorization_pending").await;
    app.advance_clock(chrono::Duration::seconds(19));
    poll_error(&app, &tv, &device, "slow_down").await;
    // Another device code keeps its own interval.
    let other = device_code(&start(&app, &tv, "openid").await);
    poll_error(&app, &tv, &other, "authorization_pending").await;

    // access_denied.
    let denied = start(&app, &tv, "openid").await;
    user_decides(&app, "eve", &user_code(&denied), "deny").await;
    poll_error(&app, &tv, &device_code(&denied), "access_denied").await;
    assert_eq!(audit_count(&app, "device.deny"), 1);

    // expired_token, on the app's clock; the user can no longer act on it either.
    let late = start(&app, &tv, "openid").await;
    app.advance_clock(chrono::Duration::seconds(601));
    poll_error(&app, &tv, &device_code(&late), "expired_token").await;
    poll_error(&app, &tv, &device, "expired_token").await;
    poll_error(&app, &tv, &device_code(&denied), "expired_token").await;
    let browser = app
        .signed_in_browser("eve", gatehouse_tests::GOOD_PASSWORD)
        .await;
    let (status, html) = enter_code(&app, &browser, &user_code(&late)).await;
    assert_eq!(status, 400);
    assert!(html.contains("expired"), "{html}");

    // invalid_grant: unknown, or issued to another client.
    poll_error(&app, &tv, "not-a-device-code", "invalid_grant").await;
    let fresh = device_code(&start(&app, &tv, "openid").await);
    let other_tv = device_client(&app);
    poll_error(&app, &other_tv, &fresh, "invalid_grant").await;
    // invalid_request: no device_code.
    let (status, body) = poll(&app, &tv, "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn the_device_endpoint_authenticates_and_checks_like_the_others() {
    let app = TestApp::builder().spawn().await;
    let tv = device_client(&app);
    // A confidential device client authenticates with its secret.
    let confidential = app.register_client(ClientSpec {
        grants: vec![GrantType::DeviceCode],
        scopes: vec!["openid".to_owned()],
        ..ClientSpec::default()
    });
    let started = start(&app, &confidential, "openid").await;
    poll_error(
        &app,
        &confidential,
        &device_code(&started),
        "authorization_pending",
    )
    .await;
    let wrong_secret = TestClient {
        client_secret: Some("wrong".to_owned()),
        ..confidential.clone()
    };
    let (status, body) = start_with(&app, &wrong_secret, &[("scope", "openid")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let unknown = TestClient {
        client_id: "nobody".to_owned(),
        ..tv.clone()
    };
    let (status, body) = start_with(&app, &unknown, &[("scope", "openid")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // A client not registered for the grant, at both endpoints.
    let web_app = app.register_client(ClientSpec::default());
    let (status, body) = start_with(&app, &web_app, &[("scope", "openid")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) = poll(&app, &web_app, &device_code(&started)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // Scope as at /authorize: required, and nothing the client may not hold.
    for form in [
        vec![],
        vec![("scope", "openid email")],
        vec![("scope", "open\"id")],
    ] {
        let (status, body) = start_with(&app, &tv, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope")),
            "{form:?}"
        );
    }
    let (status, body) = start_with(&app, &tv, &[("scope", "openid"), ("scope", "openid")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_user_locked_after_approving_gets_no_tokens() {
    let app = TestApp::builder().with_user("hal").spawn().await;
    let tv = device_client(&app);
    let started = start(&app, &tv, "openid offline_access").await;
    user_decides(&app, "hal", &user_code(&started), "approve").await;

    let admin = admin_token(&app).await;
    let id = app.user_id("hal");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/admin/users/{id}/lock")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "reason": "stolen laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let (status, body) = poll(&app, &tv, &device_code(&started)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Spent: unlocking does not bring it back.
    poll_error(&app, &tv, &device_code(&started), "invalid_grant").await;
}

#[tokio::test]
async fn offline_access_brings_a_refresh_token_that_ends_with_the_users_sessions() {
    let app = TestApp::builder().with_user("ida").spawn().await;
    let tv = device_client(&app);
    let started = start(&app, &tv, "openid offline_access").await;
    let browser = user_decides(&app, "ida", &user_code(&started), "approve").await;
    let (status, tokens) = poll(&app, &tv, &device_code(&started)).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    let refresh = |token: String| {
        let app = &app;
        let tv = &tv;
        async move {
            let response = app
                .client
                .post(app.url("/token"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", tv.client_id.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, rotated) = refresh(refresh_token).await;
    assert_eq!(status, 200, "{rotated}");
    let next = rotated["refresh_token"].as_str().unwrap().to_owned();

    // A single sign-out leaves an offline grant alone (OIDC Core §11)...
    app.sign_out(&browser).await;
    let (status, rotated) = refresh(next).await;
    assert_eq!(status, 200, "{rotated}");
    let next = rotated["refresh_token"].as_str().unwrap().to_owned();

    // ... but it is indexed under the user like a code-flow grant: locking the account
    // revokes it.
    let admin = admin_token(&app).await;
    let id = app.user_id("ida");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/admin/users/{id}/lock")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "reason": "left the company" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body) = refresh(next).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}
