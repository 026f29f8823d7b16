//! The end-to-end harness: `spawn_app()` starts the real server on port 0 against a fresh database
//! and an isolated session store, and returns a `TestApp` with typed helpers.
//!
//! Backends: SQLite + in-process store by default; Postgres + Redis when `TEST_DATABASE_URL` and
//! `TEST_REDIS_URL` are set. Each app gets its own database (created and dropped here) and its own
//! Redis key prefix (deleted on drop), so tests run in parallel and leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod oauth;
pub mod resource_server;
pub mod sink;
pub mod smtp;
pub mod totp;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use chrono::Utc;
use gatehouse_identity::testing::TestDatabase;
use gatehouse_identity::{ClientType, GrantType, NewClient, TokenEndpointAuthMethod};
use gatehouse_server::{AppState, Application, ManualClock, Settings};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Cheap argon2 parameters: the suite hashes hundreds of passwords.
pub const TEST_ARGON2_MEMORY_KIB: u32 = gatehouse_identity::testing::CHEAP_ARGON2.memory_kib;
/// A password that passes every registration rule.
pub const GOOD_PASSWORD: &str = "correct horse battery staple";

pub struct TestOptions {
    /// Overrides the Redis URL (e.g. an unreachable one). `None` follows `TEST_REDIS_URL`.
    pub redis_url: Option<String>,
    pub issuer: Option<String>,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub registration_enabled: bool,
    /// Any other setting, applied last (e.g. a small `sessions.max_per_user`).
    pub configure: Option<fn(&mut Settings)>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            redis_url: None,
            issuer: None,
            argon2_memory_kib: TEST_ARGON2_MEMORY_KIB,
            argon2_iterations: 1,
            registration_enabled: true,
            configure: None,
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
    /// Where `/metrics` is served; `None` unless the test turned `metrics.listen` on.
    pub metrics_address: Option<std::net::SocketAddr>,
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
    // Mail a test does not read goes to a scratch directory, never into the source tree (tests
    // that read mail point the transport at the SMTP sink through `configure`).
    settings.email.file_dir = std::env::temp_dir().join("gatehouse-test-mail");
    settings.passwords.memory_kib = options.argon2_memory_kib;
    settings.passwords.iterations = options.argon2_iterations;
    settings.registration.enabled = options.registration_enabled;
    let prefix = format!("gh_test:{}:", uuid::Uuid::new_v4().simple());
    let redis_url = options.redis_url.or_else(test_redis_url);
    settings.sessions.redis_url = redis_url.clone().map(Into::into);
    settings.sessions.key_prefix = prefix.clone();
    settings.bootstrap.admin_password = Some("bootstrap admin password".to_owned().into());
    let master: [u8; 32] = rand_bytes();
    settings.keys.master_key =
        Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master).into());
    // Each app would bind the default metrics port: a test that scrapes turns it on itself.
    settings.metrics.listen = gatehouse_server::metrics::MetricsListen::Off;
    if let Some(configure) = options.configure {
        configure(&mut settings);
    }

    // Starts at the real time (relying-party libraries check `exp` against their own clock) and
    // only moves when a test says so.
    let clock = ManualClock::new(Utc::now());
    let app = Application::build_with_listener(settings, listener, Arc::new(clock.clone()))
        .await
        .expect("build the application");
    let state = app.state();
    let metrics_address = app.metrics_address();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    TestApp {
        address,
        port,
        client: new_client(),
        clock,
        state,
        metrics_address,
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

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes
}

/// A registered client as the tests use it.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
}

/// What kind of client to register.
pub struct ClientSpec {
    pub public: bool,
    pub first_party: bool,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub auth_method: Option<TokenEndpointAuthMethod>,
    pub id_token_alg: Option<String>,
    /// The client requires a second factor (`gatehouse client create --require-2fa`).
    pub require_2fa: bool,
    /// Back-channel logout endpoint (with `backchannel_logout_session_required`).
    pub backchannel_logout_uri: Option<String>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        Self {
            public: false,
            first_party: true,
            grants: vec![],
            scopes: vec![],
            auth_method: None,
            id_token_alg: None,
            require_2fa: false,
            backchannel_logout_uri: None,
        }
    }
}

/// The bootstrap administrator every test app starts with.
pub const ADMIN_USERNAME: &str = "admin";
pub const ADMIN_PASSWORD: &str = "bootstrap admin password";

/// Builds a [`TestApp`]: per-test settings and the users it starts with.
///
/// ```ignore
/// let app = TestApp::builder()
///     .configure(|s| s.sessions.max_per_user = 3)
///     .with_user("alice")
///     .spawn()
///     .await;
/// ```
#[derive(Default)]
pub struct TestAppBuilder {
    options: TestOptions,
    /// Usernames, and whether each holds the `admin` role.
    users: Vec<(String, bool)>,
}

impl TestAppBuilder {
    /// Any setting, applied after the harness's own.
    #[must_use]
    pub fn configure(mut self, configure: fn(&mut Settings)) -> Self {
        self.options.configure = Some(configure);
        self
    }

    /// Overrides the harness's options wholesale (Redis URL, issuer, Argon2 cost).
    #[must_use]
    pub fn options(mut self, options: TestOptions) -> Self {
        self.options = options;
        self
    }

    /// A user registered with [`GOOD_PASSWORD`] and `<name>@example.com` before the test starts.
    #[must_use]
    pub fn with_user(mut self, username: &str) -> Self {
        self.users.push((username.to_owned(), false));
        self
    }

    /// [`TestAppBuilder::with_user`] holding the `admin` role (as `gatehouse user create
    /// --admin` makes one). The bootstrap administrator exists as well ([`TestApp::admin`]).
    #[must_use]
    pub fn with_admin(mut self, username: &str) -> Self {
        self.users.push((username.to_owned(), true));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let app = spawn_app_with(self.options).await;
        for (username, admin) in &self.users {
            if *admin {
                let registration = gatehouse_identity::Registration {
                    username: username.clone(),
                    email: format!("{username}@example.com"),
                    password: GOOD_PASSWORD.to_owned(),
                };
                app.state
                    .accounts
                    .register(
                        registration,
                        &[gatehouse_identity::Role::Admin],
                        &gatehouse_identity::RequestContext::default(),
                        app.clock_now(),
                    )
                    .await
                    .unwrap();
            } else {
                app.create_user(username).await;
            }
        }
        app
    }
}

/// The `data-page` marker of a rendered page (`login`, `second-factor`, `consent`, …): tests
/// recognise pages by it rather than by their wording or markup.
pub fn page_marker(html: &str) -> Option<String> {
    let marker = r#"data-page=""#;
    let start = html.find(marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

/// Through the store itself, so any URL it accepts works (a cluster's keys are on every
/// primary); on a side thread with its own runtime because this runs in `Drop`.
pub fn delete_redis_prefix(url: &str, prefix: &str) {
    std::thread::scope(|scope| {
        let _ = scope
            .spawn(|| {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                if let Ok(store) = gatehouse_sessions::RedisStore::new(url, prefix) {
                    let _ = runtime.block_on(store.delete_all_keys());
                }
            })
            .join();
    });
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
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// The bootstrap administrator's credentials (the `admin` role).
    pub fn admin(&self) -> (&'static str, &'static str) {
        (ADMIN_USERNAME, ADMIN_PASSWORD)
    }

    /// The id of a registered user.
    pub fn user_id(&self, username: &str) -> uuid::Uuid {
        self.state
            .accounts
            .database()
            .find_user_by_typed_login(username)
            .unwrap()
            .unwrap_or_else(|| panic!("no user {username}"))
            .id
    }

    /// Turns TOTP on for a user through the application layer, as the account page does, and
    /// returns the base32 secret and the recovery codes. The confirming code is the one of the
    /// clock's current step, so that step is spent: advance the clock 30 s (or use the next
    /// step's code) before signing in with a code.
    pub async fn enrol_totp(&self, username: &str) -> (String, Vec<String>) {
        let user_id = self.user_id(username);
        let now = self.clock_now();
        let ctx = gatehouse_identity::RequestContext::default();
        let enrolment = self
            .state
            .app
            .begin_totp_enrolment(
                user_id,
                gatehouse_app::Reauthentication::SignedInAt(now.timestamp()),
                &ctx,
                now,
            )
            .await
            .unwrap();
        let secret = totp::secret_of_uri(&enrolment.otpauth_uri);
        assert_eq!(secret, enrolment.secret_base32);
        let codes = self
            .state
            .app
            .confirm_totp_enrolment(user_id, &totp::code_at(&secret, now, 0), None, &ctx, now)
            .await
            .unwrap();
        (secret, codes.into_codes())
    }

    /// Moves the server's clock forward.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The app's own database, e.g. to end its connections or refuse new ones (Postgres).
    pub fn test_database(&self) -> &TestDatabase {
        &self._db
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

    /// The published JWKS, as a relying party fetches it.
    pub async fn jwks(&self) -> Value {
        let response = self
            .client
            .get(self.url("/jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `/account` as `browser` sees it: the status and the page.
    pub async fn account_page(&self, browser: &reqwest::Client) -> (u16, String) {
        let response = browser.get(self.url("/account")).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Presses the account page's "Sign out" button in `browser`.
    pub async fn sign_out(&self, browser: &reqwest::Client) -> reqwest::Response {
        let (_, html) = self.account_page(browser).await;
        browser
            .post(self.url("/logout"))
            .form(&[("csrf_token", csrf_from_html(&html))])
            .send()
            .await
            .unwrap()
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

    /// Registers a client directly in the identity store (as `gatehouse client create` does).
    pub fn register_client(&self, spec: ClientSpec) -> TestClient {
        let redirect_uri = "http://rp.example.test/callback".to_owned();
        let new = NewClient {
            org_id: None,
            resources: Vec::new(),
            exchange_audiences: Vec::new(),
            allow_impersonation: false,
            name: "Test RP".to_owned(),
            client_type: Some(if spec.public {
                ClientType::Public
            } else {
                ClientType::Confidential
            }),
            redirect_uris: vec![redirect_uri.clone()],
            post_logout_redirect_uris: vec!["http://rp.example.test/bye".to_owned()],
            grant_types: spec.grants,
            scopes: spec.scopes,
            token_endpoint_auth_method: if spec.public {
                Some(TokenEndpointAuthMethod::None)
            } else {
                spec.auth_method
            },
            id_token_signed_response_alg: spec.id_token_alg,
            first_party: spec.first_party,
            require_2fa: spec.require_2fa,
            backchannel_logout_session_required: spec.backchannel_logout_uri.is_some(),
            backchannel_logout_uri: spec.backchannel_logout_uri,
        };
        let (client, secret) = self
            .state
            .accounts
            .database()
            .create_client(&new, &self.state.secrets, self.clock_now())
            .unwrap();
        TestClient {
            client_id: client.client_id,
            client_secret: secret,
            redirect_uri,
        }
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        gatehouse_server::Clock::now(&self.clock)
    }

    /// Follows the browser through authorize → (login) → (consent) until the redirect to the
    /// client, and returns that final redirect URL. `client` carries the browser's cookies.
    pub async fn browse_authorize(
        &self,
        client: &reqwest::Client,
        authorize_url: &str,
        login: Option<(&str, &str)>,
    ) -> reqwest::Url {
        self.browse_authorize_with(client, authorize_url, login, None)
            .await
    }

    /// [`TestApp::browse_authorize`] through a second-factor page too, answering it with the
    /// code `second_factor` gives.
    pub async fn browse_authorize_with(
        &self,
        client: &reqwest::Client,
        authorize_url: &str,
        login: Option<(&str, &str)>,
        second_factor: Option<&dyn Fn() -> String>,
    ) -> reqwest::Url {
        let mut next = authorize_url.to_owned();
        for _ in 0..10 {
            let url = if next.starts_with('/') {
                self.url(&next)
            } else {
                next.clone()
            };
            if !url.starts_with(&self.address) {
                return reqwest::Url::parse(&url).unwrap();
            }
            let response = client.get(&url).send().await.unwrap();
            let status = response.status().as_u16();
            if (300..400).contains(&status) {
                next = response.headers()["location"].to_str().unwrap().to_owned();
                continue;
            }
            let html = response.text().await.unwrap();
            assert_eq!(status, 200, "unexpected page at {url}: {html}");
            let page = page_marker(&html);
            if page.as_deref() == Some("second-factor") {
                let code = second_factor.expect("a second factor was asked for")();
                let response = client
                    .post(self.url("/login/second-factor"))
                    .form(&[
                        ("code", code.as_str()),
                        ("csrf_token", &csrf_from_html(&html)),
                        ("return_to", &hidden_value(&html, "return_to")),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 303, "second factor refused");
                next = response.headers()["location"].to_str().unwrap().to_owned();
            } else if page.as_deref() == Some("login") {
                let (username, password) = login.expect("a login was needed");
                let csrf = csrf_from_html(&html);
                let return_to = hidden_value(&html, "return_to");
                let response = client
                    .post(self.url("/login"))
                    .form(&[
                        ("username", username),
                        ("password", password),
                        ("csrf_token", &csrf),
                        ("return_to", &return_to),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 303, "login failed");
                next = response.headers()["location"].to_str().unwrap().to_owned();
            } else if page.as_deref() == Some("consent") {
                let mut form = hidden_fields(&html);
                form.push(("consent".to_owned(), "approve".to_owned()));
                let response = client
                    .post(self.url("/authorize"))
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                assert!(
                    response.status().is_redirection(),
                    "consent: {}",
                    response.status()
                );
                next = response.headers()["location"].to_str().unwrap().to_owned();
            } else {
                panic!("unexpected page at {url}: {html}");
            }
        }
        panic!("too many redirects")
    }
}

/// The value of a hidden input, HTML entities decoded.
pub fn hidden_value(html: &str, name: &str) -> String {
    hidden_fields(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Every `<input type="hidden" name=".." value="..">` of a page, decoded.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for part in html.split(r#"<input type="hidden" name=""#).skip(1) {
        let Some((name, rest)) = part.split_once('"') else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(r#" value=""#) else {
            continue;
        };
        let Some((value, _)) = rest.split_once('"') else {
            continue;
        };
        fields.push((decode_html(name), decode_html(value)));
    }
    fields
}

/// Decodes the entities askama writes: named `&amp;`-style ones and numeric `&#NN;`/`&#xNN;`.
fn decode_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ---- Helpers for the account-mail tests (additions). ----

/// The claims of a JWT (ID token, logout token), not verified: the tests that use it check
/// what the server put in, the signature is covered elsewhere.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The value of the first `attribute="…"` on the page (e.g. `data-email-verified`).
pub fn attribute_value(html: &str, attribute: &str) -> Option<String> {
    let marker = format!(r#"{attribute}=""#);
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(decode_html(&html[start..end]))
}

/// Whether the page shows a field error for `field` (`data-field-error="FIELD"`).
pub fn has_field_error(html: &str, field: &str) -> bool {
    html.contains(&format!(r#"data-field-error="{field}""#))
}

/// The page without its CSRF token's value, to compare two renderings of one form.
pub fn without_csrf(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find(marker) {
        let value_start = start + marker.len();
        out.push_str(&rest[..value_start]);
        let end = rest[value_start..]
            .find('"')
            .map_or(rest.len(), |e| value_start + e);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl TestApp {
    /// GET `path` in `browser`: the status and the body.
    pub async fn get_page(&self, browser: &reqwest::Client, path: &str) -> (u16, String) {
        let response = browser.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// POSTs a form to `path` in `browser`.
    pub async fn post_form(
        &self,
        browser: &reqwest::Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        browser
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A browser signed in as `username` with `password` (asserts the 303).
    pub async fn signed_in_browser(&self, username: &str, password: &str) -> reqwest::Client {
        let browser = new_client();
        let response = self.login_with(&browser, username, password, None).await;
        assert_eq!(response.status(), 303, "signing {username} in");
        browser
    }

    /// A user's `email_verified`, as stored.
    pub fn email_verified(&self, username: &str) -> bool {
        self.state
            .accounts
            .database()
            .find_user_by_typed_login(username)
            .unwrap()
            .unwrap_or_else(|| panic!("no user {username}"))
            .email_verified
    }
}

/// Administration: users holding roles, and access tokens with the `admin` scope.
impl TestApp {
    /// Creates `username` (password [`GOOD_PASSWORD`], address `username@example.com`) holding
    /// `roles`, through the identity layer as `gatehouse user create --role …` does.
    pub async fn create_user_with_roles(
        &self,
        username: &str,
        roles: &[gatehouse_identity::Role],
    ) -> uuid::Uuid {
        let registration = gatehouse_identity::Registration {
            username: username.to_owned(),
            email: format!("{username}@example.com"),
            password: GOOD_PASSWORD.to_owned(),
        };
        self.state
            .accounts
            .register(
                registration,
                roles,
                &gatehouse_identity::RequestContext::default(),
                self.clock_now(),
            )
            .await
            .unwrap()
            .id
    }

    /// A first-party client allowed the `admin` scope (and `openid`), for user tokens.
    pub fn admin_console_client(&self) -> TestClient {
        self.register_client(ClientSpec {
            scopes: ["openid", "profile", "email", "admin"]
                .map(str::to_owned)
                .to_vec(),
            ..ClientSpec::default()
        })
    }

    /// An access token with the `admin` scope for an existing user (signed in through the code
    /// flow in a fresh browser).
    pub async fn admin_token_for(&self, username: &str) -> String {
        let rp = self.admin_console_client();
        let tokens = oauth::tokens_in(
            self,
            &new_client(),
            &rp,
            username,
            &[("scope", "openid admin")],
        )
        .await;
        tokens["access_token"].as_str().unwrap().to_owned()
    }

    /// A service account: a `client_credentials` client allowed the `admin` scope whose
    /// account holds `roles`, and a token it got with that scope.
    pub async fn service_account_token(
        &self,
        roles: &[gatehouse_identity::Role],
    ) -> (TestClient, String) {
        let client = self.register_client(ClientSpec {
            grants: vec![gatehouse_identity::GrantType::ClientCredentials],
            scopes: vec!["admin".to_owned()],
            ..ClientSpec::default()
        });
        let roles = roles.to_vec();
        let id = client.client_id.clone();
        assert!(
            self.state
                .accounts
                .database()
                .run(move |db| db.set_client_roles(&id, &roles))
                .await
                .unwrap()
        );
        let response = self
            .client
            .post(self.url("/token"))
            .basic_auth(&client.client_id, client.client_secret.as_deref())
            .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        (client, token)
    }
}
