//! Typed, layered configuration.
//!
//! Layers, later ones winning: the compiled-in `config/default.toml` → an optional `--config FILE`
//! → environment variables `GATEHOUSE__SECTION__KEY`. Every struct rejects unknown keys, so a typo
//! fails at start instead of being silently ignored. Secrets (`database.url`, `sessions.redis_url`,
//! `bootstrap.admin_password`) are `SecretString`s and never reach a log line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Upper bound of `sessions.max_per_user`: the account page reads all of a user's sessions.
const MAX_SESSIONS_PER_USER: usize = 10_000;

/// The documented defaults, compiled in so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub sessions: SessionSettings,
    pub tokens: TokenSettings,
    pub keys: KeySettings,
    pub registration: RegistrationSettings,
    pub password_reset: PasswordResetSettings,
    pub passwords: PasswordSettings,
    pub lockout: LockoutSettings,
    pub two_factor: TwoFactorSettings,
    pub rate_limits: RateLimitSettings,
    pub logging: LoggingSettings,
    pub bootstrap: BootstrapSettings,
    pub email: EmailSettings,
    pub audit: AuditSettings,
    pub admin: AdminSettings,
    pub metrics: crate::metrics::MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub issuer: Url,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    /// PEM certificate chain (leaf first) for native TLS; set together with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) matching `tls_cert_file`'s leaf certificate.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed (`crate::client_ip`).
    #[serde(default)]
    pub trusted_proxies: crate::client_ip::TrustedProxies,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    /// Postgres cancels a statement running longer than this; 0 = no limit.
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    #[serde(default)]
    pub redis_url: Option<SecretString>,
    pub key_prefix: String,
    pub browser_session_ttl_secs: u64,
    /// Live browser sessions per user; a login beyond it ends the user's oldest session.
    pub max_per_user: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SigningAlgorithm {
    ES256,
    RS256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub access_token_ttl_secs: u64,
    pub id_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub code_ttl_secs: u64,
    pub access_token_alg: SigningAlgorithm,
    pub user_cache_secs: u64,
    pub verified_cache_entries: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    #[serde(default)]
    pub master_key: Option<SecretString>,
    /// During a master-key rotation only: the old key, which unseals (never seals) what is
    /// still sealed under it (`gatehouse keys rewrap`, docs/operations.md).
    #[serde(default)]
    pub previous_master_key: Option<SecretString>,
    pub master_key_file: std::path::PathBuf,
    pub rotation_interval_days: u32,
    pub reload_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    pub enabled: bool,
    /// An unverified user may sign in only to verify their address; sign-up stops revealing
    /// which addresses have accounts.
    pub require_verified_email: bool,
    /// Lifetime of a verification link and its code.
    pub verification_ttl_secs: u64,
}

/// `[password_reset]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetSettings {
    /// Lifetime of a reset link.
    pub ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_concurrent: usize,
}

/// `[admin]`: the HTML admin console.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// The console opens only for accounts with a confirmed TOTP second factor (the bootstrap
    /// admin included): others are sent to enrol first.
    pub require_2fa: bool,
}

/// The audit log's retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Events older than this many days are deleted by a background job (in batches, one
    /// instance at a time); 0 keeps every event.
    pub retention_days: u32,
}

/// Brute-force protection (`docs/brute-force.md`): per-source delays in the session store, and
/// the account-wide ceiling (`max_failures` in `window_secs` lock the account for `lock_secs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSettings {
    pub max_failures: u32,
    pub window_secs: u64,
    pub lock_secs: u64,
    /// Failures of one login from one client address before that address must wait; 0: never.
    pub delay_after: u32,
    /// Failures from one client address, over all logins, before it waits for every login;
    /// 0: never.
    pub source_delay_after: u32,
    /// The first wait; each further failure doubles it, up to `max_delay_secs`.
    pub delay_secs: u64,
    pub max_delay_secs: u64,
}

impl LockoutSettings {
    /// The per-source half of the scheme, for the application layer. Failures from a source
    /// are remembered for `window_secs` after the last one (or after the end of its wait).
    pub fn source_policy(&self) -> gatehouse_app::SourcePolicy {
        let seconds =
            |secs: u64| chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
        gatehouse_app::SourcePolicy {
            delay_after: self.delay_after,
            source_delay_after: self.source_delay_after,
            first_delay: seconds(self.delay_secs),
            max_delay: seconds(self.max_delay_secs),
            memory: seconds(self.window_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorSettings {
    pub issuer: String,
    pub reauthentication_window_secs: u64,
    pub expiry_sweep_interval_secs: u64,
}

/// Per-client-IP request limits (RFC 6585 §4), counted in the session store so that every
/// instance shares them; see `gatehouse_sessions::rate_limit` for the algorithm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// `POST /login`.
    pub login_per_ip: RateLimitRule,
    /// `POST /login/second-factor`.
    pub second_factor_per_ip: RateLimitRule,
    /// `POST /api/v1/users` and `POST /register`.
    pub registration_per_ip: RateLimitRule,
    /// Reset requests and completions (page and API), per client IP.
    pub password_reset_per_ip: RateLimitRule,
    /// Reset requests per address, and completions per reset link's account.
    pub password_reset_per_account: RateLimitRule,
    /// Verification resends, code attempts and changes of address, per account.
    pub email_verification_per_account: RateLimitRule,
    /// Wrong user codes on `/device` (RFC 8628 §5.1), per client IP. Only failures count.
    pub device_code_per_ip: RateLimitRule,
    /// Wrong user codes on `/device`, per browser session.
    pub device_code_per_session: RateLimitRule,
    /// `POST /token`, per authenticated client (`crate::oidc::token`).
    pub token_per_client: RateLimitRule,
    /// `POST /token`, per client IP; a failed client authentication counts
    /// `token_failed_client_auth_weight` requests.
    pub token_per_ip: RateLimitRule,
    /// What one failed client authentication at `/token` counts toward `token_per_ip`.
    pub token_failed_client_auth_weight: u64,
    /// `POST /introspect`, per authenticated client (the resource server asking).
    pub introspect_per_client: RateLimitRule,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// Requests allowed per window.
    pub limit: u64,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSettings {
    pub admin_username: String,
    pub admin_email: String,
    #[serde(default)]
    pub admin_password: Option<SecretString>,
}

/// `[email]`: how mail leaves (see `gatehouse_mail`). The key names are a contract with the
/// configuration reference in `config/default.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub transport: gatehouse_mail::TransportKind,
    /// May carry credentials (`smtps://user:pass@host`): a secret.
    #[serde(default)]
    pub smtp_url: Option<SecretString>,
    pub from: String,
    pub file_dir: std::path::PathBuf,
}

impl EmailSettings {
    /// The checked mail settings; an error names the key.
    pub fn mail_config(&self) -> Result<gatehouse_mail::MailConfig, ConfigError> {
        gatehouse_mail::MailConfig::new(
            self.transport,
            self.smtp_url.as_ref(),
            &self.from,
            self.file_dir.clone(),
        )
        .map_err(|err| ConfigError::new(err.key, err.message))
    }
}

/// A configuration problem, reported as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Settings {
    /// Loads defaults → `file` → the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("GATEHOUSE__").split("__"))
    }

    /// Defaults only, for tests and tools that build settings in code.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(DEFAULT_TOML)))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::from_figment(figment.merge(env))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(|err| {
            let key = if err.path.is_empty() {
                match &err.kind {
                    figment::error::Kind::UnknownField(field, _) => field.clone(),
                    _ => "config".to_owned(),
                }
            } else {
                let mut path = err.path.join(".");
                if let figment::error::Kind::UnknownField(field, _) = &err.kind {
                    path = format!("{path}.{field}");
                }
                path
            };
            ConfigError::new(key, err.kind.to_string())
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that serde cannot express.
    fn validate(&self) -> Result<(), ConfigError> {
        self.email.mail_config()?;
        self.validate_tls()?;
        let issuer = &self.server.issuer;
        if !matches!(issuer.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "server.issuer",
                "must be an http or https URL",
            ));
        }
        // OIDC Discovery §3: the issuer has no query or fragment.
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::new(
                "server.issuer",
                "must not contain a query or fragment",
            ));
        }
        if self.database.url.expose_secret().trim().is_empty() {
            return Err(ConfigError::new("database.url", "must not be empty"));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if let Some(url) = &self.sessions.redis_url {
            // One server, a cluster or Sentinel (`gatehouse_sessions::redis_target`); the
            // message never repeats the URL, which may hold a password.
            if let Err(err) = gatehouse_sessions::RedisTarget::parse(url.expose_secret()) {
                return Err(ConfigError::new(
                    "sessions.redis_url",
                    format!(
                        "must be a redis://, rediss://, redis+cluster:// or redis+sentinel:// URL ({err})"
                    ),
                ));
            }
        }
        if self.sessions.browser_session_ttl_secs == 0 {
            return Err(ConfigError::new(
                "sessions.browser_session_ttl_secs",
                "must be at least 1",
            ));
        }
        if !(1..=MAX_SESSIONS_PER_USER).contains(&self.sessions.max_per_user) {
            return Err(ConfigError::new(
                "sessions.max_per_user",
                format!("must be between 1 and {MAX_SESSIONS_PER_USER}"),
            ));
        }
        let t = &self.tokens;
        for (key, value) in [
            ("tokens.access_token_ttl_secs", t.access_token_ttl_secs),
            ("tokens.id_token_ttl_secs", t.id_token_ttl_secs),
            ("tokens.refresh_token_ttl_secs", t.refresh_token_ttl_secs),
            ("tokens.code_ttl_secs", t.code_ttl_secs),
            ("keys.reload_interval_secs", self.keys.reload_interval_secs),
        ] {
            if value == 0 || value > 10 * 365 * 24 * 3600 {
                return Err(ConfigError::new(
                    key,
                    "must be between 1 and 315360000 seconds",
                ));
            }
        }
        let two_factor = &self.two_factor;
        for (key, value, max) in [
            (
                "two_factor.reauthentication_window_secs",
                two_factor.reauthentication_window_secs,
                24 * 3600,
            ),
            (
                "two_factor.expiry_sweep_interval_secs",
                two_factor.expiry_sweep_interval_secs,
                3600,
            ),
        ] {
            if value == 0 || value > max {
                return Err(ConfigError::new(
                    key,
                    format!("must be between 1 and {max} seconds"),
                ));
            }
        }
        let issuer_chars = two_factor.issuer.chars().count();
        if issuer_chars == 0
            || issuer_chars > 64
            || two_factor.issuer.contains(':')
            || two_factor.issuer.chars().any(char::is_control)
        {
            return Err(ConfigError::new(
                "two_factor.issuer",
                "must be 1 to 64 characters without a colon or control characters",
            ));
        }
        let limits = &self.rate_limits;
        for (key, rule) in [
            ("rate_limits.login_per_ip", limits.login_per_ip),
            (
                "rate_limits.second_factor_per_ip",
                limits.second_factor_per_ip,
            ),
            (
                "rate_limits.registration_per_ip",
                limits.registration_per_ip,
            ),
            (
                "rate_limits.password_reset_per_ip",
                limits.password_reset_per_ip,
            ),
            (
                "rate_limits.password_reset_per_account",
                limits.password_reset_per_account,
            ),
            (
                "rate_limits.email_verification_per_account",
                limits.email_verification_per_account,
            ),
            ("rate_limits.device_code_per_ip", limits.device_code_per_ip),
            (
                "rate_limits.device_code_per_session",
                limits.device_code_per_session,
            ),
            ("rate_limits.token_per_client", limits.token_per_client),
            ("rate_limits.token_per_ip", limits.token_per_ip),
            (
                "rate_limits.introspect_per_client",
                limits.introspect_per_client,
            ),
        ] {
            if rule.limit == 0 {
                return Err(ConfigError::new(
                    format!("{key}.limit"),
                    "must be at least 1 (turn limits off with rate_limits.enabled = false)",
                ));
            }
            if rule.window_secs == 0 || rule.window_secs > 24 * 3600 {
                return Err(ConfigError::new(
                    format!("{key}.window_secs"),
                    "must be between 1 and 86400 seconds",
                ));
            }
        }
        if !(1..=1000).contains(&limits.token_failed_client_auth_weight) {
            return Err(ConfigError::new(
                "rate_limits.token_failed_client_auth_weight",
                "must be between 1 and 1000",
            ));
        }
        for (key, secs) in [
            (
                "registration.verification_ttl_secs",
                self.registration.verification_ttl_secs,
            ),
            ("password_reset.ttl_secs", self.password_reset.ttl_secs),
        ] {
            if !(60..=30 * 24 * 3600).contains(&secs) {
                return Err(ConfigError::new(
                    key,
                    "must be between 60 seconds and 30 days",
                ));
            }
        }
        if self.keys.rotation_interval_days == 0 {
            return Err(ConfigError::new(
                "keys.rotation_interval_days",
                "must be at least 1",
            ));
        }
        if let Some(key) = &self.keys.master_key
            && gatehouse_tokens::keystore::MasterKey::from_base64(key.expose_secret()).is_err()
        {
            return Err(ConfigError::new(
                "keys.master_key",
                "must be the base64 encoding of exactly 32 bytes",
            ));
        }
        if let Some(key) = &self.keys.previous_master_key
            && gatehouse_tokens::keystore::MasterKey::from_base64(key.expose_secret()).is_err()
        {
            return Err(ConfigError::new(
                "keys.previous_master_key",
                "must be the base64 encoding of exactly 32 bytes",
            ));
        }
        if self.lockout.max_failures == 0 {
            return Err(ConfigError::new(
                "lockout.max_failures",
                "must be at least 1",
            ));
        }
        if !(1..=86_400).contains(&self.lockout.delay_secs) {
            return Err(ConfigError::new(
                "lockout.delay_secs",
                "must be between 1 and 86400",
            ));
        }
        if !(self.lockout.delay_secs..=86_400).contains(&self.lockout.max_delay_secs) {
            return Err(ConfigError::new(
                "lockout.max_delay_secs",
                "must be between lockout.delay_secs and 86400",
            ));
        }
        if self.passwords.memory_kib < 8 * self.passwords.parallelism.max(1) {
            return Err(ConfigError::new(
                "passwords.memory_kib",
                "must be at least 8 × parallelism",
            ));
        }
        if self.passwords.iterations == 0 || self.passwords.parallelism == 0 {
            return Err(ConfigError::new(
                "passwords",
                "iterations and parallelism must be at least 1",
            ));
        }
        Ok(())
    }

    /// `server.tls_cert_file` and `server.tls_key_file` come together (an empty value counts as
    /// unset, as an empty line in an `.env` file gives); their contents are read, and refused
    /// naming the key, when the server starts (`crate::tls`).
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let set = |path: &Option<PathBuf>| path.as_ref().is_some_and(|p| !p.as_os_str().is_empty());
        match (
            set(&self.server.tls_cert_file),
            set(&self.server.tls_key_file),
        ) {
            (true, false) => Err(ConfigError::new(
                "server.tls_key_file",
                "must be set when server.tls_cert_file is",
            )),
            (false, true) => Err(ConfigError::new(
                "server.tls_cert_file",
                "must be set when server.tls_key_file is",
            )),
            (true, true) if self.server.issuer.scheme() != "https" => Err(ConfigError::new(
                "server.issuer",
                "must be an https URL when server.tls_cert_file is set (the server speaks only TLS)",
            )),
            _ => Ok(()),
        }
    }

    /// The certificate chain and key files when native TLS is on.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        let cert = self.server.tls_cert_file.as_deref()?;
        let key = self.server.tls_key_file.as_deref()?;
        (!cert.as_os_str().is_empty() && !key.as_os_str().is_empty()).then_some((cert, key))
    }

    /// The issuer as clients see it: no trailing slash (OIDC Discovery §4.3 compares it exactly).
    pub fn issuer(&self) -> String {
        self.server.issuer.as_str().trim_end_matches('/').to_owned()
    }

    /// Cookies carry `Secure` when the public URL is https.
    pub fn cookies_secure(&self) -> bool {
        self.server.issuer.scheme() == "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn load_with_env(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        // Jail serialises tests that touch the process environment and restores it afterwards.
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            for (key, value) in vars {
                jail.set_env(key, value);
            }
            result = Some(Settings::load(None));
            Ok(())
        });
        result.unwrap()
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.issuer(), "http://127.0.0.1:8080");
        assert!(settings.sessions.redis_url.is_none());
        assert_eq!(
            settings.database.url.expose_secret(),
            "sqlite://data/gatehouse.db"
        );
        assert_eq!(settings.passwords.memory_kib, 19456);
        assert_eq!(settings.lockout.max_failures, 50);
        // The code's defaults are the documented ones.
        assert_eq!(
            settings.lockout.source_policy(),
            gatehouse_app::SourcePolicy::default()
        );
        let ceiling = gatehouse_identity::LockoutPolicy::default();
        assert_eq!(
            (
                ceiling.max_failures,
                ceiling.window.num_seconds(),
                ceiling.lock_for.num_seconds()
            ),
            (
                settings.lockout.max_failures,
                i64::try_from(settings.lockout.window_secs).unwrap(),
                i64::try_from(settings.lockout.lock_secs).unwrap()
            )
        );
        assert_eq!(
            settings.sessions.max_per_user,
            gatehouse_sessions::DEFAULT_MAX_PER_USER
        );
        assert!(!settings.cookies_secure());
        assert!(settings.rate_limits.enabled);
        assert_eq!(settings.rate_limits.login_per_ip.limit, 100);
    }

    #[test]
    fn lockout_keys_of_earlier_releases_still_work_and_bad_delays_are_refused() {
        let settings = load_with_env(&[
            ("GATEHOUSE__LOCKOUT__MAX_FAILURES", "5"),
            ("GATEHOUSE__LOCKOUT__WINDOW_SECS", "600"),
            ("GATEHOUSE__LOCKOUT__LOCK_SECS", "1800"),
        ])
        .unwrap();
        assert_eq!(
            (
                settings.lockout.max_failures,
                settings.lockout.window_secs,
                settings.lockout.lock_secs
            ),
            (5, 600, 1800)
        );
        assert_eq!(
            settings.lockout.source_policy().memory,
            chrono::Duration::seconds(600)
        );
        let err = load_with_env(&[("GATEHOUSE__LOCKOUT__DELAY_SECS", "0")]).unwrap_err();
        assert_eq!(err.key, "lockout.delay_secs");
        let err = load_with_env(&[
            ("GATEHOUSE__LOCKOUT__DELAY_SECS", "60"),
            ("GATEHOUSE__LOCKOUT__MAX_DELAY_SECS", "30"),
        ])
        .unwrap_err();
        assert_eq!(err.key, "lockout.max_delay_secs");
    }

    #[test]
    fn rate_limits_can_be_raised_through_the_environment() {
        let settings = load_with_env(&[
            ("GATEHOUSE__RATE_LIMITS__LOGIN_PER_IP__LIMIT", "1000000"),
            ("GATEHOUSE__RATE_LIMITS__ENABLED", "false"),
        ])
        .unwrap();
        assert_eq!(settings.rate_limits.login_per_ip.limit, 1_000_000);
        assert!(!settings.rate_limits.enabled);
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings = load_with_env(&[
            ("GATEHOUSE__SERVER__LISTEN", "0.0.0.0:9000"),
            ("GATEHOUSE__SERVER__ISSUER", "https://id.example.com/"),
            ("GATEHOUSE__SESSIONS__REDIS_URL", "redis://cache:6379"),
        ])
        .unwrap();
        assert_eq!(settings.server.listen.port(), 9000);
        assert_eq!(settings.issuer(), "https://id.example.com");
        assert!(settings.cookies_secure());
        assert_eq!(
            settings.sessions.redis_url.unwrap().expose_secret(),
            "redis://cache:6379"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = load_with_env(&[("GATEHOUSE__SERVER__LISTEN", "not-an-address")]).unwrap_err();
        assert_eq!(err.key, "server.listen");

        let err = load_with_env(&[("GATEHOUSE__SERVER__ISSUER", "ftp://x")]).unwrap_err();
        assert_eq!(err.key, "server.issuer");

        let err = load_with_env(&[("GATEHOUSE__SESSIONS__REDIS_URL", "localhost")]).unwrap_err();
        assert_eq!(err.key, "sessions.redis_url");

        let err = load_with_env(&[("GATEHOUSE__LOCKOUT__MAX_FAILURES", "many")]).unwrap_err();
        assert_eq!(err.key, "lockout.max_failures");

        let err =
            load_with_env(&[("GATEHOUSE__RATE_LIMITS__LOGIN_PER_IP__LIMIT", "0")]).unwrap_err();
        assert_eq!(err.key, "rate_limits.login_per_ip.limit");
        let err = load_with_env(&[(
            "GATEHOUSE__RATE_LIMITS__REGISTRATION_PER_IP__WINDOW_SECS",
            "0",
        )])
        .unwrap_err();
        assert_eq!(err.key, "rate_limits.registration_per_ip.window_secs");

        for bad in ["0", "10001", "-1"] {
            let err = load_with_env(&[("GATEHOUSE__SESSIONS__MAX_PER_USER", bad)]).unwrap_err();
            assert_eq!(err.key, "sessions.max_per_user", "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_come_comma_separated_from_the_environment() {
        let settings = Settings::defaults().unwrap();
        assert!(settings.server.trusted_proxies.is_empty());
        let settings = load_with_env(&[(
            "GATEHOUSE__SERVER__TRUSTED_PROXIES",
            "10.0.0.0/8,192.0.2.7, fd00::/8",
        )])
        .unwrap();
        let proxies = &settings.server.trusted_proxies;
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("192.0.2.7".parse().unwrap()));
        assert!(proxies.contains("fd00::1".parse().unwrap()));
        assert!(!proxies.contains("192.0.2.8".parse().unwrap()));
        for bad in ["10.0.0.0/40", "proxy.internal", "10.0.0.0/8;10.1.0.0/16"] {
            let err = load_with_env(&[("GATEHOUSE__SERVER__TRUSTED_PROXIES", bad)]).unwrap_err();
            assert_eq!(err.key, "server.trusted_proxies", "{bad}: {err}");
        }
        let err = load_with_env(&[(
            "GATEHOUSE__RATE_LIMITS__TOKEN_FAILED_CLIENT_AUTH_WEIGHT",
            "0",
        )])
        .unwrap_err();
        assert_eq!(err.key, "rate_limits.token_failed_client_auth_weight");
    }

    #[test]
    fn tls_files_come_in_pairs_on_an_https_issuer() {
        let https = ("GATEHOUSE__SERVER__ISSUER", "https://id.example.com");
        let cert = ("GATEHOUSE__SERVER__TLS_CERT_FILE", "/etc/tls/fullchain.pem");
        let key = ("GATEHOUSE__SERVER__TLS_KEY_FILE", "/etc/tls/privkey.pem");
        assert!(Settings::defaults().unwrap().tls_files().is_none());

        let settings = load_with_env(&[https, cert, key]).unwrap();
        let (cert_file, key_file) = settings.tls_files().unwrap();
        assert_eq!(cert_file, Path::new("/etc/tls/fullchain.pem"));
        assert_eq!(key_file, Path::new("/etc/tls/privkey.pem"));

        assert_eq!(
            load_with_env(&[https, cert]).unwrap_err().key,
            "server.tls_key_file"
        );
        assert_eq!(
            load_with_env(&[https, key]).unwrap_err().key,
            "server.tls_cert_file"
        );
        assert_eq!(
            load_with_env(&[https, cert, ("GATEHOUSE__SERVER__TLS_KEY_FILE", "")])
                .unwrap_err()
                .key,
            "server.tls_key_file"
        );
        // The server speaks only TLS then, so an http issuer would be wrong for every client.
        assert_eq!(
            load_with_env(&[cert, key]).unwrap_err().key,
            "server.issuer"
        );
        // Empty values (an `.env` line with nothing after `=`) leave TLS off.
        let settings = load_with_env(&[
            ("GATEHOUSE__SERVER__TLS_CERT_FILE", ""),
            ("GATEHOUSE__SERVER__TLS_KEY_FILE", ""),
        ])
        .unwrap();
        assert!(settings.tls_files().is_none());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = load_with_env(&[("GATEHOUSE__SERVER__LISTN", "127.0.0.1:1")]).unwrap_err();
        assert!(err.key.contains("listn"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = load_with_env(&[(
            "GATEHOUSE__DATABASE__URL",
            "postgres://u:hunter2hunter2@db/x",
        )])
        .unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn email_settings_are_checked_at_start_naming_the_key() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(
            settings.email.transport,
            gatehouse_mail::TransportKind::File
        );
        assert_eq!(settings.email.file_dir, Path::new("data/mail"));
        assert!(settings.email.smtp_url.is_none());

        let settings = load_with_env(&[
            ("GATEHOUSE__EMAIL__TRANSPORT", "smtp"),
            (
                "GATEHOUSE__EMAIL__SMTP_URL",
                "smtps://mailer:hunter2hunter2@smtp.example.com",
            ),
        ])
        .unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));

        let err = load_with_env(&[
            ("GATEHOUSE__EMAIL__TRANSPORT", "smtp"),
            (
                "GATEHOUSE__EMAIL__SMTP_URL",
                "smtp://mailer:hunter2@smtp.example.com",
            ),
        ])
        .unwrap_err();
        assert_eq!(err.key, "email.smtp_url");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = load_with_env(&[("GATEHOUSE__EMAIL__TRANSPORT", "smtp")]).unwrap_err();
        assert_eq!(err.key, "email.smtp_url");
        let err = load_with_env(&[("GATEHOUSE__EMAIL__TRANSPORT", "pigeon")]).unwrap_err();
        assert_eq!(err.key, "email.transport");
        let err = load_with_env(&[("GATEHOUSE__EMAIL__FROM", "nobody")]).unwrap_err();
        assert_eq!(err.key, "email.from");
    }
}
