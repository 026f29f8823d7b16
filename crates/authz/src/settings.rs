//! Protocol settings: who we are (`iss`) and how long each artefact lives.
//!
//! Defaults follow RFC 9700: short-lived access tokens (§2.2.2 / §4.14 rely on rotation, not
//! long access-token lifetimes), codes valid for a minute (RFC 6749 §4.1.2 recommends at most
//! ten), and a sliding refresh-token window.

use chrono::Duration;
use gatehouse_tokens::Algorithm;

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
}

impl AuthzSettings {
    /// The defaults: 10-minute access and ID tokens, 30-day sliding refresh tokens, 60-second
    /// codes, ES256 access tokens.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            access_token_ttl: Duration::minutes(10),
            id_token_ttl: Duration::minutes(10),
            refresh_token_ttl: Duration::days(30),
            code_ttl: Duration::seconds(60),
            access_token_alg: Algorithm::ES256,
            user_cache_ttl: std::time::Duration::ZERO,
        }
    }
}
