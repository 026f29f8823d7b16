//! The token endpoint's and introspection's rate limits (`rate_limits.token_per_client`,
//! `token_per_ip`, `token_failed_client_auth_weight`, `introspect_per_client`): 429 in the
//! OAuth error format with `Retry-After` and `Cache-Control: no-store`, failed client
//! authentication weighing more, recovery when the window ends, and one budget for instances
//! that share a Redis. Limits are lowered through the settings; windows move with the app's
//! clock.

use std::sync::OnceLock;

use gatehouse_identity::GrantType;
use gatehouse_server::Settings;
use gatehouse_server::config::RateLimitRule;
use gatehouse_tests::{
    ClientSpec, TestApp, TestClient, TestOptions, spawn_app_with, test_redis_url,
};
use serde_json::Value;

const WINDOW_SECS: u64 = 60;

fn small(limit: u64) -> RateLimitRule {
    RateLimitRule {
        limit,
        window_secs: WINDOW_SECS,
    }
}

async fn spawn(configure: fn(&mut Settings)) -> TestApp {
    spawn_app_with(TestOptions {
        configure: Some(configure),
        ..Default::default()
    })
    .await
}

fn service_client(app: &TestApp) -> TestClient {
    app.register_client(ClientSpec {
        grants: vec![GrantType::ClientCredentials],
        ..ClientSpec::default()
    })
}

async fn client_credentials(app: &TestApp, rp: &TestClient, secret: &str) -> reqwest::Response {
    app.client
        .post(app.url("/token"))
        .basic_auth(&rp.client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn token(app: &TestApp, rp: &TestClient) -> reqwest::Response {
    client_credentials(app, rp, rp.client_secret.as_deref().unwrap()).await
}

/// Asserts the 429 of an OAuth endpoint and returns its `Retry-After`.
async fn assert_limited(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), 429);
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=WINDOW_SECS).contains(&secs), "Retry-After: {secs}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many requests"),
        "{body}"
    );
    secs
}

fn three_tokens_per_client(settings: &mut Settings) {
    settings.rate_limits.token_per_client = small(3);
}

#[tokio::test]
async fn a_client_over_its_token_budget_gets_an_oauth_429_until_the_window_ends() {
    let app = spawn(three_tokens_per_client).await;
    let rp = service_client(&app);
    let other = service_client(&app);
    // Wrong secrets in the client's name spend nothing of its budget.
    for _ in 0..5 {
        assert_eq!(client_credentials(&app, &rp, "wrong").await.status(), 401);
    }
    for attempt in 1..=3 {
        assert_eq!(token(&app, &rp).await.status(), 200, "request {attempt}");
    }
    let wait = assert_limited(token(&app, &rp).await).await;
    // Refused before any work, whatever the request holds.
    assert_limited(client_credentials(&app, &rp, "wrong").await).await;
    // Another client is not affected.
    assert_eq!(token(&app, &other).await.status(), 200);

    app.advance_clock(chrono::Duration::seconds(i64::try_from(wait).unwrap()));
    assert_eq!(
        token(&app, &rp).await.status(),
        200,
        "a new window lets the client in"
    );
}

fn ten_per_ip_failures_weigh_five(settings: &mut Settings) {
    settings.rate_limits.token_per_ip = small(10);
    settings.rate_limits.token_failed_client_auth_weight = 5;
}

#[tokio::test]
async fn a_failed_client_authentication_weighs_more_on_the_per_ip_budget() {
    let app = spawn(ten_per_ip_failures_weigh_five).await;
    let rp = service_client(&app);
    // Two failures spend the whole budget of ten.
    for _ in 0..2 {
        assert_eq!(client_credentials(&app, &rp, "wrong").await.status(), 401);
    }
    let wait = assert_limited(token(&app, &rp).await).await;

    app.advance_clock(chrono::Duration::seconds(i64::try_from(wait).unwrap()));
    // Successful requests count one each: ten pass, the eleventh is refused.
    for attempt in 1..=10 {
        assert_eq!(token(&app, &rp).await.status(), 200, "request {attempt}");
    }
    assert_limited(token(&app, &rp).await).await;
}

fn two_introspections_per_client(settings: &mut Settings) {
    settings.rate_limits.introspect_per_client = small(2);
}

#[tokio::test]
async fn a_resource_server_over_its_introspection_budget_gets_an_oauth_429() {
    let app = spawn(two_introspections_per_client).await;
    let rp = service_client(&app);
    let gateway = service_client(&app);
    let other_gateway = service_client(&app);
    let body: Value = token(&app, &rp).await.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    for attempt in 1..=2 {
        let response = gatehouse_tests::oauth::introspect(&app, &gateway, &access_token).await;
        assert_eq!(response.status(), 200, "request {attempt}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["active"], true);
    }
    let refused = gatehouse_tests::oauth::introspect(&app, &gateway, &access_token).await;
    let wait = assert_limited(refused).await;
    let other = gatehouse_tests::oauth::introspect(&app, &other_gateway, &access_token).await;
    assert_eq!(other.status(), 200, "another caller is not affected");

    app.advance_clock(chrono::Duration::seconds(i64::try_from(wait).unwrap()));
    let again = gatehouse_tests::oauth::introspect(&app, &gateway, &access_token).await;
    assert_eq!(again.status(), 200, "a new window lets the caller in");
}

/// One key prefix for both instances of the shared-budget test, as one deployment has.
fn shared_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("gh_test:shared:{}:", uuid::Uuid::new_v4().simple()))
}

fn shared_store_four_per_ip(settings: &mut Settings) {
    settings.sessions.key_prefix = shared_prefix().to_owned();
    settings.rate_limits.token_per_ip = small(4);
}

#[tokio::test]
async fn instances_on_one_redis_share_one_budget() {
    if test_redis_url().is_none() {
        eprintln!(
            "skipped: sharing a budget needs TEST_REDIS_URL (the memory store is per process)"
        );
        return;
    }
    let a = spawn(shared_store_four_per_ip).await;
    let b = spawn(shared_store_four_per_ip).await;
    // Both clocks at the same instant, early in a window.
    let start = a.clock_now().max(b.clock_now());
    let window = i64::try_from(WINDOW_SECS).unwrap();
    let target =
        chrono::DateTime::from_timestamp((start.timestamp() / window + 1) * window + 1, 0).unwrap();
    a.advance_clock(target - a.clock_now());
    b.advance_clock(target - b.clock_now());
    let rp_a = service_client(&a);
    let rp_b = service_client(&b);
    for _ in 0..2 {
        assert_eq!(token(&a, &rp_a).await.status(), 200);
        assert_eq!(token(&b, &rp_b).await.status(), 200);
    }
    // Four from this address in all: both instances refuse the fifth.
    assert_limited(token(&a, &rp_a).await).await;
    assert_limited(token(&b, &rp_b).await).await;
}
