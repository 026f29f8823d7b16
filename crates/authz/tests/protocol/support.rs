//! Cheap setup for protocol tests: a fresh database with signing keys, a user, a session,
//! clients, and the backends the store runs on.
//!
//! Every test gets its own database (SQLite, or Postgres with `TEST_DATABASE_URL`) and its own
//! store: a `MemoryStore`, or with `TEST_REDIS_URL` also a `RedisStore` under a unique key
//! prefix whose keys are deleted when the test ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use gatehouse_authz::{
    AuthSession, AuthorizeOutcome, Authz, AuthzSettings, ClientCredentials, ConsentDecision,
    OAuthError, Params,
};
use gatehouse_identity::testing::TestDatabase;
use gatehouse_identity::{
    Accounts, Client, ClientSecretHasher, ClientType, Database, GrantType, LockoutPolicy,
    NewClient, Registration, RequestContext, User,
};
use gatehouse_sessions::{KvStore, MemoryStore, RedisStore, StoreError};
use gatehouse_tokens::{KeyManager, KeyPolicy, KeySet, MasterKey, Validation};
use redis::Commands as _;
use serde_json::Value;

pub const ISSUER: &str = "https://auth.gatehouse.test";
pub const REDIRECT: &str = "https://rp.example.test/callback";
pub const OTHER_REDIRECT: &str = "https://rp.example.test/other";
pub const LOGOUT_REDIRECT: &str = "https://rp.example.test/logged-out";
pub const PASSWORD: &str = "plume-atlas-47-quietly";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const STATE: &str = "st@te/with spaces&more";
pub const NONCE: &str = "n-0S6_WzA2Mj";
pub const SID: &str = "sid-1";

/// The clock every test starts from. Tests move it by passing a later `now`.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 9, 0, 0).unwrap()
}

/// Where the store lives.
pub enum Backend {
    Memory,
    /// The memory store with a yield before every operation, so that concurrent flows really
    /// interleave between their store calls as they do over a network (see [`YieldingStore`]).
    InterleavedMemory,
    Redis(String),
}

impl Backend {
    /// `Some` only when `TEST_REDIS_URL` is set.
    pub fn redis() -> Option<Backend> {
        std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .map(Backend::Redis)
    }
}

/// A registered client and its secret.
#[derive(Clone)]
pub struct TestClient {
    pub client: Client,
    pub secret: Option<String>,
}

impl TestClient {
    pub fn id(&self) -> &str {
        &self.client.client_id
    }

    /// How the client authenticates: Basic for confidential clients, nothing (its
    /// `client_id` goes in the form) for public ones.
    pub fn credentials(&self) -> ClientCredentials {
        match &self.secret {
            Some(secret) => ClientCredentials::Basic {
                client_id: self.client.client_id.clone(),
                client_secret: secret.clone(),
            },
            None => ClientCredentials::None,
        }
    }

    /// `form` plus `client_id` for a public client.
    pub fn form(&self, pairs: &[(&str, &str)]) -> Params {
        let mut form = params(pairs);
        if self.secret.is_none() {
            form.push(("client_id".into(), self.client.client_id.clone()));
        }
        form
    }
}

pub struct Harness {
    pub authz: Authz,
    pub db: Database,
    pub keys: Arc<KeyManager>,
    pub secrets: ClientSecretHasher,
    pub accounts: Accounts,
    pub user: User,
    pub session: AuthSession,
    /// Third party, confidential (`client_secret_basic`), RS256 ID tokens, all three grants,
    /// scopes `openid profile email offline_access api:read`.
    pub confidential: TestClient,
    /// Third party, public, ES256 ID tokens, code + refresh.
    pub public: TestClient,
    memory: Option<Arc<MemoryStore>>,
    redis_keys: Option<RedisKeys>,
    _test_db: TestDatabase,
}

impl Harness {
    pub async fn new(backend: Backend) -> Harness {
        let test_db = TestDatabase::create().unwrap();
        let db = test_db.connect().unwrap();
        let master = MasterKey::from_base64(&base64_key()).unwrap();
        let policy = KeyPolicy {
            rotation_interval: Duration::days(30),
            max_token_lifetime: Duration::hours(1),
        };
        let keys = Arc::new(KeyManager::open(db.clone(), &master, policy, t0()).unwrap());
        let secrets = ClientSecretHasher::new(master.derive("client-secrets"));

        let (store, memory, redis_keys): (Arc<dyn KvStore>, _, _) = match backend {
            Backend::Memory => {
                let memory = Arc::new(MemoryStore::new());
                (memory.clone(), Some(memory), None)
            }
            Backend::InterleavedMemory => {
                let memory = Arc::new(MemoryStore::new());
                (Arc::new(YieldingStore(memory.clone())), Some(memory), None)
            }
            Backend::Redis(url) => {
                let prefix = format!("gatehouse-authz-test:{}:", uuid::Uuid::new_v4());
                let store = RedisStore::new(&url, &prefix).unwrap();
                (Arc::new(store), None, Some(RedisKeys { url, prefix }))
            }
        };

        let authz = Authz::new(
            AuthzSettings::new(ISSUER),
            db.clone(),
            Arc::clone(&store),
            Arc::clone(&keys),
            secrets.clone(),
        );

        let hasher = gatehouse_identity::testing::cheap_hasher();
        let accounts = Accounts::new(
            db.clone(),
            hasher,
            LockoutPolicy {
                max_failures: 1,
                window: Duration::minutes(15),
                lock_for: Duration::minutes(15),
            },
        );
        let user = register(&accounts, "alice").await;
        let session = AuthSession {
            user_id: user.id,
            auth_time: t0().timestamp() - 60,
            sid: SID.to_owned(),
            amr: vec!["pwd".to_owned()],
        };

        let confidential = create_client(
            &db,
            &secrets,
            NewClient {
                name: "Confidential RP".into(),
                redirect_uris: vec![REDIRECT.into(), OTHER_REDIRECT.into()],
                post_logout_redirect_uris: vec![LOGOUT_REDIRECT.into()],
                grant_types: vec![
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::ClientCredentials,
                ],
                scopes: ["openid", "profile", "email", "offline_access", "api:read"]
                    .map(String::from)
                    .to_vec(),
                ..NewClient::default()
            },
        );
        let public = create_client(
            &db,
            &secrets,
            NewClient {
                name: "Public SPA".into(),
                client_type: Some(ClientType::Public),
                redirect_uris: vec![REDIRECT.into()],
                id_token_signed_response_alg: Some("ES256".into()),
                ..NewClient::default()
            },
        );
        Harness {
            authz,
            db,
            keys,
            secrets,
            accounts,
            user,
            session,
            confidential,
            public,
            memory,
            redis_keys,
            _test_db: test_db,
        }
    }

    pub fn client(&self, new: NewClient) -> TestClient {
        create_client(&self.db, &self.secrets, new)
    }

    pub async fn register(&self, username: &str) -> User {
        register(&self.accounts, username).await
    }

    pub fn key_set(&self) -> Arc<KeySet> {
        self.keys.current()
    }

    pub fn validation<'a>(&self, audience: Option<&'a str>, now: DateTime<Utc>) -> Validation<'a> {
        Validation {
            audience,
            ..Validation::new(ISSUER, now.timestamp())
        }
    }

    /// A complete authorization request for `client`: code flow, `openid profile email`,
    /// state, nonce and an S256 challenge. `overrides` replace (or, with an empty value,
    /// remove) parameters.
    pub fn authorize_params(&self, client: &TestClient, overrides: &[(&str, &str)]) -> Params {
        let mut base = params(&[
            ("client_id", client.id()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", STATE),
            ("nonce", NONCE),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        for (name, value) in overrides {
            base.retain(|(n, _)| n != name);
            if !value.is_empty() {
                base.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        base
    }

    /// `/authorize` with the harness session at `t0`.
    pub async fn authorize(&self, params: &Params, consent: ConsentDecision) -> AuthorizeOutcome {
        self.authz
            .authorize(params, Some(&self.session), consent, t0())
            .await
    }

    /// Runs `/authorize` with consent given and returns the code.
    pub async fn code_with(&self, client: &TestClient, overrides: &[(&str, &str)]) -> String {
        let outcome = self
            .authorize(
                &self.authorize_params(client, overrides),
                ConsentDecision::Approved,
            )
            .await;
        let query = redirect_query(&outcome);
        assert_eq!(query.get("state").map(String::as_str), Some(STATE));
        query
            .get("code")
            .unwrap_or_else(|| panic!("no code in {query:?}"))
            .clone()
    }

    /// A full code flow in another browser session of the harness user; the token response.
    pub async fn tokens_in(
        &self,
        session: &AuthSession,
        client: &TestClient,
        overrides: &[(&str, &str)],
    ) -> Value {
        let outcome = self
            .authz
            .authorize(
                &self.authorize_params(client, overrides),
                Some(session),
                ConsentDecision::Approved,
                t0(),
            )
            .await;
        let code = redirect_query(&outcome)
            .get("code")
            .unwrap_or_else(|| panic!("no code in {outcome:?}"))
            .clone();
        self.exchange(client, &code).await.unwrap()
    }

    /// Another browser session of the harness user.
    pub fn other_session(&self, sid: &str) -> AuthSession {
        AuthSession {
            sid: sid.to_owned(),
            ..self.session.clone()
        }
    }

    pub async fn code(&self, client: &TestClient) -> String {
        self.code_with(client, &[]).await
    }

    /// `grant_type=authorization_code` with the right redirect URI and verifier at `t0`.
    pub async fn exchange(&self, client: &TestClient, code: &str) -> Result<Value, OAuthError> {
        self.authz
            .token(
                &client.form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ]),
                client.credentials(),
                t0(),
            )
            .await
    }

    /// A full code flow; the token response.
    pub async fn tokens(&self, client: &TestClient) -> Value {
        let code = self.code(client).await;
        self.exchange(client, &code).await.unwrap()
    }

    pub async fn refresh_at(
        &self,
        client: &TestClient,
        refresh_token: &str,
        extra: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        pairs.extend_from_slice(extra);
        self.authz
            .token(&client.form(&pairs), client.credentials(), now)
            .await
    }

    pub async fn refresh(
        &self,
        client: &TestClient,
        refresh_token: &str,
    ) -> Result<Value, OAuthError> {
        self.refresh_at(client, refresh_token, &[], t0()).await
    }

    /// Every live key in the test's store, sorted (the session store's layout is the contract
    /// this reads: `crate::store` in the authz crate documents it).
    pub fn store_keys(&self) -> Vec<String> {
        let mut keys = match (&self.memory, &self.redis_keys) {
            (Some(memory), _) => memory.live_keys(),
            (None, Some(redis)) => redis.list(),
            (None, None) => unreachable!("every backend is inspectable"),
        };
        keys.sort();
        keys
    }

    /// Empties the test's part of the store, as a Redis restarted without persistence (or a
    /// restarted embedded server) would come back.
    pub async fn forget_store(&self) {
        match (&self.memory, &self.redis_keys) {
            (Some(memory), _) => {
                for key in memory.live_keys() {
                    memory.delete(&key).await.unwrap();
                }
            }
            (None, Some(redis)) => redis.delete_all(),
            (None, None) => unreachable!("every backend is inspectable"),
        }
        assert!(self.store_keys().is_empty());
    }

    /// [`Harness::store_keys`] without the store epoch (one per deployment) and the session and
    /// user grant indexes (one per session and per user, whatever the number of grants).
    pub fn grant_keys(&self) -> Vec<String> {
        let mut keys = self.store_keys();
        keys.retain(|key| {
            key != "store_epoch"
                && !key.starts_with("sid_grants:")
                && !key.starts_with("user_grants:")
        });
        keys
    }

    pub async fn introspect(&self, token: &str, now: DateTime<Utc>) -> Value {
        self.authz
            .introspect(
                &params(&[("token", token)]),
                self.confidential.credentials(),
                now,
            )
            .await
            .unwrap()
    }
}

async fn register(accounts: &Accounts, username: &str) -> User {
    accounts
        .register(
            Registration {
                username: username.to_owned(),
                email: format!("{username}@example.com"),
                password: PASSWORD.to_owned(),
            },
            &[],
            &RequestContext::default(),
            t0() - Duration::days(1),
        )
        .await
        .unwrap()
}

fn base64_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

fn create_client(db: &Database, secrets: &ClientSecretHasher, new: NewClient) -> TestClient {
    let (client, secret) = db.create_client(&new, secrets, t0()).unwrap();
    TestClient { client, secret }
}

pub fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The location of a `Redirect`, or a panic naming what came instead.
pub fn redirect_location(outcome: &AuthorizeOutcome) -> &str {
    match outcome {
        AuthorizeOutcome::Redirect { location } => location,
        other => panic!("expected a redirect, got {other:?}"),
    }
}

/// The decoded query of a `Redirect`, checking it goes to the registered URI.
pub fn redirect_query(outcome: &AuthorizeOutcome) -> HashMap<String, String> {
    let location = redirect_location(outcome);
    let url = url::Url::parse(location).unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT}?")),
        "redirected elsewhere: {location}"
    );
    url.query_pairs().into_owned().collect()
}

/// Asserts an error redirect with `error`, the request's state and our issuer (RFC 9207).
pub fn assert_redirect_error(outcome: &AuthorizeOutcome, error: &str) {
    let query = redirect_query(outcome);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some(error),
        "{query:?}"
    );
    assert_eq!(
        query.get("state").map(String::as_str),
        Some(STATE),
        "{query:?}"
    );
    assert_eq!(
        query.get("iss").map(String::as_str),
        Some(ISSUER),
        "{query:?}"
    );
    assert!(!query.contains_key("code"));
}

pub fn assert_error_page(outcome: &AuthorizeOutcome, error: &str) {
    match outcome {
        AuthorizeOutcome::ErrorPage { error: got, .. } => assert_eq!(got, error),
        other => panic!("expected an error page, got {other:?}"),
    }
}

pub fn str_field<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {value}"))
}

/// Decodes a compact JWS's payload (no verification).
pub fn jwt_payload(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

pub fn jwt_header(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// A `MemoryStore` whose operations first yield to the scheduler. The memory store never
/// suspends, so without this a task runs from one store call to the next uninterrupted and a
/// "race" between 50 tasks is really a queue; with it, every check-then-act gap in a flow is
/// open to the other tasks, as it is against Redis.
pub struct YieldingStore(Arc<MemoryStore>);

#[async_trait::async_trait]
impl KvStore for YieldingStore {
    async fn put(&self, key: &str, value: &[u8], ttl: StdDuration) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.put(key, value, ttl).await
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: StdDuration,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.put_if_absent(key, value, ttl).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        tokio::task::yield_now().await;
        self.0.take(key).await
    }

    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: StdDuration,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.replace_if(key, expected, new, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.delete(key).await
    }

    async fn exists_any(&self, keys: &[&str]) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.exists_any(keys).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get_many(keys).await
    }

    async fn increment(&self, key: &str, ttl: StdDuration) -> Result<u64, StoreError> {
        tokio::task::yield_now().await;
        self.0.increment(key, ttl).await
    }

    async fn set_add(
        &self,
        key: &str,
        member: &str,
        ttl: StdDuration,
    ) -> Result<usize, StoreError> {
        tokio::task::yield_now().await;
        self.0.set_add(key, member, ttl).await
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.set_remove(key, member).await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.set_members(key).await
    }

    async fn sorted_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: StdDuration,
    ) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.sorted_add(key, member, score, ttl).await
    }

    async fn sorted_add_trimmed(
        &self,
        key: &str,
        member: &str,
        score: i64,
        drop_scores_below: i64,
        ttl: StdDuration,
    ) -> Result<usize, StoreError> {
        tokio::task::yield_now().await;
        self.0
            .sorted_add_trimmed(key, member, score, drop_scores_below, ttl)
            .await
    }

    async fn sorted_members_from(
        &self,
        key: &str,
        min_score: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        tokio::task::yield_now().await;
        self.0.sorted_members_from(key, min_score).await
    }

    async fn sorted_claim_due(
        &self,
        key: &str,
        due_by: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0
            .sorted_claim_due(key, due_by, lease_until, limit)
            .await
    }

    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.sorted_remove(key, member).await
    }

    async fn sorted_score(&self, key: &str, member: &str) -> Result<Option<i64>, StoreError> {
        tokio::task::yield_now().await;
        self.0.sorted_score(key, member).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}

/// A test's key prefix in Redis; its keys are deleted on drop, also when the test fails.
struct RedisKeys {
    url: String,
    prefix: String,
}

impl RedisKeys {
    /// The test's keys, without the prefix.
    fn list(&self) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_connection().unwrap();
        conn.scan_match::<_, String>(format!("{}*", self.prefix))
            .unwrap()
            .filter_map(Result::ok)
            .map(|key| key[self.prefix.len()..].to_owned())
            .collect()
    }
}

impl RedisKeys {
    /// Deletes every key of the test, best effort.
    fn delete_all(&self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let Ok(keys) = conn
            .scan_match::<_, String>(format!("{}*", self.prefix))
            .map(|iter| iter.filter_map(Result::ok).collect::<Vec<_>>())
        else {
            return;
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = conn.del(keys);
        }
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        self.delete_all();
    }
}

/// For each named `async fn(Backend)`, a module with a `memory` test and a `redis` test (the
/// latter passes trivially without `TEST_REDIS_URL`). `concurrent:` runs on a multi-threaded
/// runtime so that races are real.
macro_rules! backend_tests {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test]
                async fn memory() {
                    super::$test(crate::support::Backend::Memory).await;
                }

                #[tokio::test]
                async fn redis() {
                    if let Some(backend) = crate::support::Backend::redis() {
                        super::$test(backend).await;
                    }
                }
            }
        )+
    };
    (concurrent: $($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn memory() {
                    super::$test(crate::support::Backend::Memory).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn interleaved_memory() {
                    super::$test(crate::support::Backend::InterleavedMemory).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn redis() {
                    if let Some(backend) = crate::support::Backend::redis() {
                        super::$test(backend).await;
                    }
                }
            }
        )+
    };
}
