//! The database restarting or going away under a running server (Postgres only: the tests end
//! the app's sessions with `pg_terminate_backend` and refuse new ones with
//! `ALLOW_CONNECTIONS false`; on SQLite they return at once, saying so).

use std::time::{Duration, Instant};

use gatehouse_identity::testing::TestDatabase;
use gatehouse_identity::{Backend, GrantType};
use gatehouse_tests::oauth::introspect;
use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, TestApp, TestClient, new_client, spawn_app};
use serde_json::Value;

/// Every surface must answer an outage quicker than this.
const FAST: Duration = Duration::from_secs(1);

fn postgres(app: &TestApp) -> Option<&TestDatabase> {
    let db = app.test_database();
    if db.backend() == Backend::Postgres {
        Some(db)
    } else {
        eprintln!("skipped: needs a Postgres TEST_DATABASE_URL");
        None
    }
}

fn machine_client(app: &TestApp) -> TestClient {
    app.register_client(ClientSpec {
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["reports.read".to_owned()],
        ..Default::default()
    })
}

async fn client_credentials(app: &TestApp, client: &TestClient) -> reqwest::Response {
    app.client
        .post(app.url("/token"))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// Sends `request`, checking it was answered within [`FAST`].
async fn fast<R>(what: &str, request: impl Future<Output = R>) -> R {
    let started = Instant::now();
    let response = request.await;
    let took = started.elapsed();
    assert!(took < FAST, "{what} took {took:?}");
    response
}

fn retry_after(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no Retry-After on {}", response.url()))
}

/// A 503 `temporarily_unavailable` (RFC 6749 §5.2) with `Retry-After`.
async fn assert_temporarily_unavailable(what: &str, response: reqwest::Response) {
    assert_eq!(response.status(), 503, "{what}");
    assert_eq!(retry_after(&response), "1", "{what}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
}

/// The HTML 503 page with `Retry-After`.
async fn assert_unavailable_page(what: &str, response: reqwest::Response) {
    assert_eq!(response.status(), 503, "{what}");
    assert_eq!(retry_after(&response), "1", "{what}");
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Temporarily unavailable"), "{what}: {html}");
}

#[tokio::test]
async fn the_first_requests_after_a_database_restart_succeed() {
    let app = spawn_app().await;
    let Some(db) = postgres(&app) else { return };
    // Neither client is in the server's client cache yet, so each request below reads the
    // database; nothing else touches it in between.
    let minting = machine_client(&app);
    let inspecting = machine_client(&app);

    assert!(db.terminate_connections().unwrap() >= 1);
    let response = client_credentials(&app, &minting).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();

    assert!(db.terminate_connections().unwrap() >= 1);
    let response = introspect(&app, &inspecting, &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
}

/// GETs `/authorize` for `client` with `browser`'s cookies.
async fn authorize(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &TestClient,
) -> reqwest::Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", "s-1")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    browser
        .get(app.url(&format!("/authorize?{query}")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_database_outage_is_a_fast_503_with_retry_after_on_every_surface() {
    let app = spawn_app().await;
    let Some(db) = postgres(&app) else { return };
    app.create_user("olive").await;
    let machine = machine_client(&app);
    // Registered but never looked up by the server: any request naming it needs the database.
    let unseen = machine_client(&app);
    let unseen_web = app.register_client(ClientSpec::default());
    let third_party = app.register_client(ClientSpec {
        first_party: false,
        ..Default::default()
    });

    let response = client_credentials(&app, &machine).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let browser = new_client();
    let login = app.login_with(&browser, "olive", GOOD_PASSWORD, None).await;
    assert_eq!(login.status(), 303);
    // Caches the third-party client; its consent is then read from the database each time.
    let consent = authorize(&app, &browser, &third_party).await;
    assert_eq!(consent.status(), 200, "the consent page");
    let login_csrf = app.login_form(&app.client).await;

    db.allow_connections(false).unwrap();
    db.terminate_connections().unwrap();

    let response = fast("token", client_credentials(&app, &unseen)).await;
    assert_temporarily_unavailable("token", response).await;
    let response = fast("introspect", introspect(&app, &unseen, &token)).await;
    assert_temporarily_unavailable("introspect", response).await;
    let revoke = app
        .client
        .post(app.url("/revoke"))
        .basic_auth(&unseen.client_id, unseen.client_secret.as_deref())
        .form(&[("token", token.as_str())])
        .send();
    assert_temporarily_unavailable("revoke", fast("revoke", revoke).await.unwrap()).await;

    // /authorize: a client that cannot be looked up gets the page, never a redirect
    // (RFC 6749 §4.1.2.1); a verified one gets its redirect with the error (§4.1.2.1).
    let response = fast("authorize", authorize(&app, &browser, &unseen_web)).await;
    assert_unavailable_page("authorize, unknown client", response).await;
    let response = fast("authorize", authorize(&app, &browser, &third_party)).await;
    assert_eq!(response.status(), 302);
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location.as_str().starts_with(&third_party.redirect_uri),
        "{location}"
    );
    let error: Vec<_> = location
        .query_pairs()
        .filter(|(k, _)| k == "error" || k == "state")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(error, ["error=temporarily_unavailable", "state=s-1"]);

    let register = app
        .client
        .post(app.url("/api/v1/users"))
        .json(&serde_json::json!({
            "username": "during.outage",
            "email": "during.outage@example.com",
            "password": GOOD_PASSWORD,
        }))
        .send();
    let response = fast("register", register).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(retry_after(&response), "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"], "urn:gatehouse:problem:unavailable",
        "{problem}"
    );
    assert_eq!(problem["status"], 503);

    let login = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "olive"),
            ("password", GOOD_PASSWORD),
            ("csrf_token", login_csrf.as_str()),
        ])
        .send();
    assert_unavailable_page("login", fast("login", login).await.unwrap()).await;
    let account = browser.get(app.url("/account")).send();
    assert_unavailable_page("account", fast("account", account).await.unwrap()).await;
    let logout = app
        .client
        .get(app.url(&format!("/logout?client_id={}", unseen_web.client_id)))
        .send();
    assert_unavailable_page("logout", fast("logout", logout).await.unwrap()).await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(retry_after(&ready), "1");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["down"], serde_json::json!(["database"]), "{body}");

    // Back: the very next request works.
    db.allow_connections(true).unwrap();
    let response = client_credentials(&app, &unseen).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
