//! The key layout of protocol state in the [`KvStore`], and typed JSON access to it.
//!
//! Secrets (codes, refresh tokens) are never stored as themselves: keys hold the SHA-256 of
//! the secret, so a dump of the store cannot be replayed (RFC 9700 §4.14.2 asks refresh tokens
//! to be protected like credentials; RFC 6749 §10.5 the same of codes).
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `code:<sha256hex>` | [`crate::codes::AuthorizationCode`] | `code_ttl` |
//! | `code_used:<sha256hex>` | what the code's exchange issued (reuse revocation, RFC 6749 §4.1.2) | ≥ access token TTL |
//! | `rtf:<family>` | a refresh-token family: its grant and live generation ([`crate::refresh_tokens`]) | `refresh_token_ttl`, fresh per rotation |
//! | `rtf_revoked:<family>` | marker: the family's access tokens are revoked | access token TTL + 1 min |
//! | `deny:<jti>` | marker: a revoked access token | its remaining lifetime |

use std::time::Duration as StdDuration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_sessions::{KvStore, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use crate::refresh_tokens::FamilyId;

pub(crate) fn code_key(hash: &str) -> String {
    format!("code:{hash}")
}

pub(crate) fn code_used_key(hash: &str) -> String {
    format!("code_used:{hash}")
}

pub(crate) fn family_key(family: FamilyId) -> String {
    format!("rtf:{family}")
}

pub(crate) fn family_revoked_key(family: FamilyId) -> String {
    format!("rtf_revoked:{family}")
}

pub(crate) fn deny_key(jti: &str) -> String {
    format!("deny:{jti}")
}

/// 256 bits from the OS-seeded CSPRNG, base64url without padding (43 characters): the entropy
/// RFC 6749 §10.10 asks of codes and tokens, in a form safe in URLs and forms.
pub(crate) fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub(crate) fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A chrono duration as a store TTL; zero or negative becomes the shortest TTL the store keeps.
pub(crate) fn ttl(duration: chrono::Duration) -> StdDuration {
    duration
        .to_std()
        .unwrap_or(StdDuration::ZERO)
        .max(StdDuration::from_secs(1))
}

/// Seconds from `now` until `exp`, as a TTL (at least one second).
pub(crate) fn ttl_until(exp: i64, now: i64) -> StdDuration {
    StdDuration::from_secs(u64::try_from(exp.saturating_sub(now)).unwrap_or(0).max(1))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("value under {key:?} is not what we wrote: {e}")))
}

pub(crate) async fn put_json<T: Serialize>(
    store: &dyn KvStore,
    key: &str,
    value: &T,
    ttl: StdDuration,
) -> Result<(), StoreError> {
    store.put(key, &encode(value)?, ttl).await
}

pub(crate) async fn put_json_if_absent<T: Serialize>(
    store: &dyn KvStore,
    key: &str,
    value: &T,
    ttl: StdDuration,
) -> Result<bool, StoreError> {
    store.put_if_absent(key, &encode(value)?, ttl).await
}

pub(crate) async fn get_json<T: DeserializeOwned>(
    store: &dyn KvStore,
    key: &str,
) -> Result<Option<T>, StoreError> {
    store
        .get(key)
        .await?
        .map(|bytes| decode(key, &bytes))
        .transpose()
}

pub(crate) async fn take_json<T: DeserializeOwned>(
    store: &dyn KvStore,
    key: &str,
) -> Result<Option<T>, StoreError> {
    store
        .take(key)
        .await?
        .map(|bytes| decode(key, &bytes))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_base64url() {
        let secret = random_secret();
        assert_eq!(secret.len(), 43);
        assert!(
            secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(secret, random_secret());
        assert_eq!(sha256_hex("abc").len(), 64);
    }

    #[test]
    fn ttls_are_never_zero() {
        assert_eq!(
            ttl(chrono::Duration::seconds(-5)),
            StdDuration::from_secs(1)
        );
        assert_eq!(
            ttl(chrono::Duration::minutes(1)),
            StdDuration::from_secs(60)
        );
        assert_eq!(ttl_until(10, 20), StdDuration::from_secs(1));
        assert_eq!(ttl_until(80, 20), StdDuration::from_secs(60));
    }
}
