//! Protocol settings: who we are (`iss`) and how long each artefact lives.
//!
//! Defaults follow RFC 9700: short-lived access tokens (§2.2.2 / §4.14 rely on rotation, not
//! long access-token lifetimes), codes valid for a minute (RFC 6749 §4.1.2 recommends at most
//! ten), and a sliding refresh-token window.

use chrono::Duration;
use gatehouse_tokens::Algorithm;

/// The default of [`AuthzSettings::verified_token_cache_entries`]: the working set of a busy
/// deployment (about 1 KB each), a few MB at most.
pub const DEFAULT_VERIFIED_TOKEN_CACHE_ENTRIES: u64 = 16_384;

#[derive(Debug, Clone)]
pub struct AuthzSettings {
    /// The issuer identifier (OIDC Core §2, RFC 9207 §2): an `https` URL without query or
    /// fragment, compared exactly.
    pub issuer: String,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    /// Each rotated refresh token gets a fresh window of this length (sliding expiry).
    pub refresh_token_ttl: Duration,
    pub code_ttl: Duration,
    /// The algorithm access tokens are signed with; the active key of that algorithm signs.
    pub access_token_alg: Algorithm,
    /// How long a user row read for the "still active?" check is reused (refresh, userinfo,
    /// introspection, code exchange). Zero reads the database every time.
    pub user_cache_ttl: std::time::Duration,
    /// How many verified access tokens are kept so that the same token's signature is checked
    /// once (`verified_tokens`); zero checks it every time.
    pub verified_token_cache_entries: u64,
    /// Delivery of logout tokens (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout: BackchannelLogoutSettings,
}

/// When logout-token deliveries are tried again, and how long a worker holds a claimed one.
#[derive(Debug, Clone)]
pub struct BackchannelLogoutSettings {
    /// The wait after each failed try that may be retried (network error, 5xx, 429). One try
    /// more than there are delays is made in all: the default 30 s, 1 min, 4 min, 10 min makes
    /// five tries over about a quarter of an hour.
    pub retry_delays: Vec<Duration>,
    /// How long a claimed delivery is hidden from other workers. Must comfortably exceed one
    /// delivery (signing plus the HTTP timeout): a worker that holds a job past its lease can
    /// see it sent twice.
    pub lease: Duration,
    /// `exp - iat` of logout tokens; Back-Channel Logout 1.0 §2.4 recommends at most two
    /// minutes.
    pub token_ttl: Duration,
}

impl BackchannelLogoutSettings {
    /// Tries made in all before a notification is given up: one more than there are delays.
    pub fn max_tries(&self) -> u32 {
        u32::try_from(self.retry_delays.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }
}

impl Default for BackchannelLogoutSettings {
    fn default() -> Self {
        Self {
            retry_delays: vec![
                Duration::seconds(30),
                Duration::minutes(1),
                Duration::minutes(4),
                Duration::minutes(10),
            ],
            lease: Duration::seconds(60),
            token_ttl: Duration::seconds(120),
        }
    }
}

impl AuthzSettings {
    /// The defaults: 10-minute access and ID tokens, 30-day sliding refresh tokens, 60-second
    /// codes, ES256 access tokens, [`BackchannelLogoutSettings::default`].
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            access_token_ttl: Duration::minutes(10),
            id_token_ttl: Duration::minutes(10),
            refresh_token_ttl: Duration::days(30),
            code_ttl: Duration::seconds(60),
            access_token_alg: Algorithm::ES256,
            user_cache_ttl: std::time::Duration::ZERO,
            verified_token_cache_entries: DEFAULT_VERIFIED_TOKEN_CACHE_ENTRIES,
            backchannel_logout: BackchannelLogoutSettings::default(),
        }
    }
}
