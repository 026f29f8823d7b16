//! The end-to-end harness: `spawn_app()` starts the real server on port 0 against a fresh database
//! and an isolated session store, and returns a `TestApp` with typed helpers.
//!
//! Backends: SQLite + in-process store by default; Postgres + Redis when `TEST_DATABASE_URL` and
//! `TEST_REDIS_URL` are set. Each app gets its own database (created and dropped here) and its own
//! Redis key prefix (deleted on drop), so tests run in parallel and leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use chrono::{TimeZone, Utc};
use gatehouse_identity::testing::TestDatabase;
use gatehouse_server::{AppState, Application, ManualClock, Settings};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Cheap argon2 parameters: the suite hashes hundreds of passwords.
pub const TEST_ARGON2_MEMORY_KIB: u32 = 256;
/// A password that passes every registration rule.
pub const GOOD_PASSWORD: &str = "correct horse battery staple";

pub struct TestOptions {
    /// Overrides the Redis URL (e.g. an unreachable one). `None` follows `TEST_REDIS_URL`.
    pub redis_url: Option<String>,
    pub issuer: Option<String>,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub registration_enabled: bool,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            redis_url: None,
            issuer: None,
            argon2_memory_kib: TEST_ARGON2_MEMORY_KIB,
            argon2_iterations: 1,
            registration_enabled: true,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// Follows no redirects and keeps cookies, like a browser that shows every hop.
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: actix_web::web::Data<AppState>,
    handle: ServerHandle,
    redis: Option<(String, String)>,
    _db: TestDatabase,
}

/// The redis URL the suite runs against, if any.
pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default()).await
}

pub async fn spawn_app_with(options: TestOptions) -> TestApp {
    let db = tokio::task::spawn_blocking(TestDatabase::create)
        .await
        .unwrap()
        .expect("create a test database");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");

    let mut settings = Settings::defaults().unwrap();
    settings.server.issuer = options
        .issuer
        .as_deref()
        .unwrap_or(&address)
        .parse()
        .unwrap();
    settings.server.workers = 1;
    settings.server.shutdown_timeout_secs = 1;
    settings.database.url = db.url().to_owned().into();
    settings.database.max_connections = 8;
    settings.passwords.memory_kib = options.argon2_memory_kib;
    settings.passwords.iterations = options.argon2_iterations;
    settings.registration.enabled = options.registration_enabled;
    let prefix = format!("gh_test:{}:", uuid::Uuid::new_v4().simple());
    let redis_url = options.redis_url.or_else(test_redis_url);
    settings.sessions.redis_url = redis_url.clone().map(Into::into);
    settings.sessions.key_prefix = prefix.clone();
    settings.bootstrap.admin_password = Some("bootstrap admin password".to_owned().into());

    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap());
    let app = Application::build_with_listener(settings, listener, Arc::new(clock.clone()))
        .await
        .expect("build the application");
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    TestApp {
        address,
        port,
        client: new_client(),
        clock,
        state,
        handle,
        redis: redis_url.map(|url| (url, prefix)),
        _db: db,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
        if let Some((url, prefix)) = &self.redis {
            delete_redis_prefix(url, prefix);
        }
    }
}

fn delete_redis_prefix(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_connection() else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
    }
}

/// Reads the hidden `csrf_token` field of a rendered form.
pub fn csrf_from_html(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).expect("the page has a csrf_token field") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

/// All `Set-Cookie` headers for one cookie name.
pub fn set_cookie_lines(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .collect()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/users"))
            .json(&serde_json::json!({"username": username, "email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Registers a user with a valid password and asserts it worked.
    pub async fn create_user(&self, username: &str) -> Value {
        let response = self
            .register(username, &format!("{username}@example.com"), GOOD_PASSWORD)
            .await;
        assert_eq!(response.status(), 201, "registering {username}");
        response.json().await.unwrap()
    }

    /// Fetches the login page (setting the CSRF cookie) and returns the form's token.
    pub async fn login_form(&self, client: &reqwest::Client) -> String {
        let page = client.get(self.url("/login")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        csrf_from_html(&page.text().await.unwrap())
    }

    /// The browser flow: GET /login, then POST the form with its CSRF token.
    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
        return_to: Option<&str>,
    ) -> reqwest::Response {
        let csrf = self.login_form(client).await;
        let mut form = vec![
            ("username", username.to_owned()),
            ("password", password.to_owned()),
            ("csrf_token", csrf),
        ];
        if let Some(return_to) = return_to {
            form.push(("return_to", return_to.to_owned()));
        }
        client
            .post(self.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.login_with(&self.client, username, password, None)
            .await
    }

    pub fn audit_actions(&self) -> Vec<(String, Option<String>)> {
        self.state
            .accounts
            .database()
            .recent_audit_events(1000)
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.target))
            .collect()
    }

    pub fn user_count(&self) -> i64 {
        self.state.accounts.database().count_users().unwrap()
    }
}
