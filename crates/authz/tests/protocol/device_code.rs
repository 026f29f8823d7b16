//! The device authorization grant (RFC 8628) without HTTP: what the store keeps, the races
//! its compare-and-swaps settle, and the grant's place in the session indexes.

use std::sync::Arc;

use gatehouse_authz::{AuthSession, DeviceAction, DeviceCodeRefusal, DeviceOutcome, ErrorCode};
use gatehouse_identity::{ClientType, GrantType, NewClient};
use serde_json::Value;

use crate::support::*;

backend_tests!(
    the_store_holds_neither_code_in_clear,
    a_device_grant_ends_with_the_session_that_approved_it,
    the_user_cannot_decide_twice,
);
backend_tests!(concurrent: fifty_concurrent_polls_of_an_approved_code_have_one_winner);

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn device_client(h: &Harness) -> TestClient {
    h.client(NewClient {
        name: "Kitchen TV".into(),
        client_type: Some(ClientType::Public),
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: ["openid", "offline_access"].map(String::from).to_vec(),
        ..NewClient::default()
    })
}

async fn start(h: &Harness, client: &TestClient, scope: &str) -> Value {
    h.authz
        .device_authorization(
            &client.form(&[("scope", scope)]),
            client.credentials(),
            t0(),
        )
        .await
        .unwrap()
}

async fn poll(
    h: &Harness,
    client: &TestClient,
    device_code: &str,
) -> Result<Value, gatehouse_authz::OAuthError> {
    h.authz
        .token(
            &client.form(&[("grant_type", DEVICE_GRANT), ("device_code", device_code)]),
            client.credentials(),
            t0(),
        )
        .await
}

async fn decide(
    h: &Harness,
    session: &AuthSession,
    code: &str,
    action: DeviceAction,
) -> DeviceOutcome {
    h.authz
        .verify_device(code, session, action, t0())
        .await
        .unwrap()
}

async fn the_store_holds_neither_code_in_clear(backend: Backend) {
    let h = Harness::new(backend).await;
    let tv = device_client(&h);
    let started = start(&h, &tv, "openid").await;
    let device_code = str_field(&started, "device_code");
    let user_code = str_field(&started, "user_code").replace('-', "");
    let keys = h.grant_keys();
    // The request, and the user code's index entry.
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        assert!(!key.contains(device_code), "{key}");
        assert!(!key.contains(&user_code), "{key}");
    }
}

async fn a_device_grant_ends_with_the_session_that_approved_it(backend: Backend) {
    let h = Harness::new(backend).await;
    let tv = device_client(&h);
    let started = start(&h, &tv, "openid").await;
    let session = h.other_session("device-sid");
    let outcome = decide(
        &h,
        &session,
        str_field(&started, "user_code"),
        DeviceAction::Approve,
    )
    .await;
    assert!(matches!(outcome, DeviceOutcome::Approved(_)), "{outcome:?}");
    let tokens = poll(&h, &tv, str_field(&started, "device_code"))
        .await
        .unwrap();
    let access = str_field(&tokens, "access_token");
    assert_eq!(h.introspect(access, t0()).await["active"], true);
    // Without offline_access it lives and dies with the browser session it was approved in.
    let ended = h
        .authz
        .end_session_grants("device-sid", t0().timestamp())
        .await
        .unwrap();
    assert_eq!(ended.clients, vec![tv.id().to_owned()]);
    assert_eq!(h.introspect(access, t0()).await["active"], false);
}

async fn the_user_cannot_decide_twice(backend: Backend) {
    let h = Harness::new(backend).await;
    let tv = device_client(&h);
    let started = start(&h, &tv, "openid").await;
    let code = str_field(&started, "user_code");
    assert!(matches!(
        decide(&h, &h.session, code, DeviceAction::Show).await,
        DeviceOutcome::Confirm(_)
    ));
    assert!(matches!(
        decide(&h, &h.session, code, DeviceAction::Deny).await,
        DeviceOutcome::Denied(_)
    ));
    for action in [
        DeviceAction::Show,
        DeviceAction::Approve,
        DeviceAction::Deny,
    ] {
        assert_eq!(
            decide(&h, &h.session, code, action).await,
            DeviceOutcome::Refused(DeviceCodeRefusal::Unknown),
            "{action:?}"
        );
    }
    let err = poll(&h, &tv, str_field(&started, "device_code"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::AccessDenied);
}

const RACERS: usize = 50;

async fn fifty_concurrent_polls_of_an_approved_code_have_one_winner(backend: Backend) {
    let h = Arc::new(Harness::new(backend).await);
    let tv = device_client(&h);
    let started = start(&h, &tv, "openid offline_access").await;
    let outcome = decide(
        &h,
        &h.session,
        str_field(&started, "user_code"),
        DeviceAction::Approve,
    )
    .await;
    assert!(matches!(outcome, DeviceOutcome::Approved(_)), "{outcome:?}");
    let device_code = str_field(&started, "device_code").to_owned();
    let mut tasks = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        let (h, tv, code) = (Arc::clone(&h), tv.clone(), device_code.clone());
        tasks.push(tokio::spawn(async move { poll(&h, &tv, &code).await }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(body) => winners.push(body),
            Err(err) => assert_eq!(err.code, ErrorCode::InvalidGrant, "{err}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert!(winners[0].get("refresh_token").is_some(), "{}", winners[0]);
}
