//! Disabling an organisation ends its members' grants for its clients (access tokens inactive
//! at once, refresh tokens `invalid_grant`), leaves their grants elsewhere alone, and enabling
//! it again brings sign-in back, not the grants; removing a member ends that member's grants.

use gatehouse_tests::oauth::{introspect, refresh, tokens_in};
use gatehouse_tests::{ClientSpec, TestApp, TestClient, new_client};
use reqwest::Method;
use serde_json::{Value, json};

use super::{BASE, call, create_org, register_org_client, setup, status_and_json};

/// The token response of a code flow in a fresh browser, with `offline_access`.
async fn grant_for(app: &TestApp, rp: &TestClient, username: &str) -> Value {
    let tokens = tokens_in(
        app,
        &new_client(),
        rp,
        username,
        &[("scope", "openid offline_access")],
    )
    .await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    tokens
}

fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}

fn access_token(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

async fn assert_invalid_grant(app: &TestApp, rp: &TestClient, token: &str) {
    let response = refresh(app, rp, token).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

/// A refresh that works; the rotated refresh token.
async fn refreshed(app: &TestApp, rp: &TestClient, token: &str) -> String {
    let response = refresh(app, rp, token).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// Whether introspection (asked by `caller`) says `token` is active.
async fn active(app: &TestApp, caller: &TestClient, token: &str) -> bool {
    let body: Value = introspect(app, caller, token).await.json().await.unwrap();
    body["active"].as_bool().unwrap()
}

async fn set_enabled(app: &TestApp, token: &str, org: &str, enabled: bool) -> Value {
    let (status, body) = status_and_json(
        call(
            app,
            Method::PATCH,
            &format!("{BASE}/{org}"),
            token,
            Some(json!({"enabled": enabled})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], enabled);
    body
}

#[tokio::test]
async fn disabling_an_organisation_ends_its_members_grants_for_its_clients() {
    let (app, token) = setup().await;
    let org = create_org(&app, &token, "acme", "Acme Corp").await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    app.create_user("alice").await;
    let alice = app.user_id("alice");
    let response = call(
        &app,
        Method::PUT,
        &format!("{BASE}/acme/members/{alice}"),
        &token,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let portal = register_org_client(&app, &org_id, "Acme portal");
    let global = app.register_client(ClientSpec::default());

    // Two grants for the organisation's client, one for a client outside it.
    let first = grant_for(&app, &portal, "alice").await;
    let second = grant_for(&app, &portal, "alice").await;
    let outside = grant_for(&app, &global, "alice").await;
    assert!(active(&app, &portal, access_token(&first)).await);
    let second_refresh = refreshed(&app, &portal, refresh_token(&second)).await;

    set_enabled(&app, &token, &org_id, false).await;
    // Revoked: the access token is inactive at once, the refresh token refused.
    assert!(!active(&app, &portal, access_token(&first)).await);
    assert_invalid_grant(&app, &portal, &second_refresh).await;
    // Her grant for a client outside the organisation stays.
    assert!(active(&app, &global, access_token(&outside)).await);
    let outside_refresh = refreshed(&app, &global, refresh_token(&outside)).await;

    // Enabled again: sign-in comes back, the ended grants do not. (The first grant's refresh
    // token was not used while the organisation was disabled: only its revocation refuses it.)
    set_enabled(&app, &token, "acme", true).await;
    assert_invalid_grant(&app, &portal, refresh_token(&first)).await;
    refreshed(&app, &global, &outside_refresh).await;
    let fresh = grant_for(&app, &portal, "alice").await;
    refreshed(&app, &portal, refresh_token(&fresh)).await;

    let disabling = app
        .state
        .accounts
        .database()
        .recent_audit_events(1000)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "admin.org_update" && e.details["enabled"] == false)
        .unwrap();
    assert_eq!(
        disabling.details["grants_revoked"], 2,
        "{}",
        disabling.details
    );
    assert_eq!(disabling.org_id, Some(org_id.parse().unwrap()));
}

#[tokio::test]
async fn removing_a_member_ends_their_grants_for_the_organisations_clients() {
    let (app, token) = setup().await;
    let org = create_org(&app, &token, "acme", "Acme Corp").await;
    let portal = register_org_client(&app, org["id"].as_str().unwrap(), "Acme portal");
    app.create_user("alice").await;
    let alice = app.user_id("alice");
    let member = format!("{BASE}/acme/members/{alice}");
    let response = call(
        &app,
        Method::PUT,
        &member,
        &token,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let grant = grant_for(&app, &portal, "alice").await;
    let response = call(&app, Method::DELETE, &member, &token, None).await;
    assert_eq!(response.status(), 204);
    assert!(!active(&app, &portal, access_token(&grant)).await);
    // A member again: the grant ended with the membership does not come back.
    let response = call(
        &app,
        Method::PUT,
        &member,
        &token,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_invalid_grant(&app, &portal, refresh_token(&grant)).await;
}
