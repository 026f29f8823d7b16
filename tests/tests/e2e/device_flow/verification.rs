//! The user's side (RFC 8628 §3.3, §5.1, §6.1): discovery and routes, code normalisation,
//! the limits on wrong codes, and the second factor a client requires.

use gatehouse_identity::GrantType;
use gatehouse_tests::{ClientSpec, TestApp, csrf_from_html};
use serde_json::Value;

use super::*;

#[tokio::test]
async fn discovery_advertises_the_endpoint_and_the_grant() {
    let app = TestApp::builder().spawn().await;
    let document: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["device_authorization_endpoint"],
        app.url("/device_authorization")
    );
    assert!(
        document["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from(DEVICE_GRANT)),
        "{document}"
    );
    // The routes answer wrong methods like their neighbours: OAuth JSON and the HTML page.
    let get = app
        .client
        .get(app.url("/device_authorization"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    let put = app.client.put(app.url("/device")).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD, POST");
}

#[tokio::test]
async fn user_codes_are_entered_in_any_case_with_or_without_dashes() {
    let app = TestApp::builder().with_user("finn").spawn().await;
    let tv = device_client(&app);
    let browser = app
        .signed_in_browser("finn", gatehouse_tests::GOOD_PASSWORD)
        .await;
    for variant in [
        |code: &str| code.to_owned(),
        |code: &str| code.to_lowercase(),
        |code: &str| code.replace('-', ""),
        |code: &str| format!("  {} ", code.to_lowercase().replace('-', " ")),
    ] {
        let started = start(&app, &tv, "openid").await;
        let code = user_code(&started);
        let entered = variant(&code);
        let (status, confirm) = enter_code(&app, &browser, &entered).await;
        assert_eq!(status, 200, "{entered:?}: {confirm}");
        assert!(confirm.contains(&code), "shown as {code}");
        decide(&app, &browser, &confirm, "approve").await;
        let (status, body) = poll(&app, &tv, &device_code(&started)).await;
        assert_eq!(status, 200, "{entered:?}: {body}");
    }
}

#[tokio::test]
async fn wrong_codes_are_limited_per_session_and_per_address() {
    let app = TestApp::builder()
        .configure(|s| {
            s.rate_limits.device_code_per_session = small(3);
            s.rate_limits.device_code_per_ip = small(5);
        })
        .with_user("gus")
        .spawn()
        .await;
    let tv = device_client(&app);
    let started = start(&app, &tv, "openid").await;
    let right = user_code(&started);

    let first = app
        .signed_in_browser("gus", gatehouse_tests::GOOD_PASSWORD)
        .await;
    for wrong in ["BBBB-BBBB", "not a code", "CCCC-CCCC"] {
        let (status, html) = enter_code(&app, &first, wrong).await;
        assert_eq!(status, 400, "{wrong}");
        assert!(html.contains(r#"data-field-error="user_code""#));
    }
    assert_eq!(audit_count(&app, "device.code_invalid"), 3);
    // The session's limit is used up: the right code is refused too, and not looked at.
    let (status, html) = enter_code(&app, &first, &right).await;
    assert_eq!(status, 429, "{html}");
    assert_eq!(audit_count(&app, "device.code_invalid"), 3);

    // Another session from the same address: two more wrong codes use up the address's.
    let second = app
        .signed_in_browser("gus", gatehouse_tests::GOOD_PASSWORD)
        .await;
    for wrong in ["DDDD-DDDD", "FFFF-FFFF"] {
        let (status, _) = enter_code(&app, &second, wrong).await;
        assert_eq!(status, 400);
    }
    let (status, _) = enter_code(&app, &second, &right).await;
    assert_eq!(status, 429);
    poll_error(&app, &tv, &device_code(&started), "authorization_pending").await;

    // A success never resets the counts; the next window lets the user in again.
    app.advance_clock(chrono::Duration::seconds(600));
    let late = start(&app, &tv, "openid").await;
    let (status, confirm) = enter_code(&app, &second, &user_code(&late)).await;
    assert_eq!(status, 200, "{confirm}");
}

#[tokio::test]
async fn a_client_that_requires_a_second_factor_steps_the_session_up_first() {
    let app = TestApp::builder().with_user("jonas").spawn().await;
    let strict = app.register_client(ClientSpec {
        public: true,
        first_party: false,
        grants: vec![GrantType::DeviceCode],
        scopes: vec!["openid".to_owned()],
        require_2fa: true,
        ..ClientSpec::default()
    });
    let started = start(&app, &strict, "openid").await;
    let code = user_code(&started);
    let browser = app
        .signed_in_browser("jonas", gatehouse_tests::GOOD_PASSWORD)
        .await;
    // A password-only session sees nothing of the request until it has passed a second factor.
    let (_, form) = app.get_page(&browser, "/device").await;
    let response = app
        .post_form(
            &browser,
            "/device",
            &[
                ("csrf_token", &csrf_from_html(&form)),
                ("user_code", &code),
                ("action", "show"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("/login/step-up?return_to=%2Fdevice%3Fuser_code%3D{code}")
    );
    let response = browser
        .post(app.url("/device"))
        .form(&[("user_code", code.as_str()), ("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 200);
    poll_error(
        &app,
        &strict,
        &device_code(&started),
        "authorization_pending",
    )
    .await;
}
