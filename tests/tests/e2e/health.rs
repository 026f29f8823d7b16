//! Liveness, readiness, request ids and fallbacks.

use gatehouse_tests::{TestOptions, spawn_app, spawn_app_with};
use serde_json::Value;

#[tokio::test]
async fn healthz_and_readyz_report_up() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["sessions"]["status"], "up");
}

#[tokio::test]
async fn readyz_is_503_naming_redis_when_it_is_unreachable() {
    let app = spawn_app_with(TestOptions {
        redis_url: Some("redis://127.0.0.1:1".to_owned()),
        ..Default::default()
    })
    .await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the process itself is fine");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "1", "RFC 9110 §10.2.3");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["sessions"]));
    assert_eq!(body["checks"]["database"]["status"], "up");

    // A page that needs the store degrades to a 503 page, not a 500.
    let account = app
        .client
        .get(app.url("/account"))
        .header("cookie", format!("gh_session={}", "a".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 503);
    assert_eq!(account.headers()["retry-after"], "1");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_plain_incoming_ids_are_kept() {
    let app = spawn_app().await;
    let generated = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);
    let kept = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "lb-1234");
    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn unknown_pages_get_an_html_404() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn first_start_creates_the_admin_account() {
    let app = spawn_app().await;
    let db = app.state.accounts.database();
    let admin = db
        .find_user_by_login("admin")
        .unwrap()
        .expect("bootstrap admin");
    assert_eq!(
        db.roles_of(admin.id).unwrap(),
        [gatehouse_identity::Role::Admin]
    );
    let response = app.login("admin", "bootstrap admin password").await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn the_builder_starts_the_app_with_its_users_and_settings() {
    let app = gatehouse_tests::TestApp::builder()
        .configure(|settings| settings.sessions.max_per_user = 7)
        .with_user("uma")
        .with_admin("ada")
        .spawn()
        .await;
    assert_eq!(app.state.settings.sessions.max_per_user, 7);
    let db = app.state.accounts.database();
    assert!(db.roles_of(app.user_id("uma")).unwrap().is_empty());
    assert_eq!(
        db.roles_of(app.user_id("ada")).unwrap(),
        [gatehouse_identity::Role::Admin]
    );
    let (username, password) = app.admin();
    assert_eq!(app.login(username, password).await.status(), 303);
    assert_eq!(
        app.login_with(
            &gatehouse_tests::new_client(),
            "ada",
            gatehouse_tests::GOOD_PASSWORD,
            None
        )
        .await
        .status(),
        303
    );
}
