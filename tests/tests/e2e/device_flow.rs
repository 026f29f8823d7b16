//! The device authorization grant (RFC 8628) end to end: a device asks at
//! `/device_authorization`, a signed-in user allows or denies on `/device` through the real
//! forms, and the device polls `/token`. Every error of §3.5, the interval growth, one
//! redemption, user-code normalisation, the limits on wrong codes, expiry on the app's clock, a
//! user locked between approval and redemption, refresh tokens only with `offline_access`, and
//! the discovery fields.

mod polling;
mod verification;

use gatehouse_identity::GrantType;
use gatehouse_server::config::RateLimitRule;
use gatehouse_tests::{ClientSpec, TestApp, TestClient, csrf_from_html, page_marker};
use serde_json::Value;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public device client (`gatehouse client create --public --grant …device_code --grant
/// refresh_token`), third-party, so that approving records a consent.
fn device_client(app: &TestApp) -> TestClient {
    app.register_client(ClientSpec {
        public: true,
        first_party: false,
        grants: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "offline_access"]
            .map(str::to_owned)
            .to_vec(),
        ..ClientSpec::default()
    })
}

/// POST /device_authorization as `client` (Basic for a confidential one).
async fn start_with(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app.client.post(app.url("/device_authorization"));
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    match &client.client_secret {
        Some(secret) => request = request.basic_auth(&client.client_id, Some(secret)),
        None => fields.push(("client_id", &client.client_id)),
    }
    let response = request.form(&fields).send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.json().await.unwrap())
}

async fn start(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let (status, body) = start_with(app, client, &[("scope", scope)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// One poll of the token endpoint.
async fn poll(app: &TestApp, client: &TestClient, device_code: &str) -> (u16, Value) {
    let mut request = app.client.post(app.url("/token"));
    let mut form = vec![("grant_type", DEVICE_GRANT), ("device_code", device_code)];
    match &client.client_secret {
        Some(secret) => request = request.basic_auth(&client.client_id, Some(secret)),
        None => form.push(("client_id", &client.client_id)),
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Asserts a poll answers the RFC 8628 §3.5 (or RFC 6749 §5.2) error `code`.
async fn poll_error(app: &TestApp, client: &TestClient, device_code: &str, code: &str) {
    let (status, body) = poll(app, client, device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some(code)),
        "{body}"
    );
}

fn device_code(started: &Value) -> String {
    started["device_code"].as_str().unwrap().to_owned()
}

fn user_code(started: &Value) -> String {
    started["user_code"].as_str().unwrap().to_owned()
}

/// Submits the `/device` entry form in `browser` with `entered`: the status and the page.
async fn enter_code(app: &TestApp, browser: &reqwest::Client, entered: &str) -> (u16, String) {
    let (status, html) = app.get_page(browser, "/device").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("device"));
    let response = app
        .post_form(
            browser,
            "/device",
            &[
                ("csrf_token", &csrf_from_html(&html)),
                ("user_code", entered),
                ("action", "show"),
            ],
        )
        .await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Presses Allow (`approve`) or Deny (`deny`) on a confirmation page: the resulting page.
async fn decide(app: &TestApp, browser: &reqwest::Client, confirm: &str, action: &str) -> String {
    assert_eq!(
        page_marker(confirm).as_deref(),
        Some("device-confirm"),
        "{confirm}"
    );
    let code = gatehouse_tests::hidden_value(confirm, "user_code");
    let response = app
        .post_form(
            browser,
            "/device",
            &[
                ("csrf_token", &csrf_from_html(confirm)),
                ("user_code", &code),
                ("action", action),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert_eq!(page_marker(&html).as_deref(), Some("device-done"), "{html}");
    html
}

/// Signs `username` in, enters the code and presses `action`.
async fn user_decides(app: &TestApp, username: &str, code: &str, action: &str) -> reqwest::Client {
    let browser = app
        .signed_in_browser(username, gatehouse_tests::GOOD_PASSWORD)
        .await;
    let (status, confirm) = enter_code(app, &browser, code).await;
    assert_eq!(status, 200, "{confirm}");
    decide(app, &browser, &confirm, action).await;
    browser
}

fn audit_count(app: &TestApp, action: &str) -> usize {
    app.audit_actions()
        .into_iter()
        .filter(|(name, _)| name == action)
        .count()
}

/// An administrator's token for the admin API.
async fn admin_token(app: &TestApp) -> String {
    app.create_user_with_roles("boss", &[gatehouse_identity::Role::Admin])
        .await;
    app.admin_token_for("boss").await
}

fn small(limit: u64) -> RateLimitRule {
    RateLimitRule {
        limit,
        window_secs: 600,
    }
}
