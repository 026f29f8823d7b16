//! Assembles the application: backends from settings, shared state, routes, and the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use gatehouse_app::{AccountMailSettings, AppSettings, Gatehouse};
use gatehouse_authz::{Authz, AuthzSettings, BackchannelLogoutSettings};
use gatehouse_identity::{
    Accounts, Argon2Params, ClientSecretHasher, ConnectOptions, Database, LockoutPolicy,
    PasswordHasher, TotpSettings,
};
use gatehouse_mail::AccountMailer;
use gatehouse_sessions::rate_limit::BatchedLimiter;
use gatehouse_sessions::{
    BrowserSessions, KvStore, PendingLogins, RateDecision, RateLimiter, RateRule, open_store,
};
use gatehouse_tokens::Algorithm;
use gatehouse_tokens::keystore::{
    KeyManager, KeyPolicy, KeyStoreError, MasterKey, MasterKeys, unlock_derivation_root,
};
use secrecy::ExposeSecret;

use crate::backchannel::{self, BackchannelWorker};
use crate::clock::Clock;
use crate::config::{RateLimitRule, RateLimitSettings, Settings, SigningAlgorithm};
use crate::{api, bootstrap, health, oidc, pages, telemetry};

/// Everything a handler needs, shared by all workers.
pub struct AppState {
    pub settings: Settings,
    pub issuer: String,
    pub accounts: Accounts,
    pub store: Arc<dyn KvStore>,
    pub sessions: BrowserSessions,
    pub clock: Arc<dyn Clock>,
    pub authz: Authz,
    /// The application layer: sign-in and the one end-session path.
    pub app: Gatehouse,
    pub keys: Arc<KeyManager>,
    pub secrets: ClientSecretHasher,
    /// The discovery document, serialized once.
    pub discovery: web::Bytes,
    pub rate_limits: RateLimits,
    /// Password reset requests, carried out off the request path (`crate::reset_requests`).
    pub reset_requests: crate::reset_requests::ResetRequests,
}

/// The requests `[rate_limits]` limits; the subject is the client IP unless the name says
/// otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimited {
    Login,
    SecondFactor,
    Registration,
    PasswordReset,
    /// Subject: the address a reset is requested for, or the account a link belongs to.
    PasswordResetAccount,
    /// Subject: the account's id.
    EmailVerificationAccount,
    /// Wrong user codes on `/device`; only failures count ([`RateLimits::exhausted`] before a
    /// code is looked at, [`RateLimits::check`] after it proved wrong).
    DeviceCode,
    /// The same, per browser session. Subject: the session's handle.
    DeviceCodeSession,
}

/// `[rate_limits]` over the shared session store (RFC 6585 §4).
pub struct RateLimits {
    /// `None` when `rate_limits.enabled` is false.
    limiter: Option<RateLimiter>,
    login: RateRule,
    second_factor: RateRule,
    registration: RateRule,
    password_reset: RateRule,
    password_reset_account: RateRule,
    email_verification_account: RateRule,
    device_code: RateRule,
    device_code_session: RateRule,
    /// The token and introspection endpoints' limits; `None` when `rate_limits.enabled` is false.
    hot: Option<HotLimits>,
}

/// The limits of the hot protocol endpoints, counted locally and shared in batches
/// ([`BatchedLimiter`]): no store round trip per request.
struct HotLimits {
    token_client: BatchedLimiter,
    token_ip: BatchedLimiter,
    introspect_client: BatchedLimiter,
    failed_client_auth_weight: u64,
}

/// The limits of [`RateLimits::take`] and [`RateLimits::blocked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotLimited {
    /// `rate_limits.token_per_client`; subject: the authenticated client's id.
    TokenClient,
    /// `rate_limits.token_per_ip`; subject: `crate::client_ip::rate_limit_subject`.
    TokenIp,
    /// `rate_limits.introspect_per_client`; subject: the authenticated client's id.
    IntrospectClient,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings, store: Arc<dyn KvStore>) -> Self {
        let rule = |name, configured: RateLimitRule| RateRule {
            name,
            limit: configured.limit,
            window: Duration::from_secs(configured.window_secs),
        };
        Self {
            limiter: settings.enabled.then(|| RateLimiter::new(store.clone())),
            login: rule("login_per_ip", settings.login_per_ip),
            second_factor: rule("second_factor_per_ip", settings.second_factor_per_ip),
            registration: rule("registration_per_ip", settings.registration_per_ip),
            password_reset: rule("password_reset_per_ip", settings.password_reset_per_ip),
            password_reset_account: rule(
                "password_reset_per_account",
                settings.password_reset_per_account,
            ),
            email_verification_account: rule(
                "email_verification_per_account",
                settings.email_verification_per_account,
            ),
            device_code: rule("device_code_per_ip", settings.device_code_per_ip),
            device_code_session: rule("device_code_per_session", settings.device_code_per_session),
            hot: settings.enabled.then(|| HotLimits {
                token_client: BatchedLimiter::new(
                    store.clone(),
                    rule("token_per_client", settings.token_per_client),
                ),
                token_ip: BatchedLimiter::new(
                    store.clone(),
                    rule("token_per_ip", settings.token_per_ip),
                ),
                introspect_client: BatchedLimiter::new(
                    store.clone(),
                    rule("introspect_per_client", settings.introspect_per_client),
                ),
                failed_client_auth_weight: settings.token_failed_client_auth_weight,
            }),
        }
    }

    fn hot(&self, request: HotLimited) -> Option<&BatchedLimiter> {
        let hot = self.hot.as_ref()?;
        Some(match request {
            HotLimited::TokenClient => &hot.token_client,
            HotLimited::TokenIp => &hot.token_ip,
            HotLimited::IntrospectClient => &hot.introspect_client,
        })
    }

    /// What a failed client authentication at `/token` counts toward `token_per_ip`.
    pub fn failed_client_auth_weight(&self) -> u64 {
        self.hot
            .as_ref()
            .map_or(1, |hot| hot.failed_client_auth_weight)
    }

    /// `Some(retry_after_secs)` if `subject` is over `request`'s limit in this instance's view,
    /// counting nothing and without a store round trip: asked before the work of a request
    /// that is counted once it has proved whose it is.
    pub fn blocked(
        &self,
        request: HotLimited,
        subject: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<u64> {
        let limiter = self.hot(request)?;
        match limiter.blocked(subject, now)? {
            RateDecision::Limited {
                retry_after_secs, ..
            } => {
                tracing::debug!(rule = limiter.rule().name, "rate limited");
                Some(retry_after_secs)
            }
            RateDecision::Allowed => None,
        }
    }

    /// Counts `cost` requests of `subject` under `request` and returns `Some(retry_after_secs)`
    /// if they are over the limit (and were not counted). Logged and failing open like
    /// [`RateLimits::check`].
    pub async fn take(
        &self,
        request: HotLimited,
        subject: &str,
        cost: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<u64> {
        let limiter = self.hot(request)?;
        let rule = limiter.rule().name;
        match limiter.take(subject, cost, now).await {
            Ok(RateDecision::Allowed) => None,
            Ok(RateDecision::Limited {
                retry_after_secs,
                first_in_window,
            }) => {
                if first_in_window {
                    tracing::info!(
                        rule,
                        subject,
                        retry_after_secs,
                        "rate limit reached; refusing until the window ends"
                    );
                } else {
                    tracing::debug!(rule, subject, "rate limited");
                }
                Some(retry_after_secs)
            }
            Err(err) => {
                tracing::warn!(error = %err, rule, "rate limit not counted");
                None
            }
        }
    }

    fn rule(&self, request: RateLimited) -> &RateRule {
        match request {
            RateLimited::Login => &self.login,
            RateLimited::SecondFactor => &self.second_factor,
            RateLimited::Registration => &self.registration,
            RateLimited::PasswordReset => &self.password_reset,
            RateLimited::PasswordResetAccount => &self.password_reset_account,
            RateLimited::EmailVerificationAccount => &self.email_verification_account,
            RateLimited::DeviceCode => &self.device_code,
            RateLimited::DeviceCodeSession => &self.device_code_session,
        }
    }

    /// For limits that count failures only: `Some(retry_after_secs)` if `subject` has used up
    /// `request`'s limit in this window, counting nothing. A store failure lets the request
    /// through, as in [`RateLimits::check`].
    pub async fn exhausted(
        &self,
        request: RateLimited,
        subject: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<u64> {
        let limiter = self.limiter.as_ref()?;
        let rule = self.rule(request);
        match limiter
            .exhausted(rule, subject.unwrap_or("unknown"), now)
            .await
        {
            Ok(RateDecision::Allowed) => None,
            Ok(RateDecision::Limited {
                retry_after_secs, ..
            }) => {
                tracing::debug!(rule = rule.name, "rate limited");
                Some(retry_after_secs)
            }
            Err(err) => {
                tracing::warn!(error = %err, rule = rule.name, "rate limit not checked");
                None
            }
        }
    }

    /// Counts one request of `subject` (the peer address from `crate::browser::request_context`,
    /// or what [`RateLimited`] names) and returns `Some(retry_after_secs)` if it is over its
    /// limit.
    ///
    /// Refusals are logged, not audited: an audit row per refused request would hand whoever
    /// is being refused a way to fill the audit table, and cost a database write per request,
    /// the very load being shed. The first refusal of a window is logged at info, the rest at
    /// debug, so a flood costs one log line per client and window. A store failure lets the
    /// request through (logged as a warning): the limits guard against abuse, and refusing
    /// every sign-in while the store is down would not make anything safer.
    pub async fn check(
        &self,
        request: RateLimited,
        subject: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<u64> {
        let limiter = self.limiter.as_ref()?;
        let rule = self.rule(request);
        let subject = subject.unwrap_or("unknown");
        match limiter.check(rule, subject, now).await {
            Ok(RateDecision::Allowed) => None,
            Ok(RateDecision::Limited {
                retry_after_secs,
                first_in_window,
            }) => {
                if first_in_window {
                    tracing::info!(
                        rule = rule.name,
                        subject,
                        retry_after_secs,
                        "rate limit reached; refusing until the window ends"
                    );
                } else {
                    tracing::debug!(rule = rule.name, subject, "rate limited");
                }
                Some(retry_after_secs)
            }
            Err(err) => {
                tracing::warn!(error = %err, rule = rule.name, "rate limit not checked");
                None
            }
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// The `/metrics` listener, unless `metrics.listen` is off.
    metrics: Option<crate::metrics::MetricsEndpoint>,
    /// The served certificate when `server.tls_cert_file` is set.
    tls: Option<Arc<crate::tls::ServerCertificates>>,
}

/// Number of argon2 computations at once: the configured value, or one per core.
fn hashing_slots(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// Connects the database, applies pending migrations and builds the account service. Blocking.
pub fn open_accounts(settings: &Settings) -> anyhow::Result<Accounts> {
    let db = Database::connect_with(
        settings.database.url.expose_secret(),
        ConnectOptions {
            max_connections: settings.database.max_connections,
            statement_timeout: Some(Duration::from_millis(
                settings.database.statement_timeout_ms,
            )),
        },
    )
    .context("database.url: cannot connect")?;
    let applied = db.run_migrations().context("applying migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied database migrations");
    }
    let p = &settings.passwords;
    let hasher = PasswordHasher::new(
        Argon2Params {
            memory_kib: p.memory_kib,
            iterations: p.iterations,
            parallelism: p.parallelism,
        },
        hashing_slots(p.max_concurrent),
    )
    .context("passwords: invalid argon2 parameters")?;
    let l = &settings.lockout;
    let lockout = LockoutPolicy {
        max_failures: l.max_failures,
        window: chrono::Duration::seconds(i64::try_from(l.window_secs).unwrap_or(i64::MAX)),
        lock_for: chrono::Duration::seconds(i64::try_from(l.lock_secs).unwrap_or(i64::MAX)),
    };
    Ok(Accounts::new(db, hasher, lockout))
}

/// The master key ([`load_master_key`]) and, during a rotation, `keys.previous_master_key`.
pub fn load_master_keys(settings: &Settings) -> anyhow::Result<MasterKeys> {
    let previous = match &settings.keys.previous_master_key {
        Some(key) => Some(
            MasterKey::from_base64(key.expose_secret())
                .map_err(|err| anyhow::anyhow!("keys.previous_master_key: {err}"))?,
        ),
        None => None,
    };
    Ok(MasterKeys::new(load_master_key(settings)?, previous))
}

/// Where this instance's master key came from, for messages.
pub fn master_key_source(settings: &Settings) -> String {
    if settings.keys.master_key.is_some() {
        "keys.master_key (GATEHOUSE__KEYS__MASTER_KEY)".to_owned()
    } else {
        format!(
            "keys.master_key_file ({}), as keys.master_key (GATEHOUSE__KEYS__MASTER_KEY) is unset",
            settings.keys.master_key_file.display()
        )
    }
}

/// A key-store failure as the reason the process stops. A master key that does not open what
/// the database holds names the setting it came from and how to fix it.
pub fn master_key_error(settings: &Settings, err: KeyStoreError) -> anyhow::Error {
    match err {
        KeyStoreError::MasterKeyMismatch { .. } => anyhow::anyhow!(
            "refusing to start: {err}. This instance's master key comes from {}. Every instance \
             of a deployment needs the master key the database was sealed with: set \
             GATEHOUSE__KEYS__MASTER_KEY to the key the other instances use. To change the \
             master key, run `gatehouse keys rewrap` and set keys.previous_master_key \
             (GATEHOUSE__KEYS__PREVIOUS_MASTER_KEY) to the old key while instances roll over \
             (docs/operations.md)",
            master_key_source(settings)
        ),
        other => anyhow::Error::new(other).context("signing keys"),
    }
}

/// The derivation root (`gatehouse_tokens::keystore`), for tools that hash client secrets
/// without a key manager. Blocking.
pub fn derivation_root(
    db: &Database,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<MasterKey> {
    unlock_derivation_root(db, &load_master_keys(settings)?, now)
        .map_err(|err| master_key_error(settings, err))
}

/// The master key from `keys.master_key`, else from (or into) `keys.master_key_file`.
pub fn load_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.keys.master_key {
        return MasterKey::from_base64(key.expose_secret())
            .map_err(|err| anyhow::anyhow!("keys.master_key: {err}"));
    }
    let path = &settings.keys.master_key_file;
    let (key, created) = MasterKey::load_or_create(path)
        .with_context(|| format!("keys.master_key_file: {}", path.display()))?;
    if created {
        tracing::warn!(
            path = %path.display(),
            "generated a new master key file; every instance of a deployment needs the same key \
             (set GATEHOUSE__KEYS__MASTER_KEY in production) and losing it invalidates all \
             signing keys and client secrets"
        );
    }
    Ok(key)
}

fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

pub fn key_policy(settings: &Settings) -> KeyPolicy {
    let t = &settings.tokens;
    // Another instance may sign with a just-retired key until its next reload, so the retired
    // key stays published for the longest token lifetime plus one reload interval.
    let longest = t
        .access_token_ttl_secs
        .max(t.id_token_ttl_secs)
        .max(t.code_ttl_secs)
        .saturating_add(settings.keys.reload_interval_secs);
    KeyPolicy {
        rotation_interval: chrono::Duration::days(i64::from(settings.keys.rotation_interval_days)),
        max_token_lifetime: seconds(longest),
    }
}

/// The client-secret hashing key is derived from the derivation root
/// ([`KeyManager::derivation_root`]), so every instance agrees on it, across master keys.
pub fn client_secret_hasher(master: &MasterKey) -> ClientSecretHasher {
    ClientSecretHasher::new(master.derive("client-secret-hmac-sha256"))
}

/// Re-reads keys (another instance may have rotated) and rotates the ones that are due.
fn spawn_key_maintenance(keys: Arc<KeyManager>, clock: Arc<dyn Clock>, every: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let keys = keys.clone();
            let now = clock.now();
            let result = tokio::task::spawn_blocking(move || {
                keys.reload(now)?;
                keys.rotate_due(now)
            })
            .await;
            match result {
                Ok(Ok(rotated)) if !rotated.is_empty() => {
                    tracing::info!(?rotated, "rotated signing keys");
                }
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "signing key maintenance failed"),
                Err(err) => tracing::error!(error = %err, "signing key maintenance panicked"),
            }
        }
    });
}

/// How often each instance re-reads the session store's epoch, so that it notices a store that
/// lost its state (`gatehouse_authz` module `epoch`) within about this long.
const STORE_EPOCH_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps this instance's copy of the store epoch current (one GET a second).
fn spawn_store_epoch_keeper(authz: Authz, every: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(err) = authz.sync_store_epoch().await {
                // An outage is already reported by /readyz and by the requests that hit it.
                tracing::debug!(error = %err, "cannot read the session store epoch");
            }
        }
    });
}

/// Sessions that expire are session ends too (Back-Channel Logout 1.0 §2.7; Keycloak misses
/// this, keycloak#25171): every instance sweeps, and each expired session is handled once.
fn spawn_expiry_sweep(app: Gatehouse, clock: Arc<dyn Clock>, every: Duration) {
    /// Per round; a backlog drains in the rounds that follow at once.
    const BATCH: usize = 500;
    crate::poller::spawn_rounds("session expiry sweep", every, BATCH, move || {
        let (app, now) = (app.clone(), clock.now());
        async move { app.sweep_expired_sessions(now, BATCH).await }
    });
}

/// Connects the database (running migrations) and the session store, and builds the services.
pub async fn build_state(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let settings_for_db = settings.clone();
    let accounts = tokio::task::spawn_blocking(move || open_accounts(&settings_for_db)).await??;

    let redis_url = settings
        .sessions
        .redis_url
        .as_ref()
        .map(|url| url.expose_secret().to_owned());
    let store = open_store(redis_url.as_deref(), &settings.sessions.key_prefix)
        .context("sessions: cannot open the session store")?;
    let store = crate::metrics::instrument_store(store);
    if let Err(err) = store.ping().await {
        // A stateless instance may come up before its Redis; /readyz reports it meanwhile.
        tracing::warn!(error = %err, "session store not reachable yet");
    }
    let sessions = BrowserSessions::new(
        store.clone(),
        Duration::from_secs(settings.sessions.browser_session_ttl_secs),
    )
    .with_max_per_user(settings.sessions.max_per_user);

    bootstrap::ensure_admin(&accounts, &settings.bootstrap, clock.now()).await?;

    let master = load_master_keys(&settings)?;
    let db = accounts.database().clone();
    let policy = key_policy(&settings);
    let now = clock.now();
    // First the master key check (the derivation root), then the signing keys.
    let keys = Arc::new(
        tokio::task::spawn_blocking(move || KeyManager::open_with(db, &master, policy, now))
            .await?
            .map_err(|err| master_key_error(&settings, err))?,
    );
    let totp = TotpSettings::new(keys.derivation_root(), &settings.two_factor.issuer)
        .context("two_factor.issuer")?;
    let secrets = client_secret_hasher(keys.derivation_root());
    crate::metrics::spawn_gauges(accounts.database().clone(), keys.clone(), clock.clone());
    spawn_key_maintenance(
        keys.clone(),
        clock.clone(),
        Duration::from_secs(settings.keys.reload_interval_secs),
    );

    let issuer = settings.issuer();
    let t = &settings.tokens;
    let authz = Authz::new(
        AuthzSettings {
            issuer: issuer.clone(),
            access_token_ttl: seconds(t.access_token_ttl_secs),
            id_token_ttl: seconds(t.id_token_ttl_secs),
            refresh_token_ttl: seconds(t.refresh_token_ttl_secs),
            code_ttl: seconds(t.code_ttl_secs),
            access_token_alg: match t.access_token_alg {
                SigningAlgorithm::ES256 => Algorithm::ES256,
                SigningAlgorithm::RS256 => Algorithm::RS256,
            },
            user_cache_ttl: Duration::from_secs(t.user_cache_secs),
            verified_token_cache_entries: t.verified_cache_entries,
            backchannel_logout: BackchannelLogoutSettings::default(),
        },
        accounts.database().clone(),
        store.clone(),
        keys.clone(),
        secrets.clone(),
    );
    spawn_store_epoch_keeper(authz.clone(), STORE_EPOCH_INTERVAL);
    // Logout tokens queued by any instance are delivered by whichever worker claims them first.
    BackchannelWorker::new(authz.clone(), clock.clone())
        .context("back-channel logout: cannot build the HTTP client")?
        .spawn(backchannel::POLL_INTERVAL);
    let discovery = web::Bytes::from(oidc::discovery::build_document(&issuer)?);
    let rate_limits = RateLimits::new(&settings.rate_limits, store.clone());

    if !settings.admin.require_2fa {
        tracing::warn!(
            "admin.require_2fa is off: the admin console opens for administrators without a \
             second factor"
        );
    }
    let app = Gatehouse::new(
        accounts.clone(),
        sessions.clone(),
        PendingLogins::new(store.clone()),
        authz.clone(),
        AppSettings {
            totp,
            reauthentication_window: seconds(settings.two_factor.reauthentication_window_secs),
            mail: AccountMailSettings {
                mailer: AccountMailer::new(&issuer, settings.email.mail_config()?.from),
                verification_ttl: seconds(settings.registration.verification_ttl_secs),
                reset_ttl: seconds(settings.password_reset.ttl_secs),
                require_verified_email: settings.registration.require_verified_email,
            },
            admin_require_second_factor: settings.admin.require_2fa,
        },
        gatehouse_app::BruteForceGuard::new(store.clone(), settings.lockout.source_policy()),
    );
    spawn_expiry_sweep(
        app.clone(),
        clock.clone(),
        Duration::from_secs(settings.two_factor.expiry_sweep_interval_secs),
    );
    crate::session_end_requests::spawn(
        app.clone(),
        clock.clone(),
        crate::session_end_requests::POLL_INTERVAL,
    );
    // Mail queued by any instance is sent by whichever worker claims it first.
    crate::mail::MailWorker::new(
        accounts.database().clone(),
        Arc::new(crate::mail::mailer(&settings)?),
        clock.clone(),
    )
    .spawn(crate::mail::POLL_INTERVAL);

    // Audit events past `audit.retention_days`, deleted by one instance at a time.
    crate::api::admin::audit::spawn_retention(
        app.clone(),
        store.clone(),
        clock.clone(),
        &settings.audit,
    );
    let reset_requests = crate::reset_requests::ResetRequests::spawn(app.clone(), clock.clone());

    Ok(AppState {
        reset_requests,
        issuer,
        settings,
        accounts,
        store,
        sessions,
        clock,
        authz,
        app,
        keys,
        secrets,
        discovery,
        rate_limits,
    })
}

/// Routes and middleware; shared by the server and by in-process handler tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::routes(cfg);
    oidc::routes(cfg);
    api::routes(cfg);
    pages::routes(cfg);
}

impl Application {
    /// Binds the configured address and builds the server (not yet running).
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.server.listen)
            .with_context(|| format!("server.listen: cannot bind {}", settings.server.listen))?;
        Self::build_with_listener(settings, listener, clock).await
    }

    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let workers = settings.server.workers;
        let shutdown = settings.server.shutdown_timeout_secs;
        // Before anything else: a bad certificate or key stops the start, naming the key.
        let tls = match settings.tls_files() {
            Some((cert, key)) => {
                let (cert, key) = (cert.to_owned(), key.to_owned());
                Some(
                    tokio::task::spawn_blocking(move || {
                        crate::tls::ServerCertificates::load(&cert, &key)
                    })
                    .await??,
                )
            }
            None => None,
        };
        let metrics = crate::metrics::start(&settings.metrics)?;
        let state = web::Data::new(build_state(settings, clock).await?);
        let shared = state.clone();
        let security_headers = crate::security_headers::SecurityHeaders::for_issuer(&state.issuer);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .wrap(security_headers)
                .wrap(from_fn(crate::unavailable::retry_after))
                .wrap(from_fn(telemetry::request_id))
                .configure(configure)
                .default_service(web::to(pages::not_found))
        })
        // SIGTERM/SIGINT stop accepting and let in-flight requests finish for this long.
        .shutdown_timeout(shutdown);
        server = match &tls {
            Some(certificates) => {
                crate::tls::reload_on_sighup(certificates).context("cannot listen for SIGHUP")?;
                server.listen_rustls_0_23(listener, certificates.server_config()?)?
            }
            None => server.listen(listener)?,
        };
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            metrics,
            state,
            tls,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Runs until SIGTERM/SIGINT (graceful) or the server handle stops it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(metrics) = &self.metrics {
            metrics.stop().await;
        }
        result
    }

    /// Where `/metrics` is served (`metrics.listen`, its port resolved), if it is.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(|metrics| metrics.address)
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The certificate being served over native TLS, to reload it (as SIGHUP does).
    pub fn tls(&self) -> Option<Arc<crate::tls::ServerCertificates>> {
        self.tls.clone()
    }
}
