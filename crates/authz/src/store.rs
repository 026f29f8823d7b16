//! The key layout of protocol state in the [`KvStore`], and typed JSON access to it.
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `code:<grant>` | [`crate::codes::AuthorizationCode`] | `code_ttl` |
//! | `rtf:<grant>` | the grant's refresh-token family: its grant and live generation ([`crate::refresh_tokens`]) | `refresh_token_ttl`, fresh per rotation |
//! | `grant_revoked:<grant>` | marker: the grant's access tokens are revoked (code reuse, refresh-token reuse or revocation) | access token TTL + 1 min |
//! | `deny:<jti>` | marker: a revoked access token | its remaining lifetime |
//! | `device:<SHA-256 of a device code>` | a device authorization request and its state ([`crate::device`]) | until its expiry + 10 min |
//! | `device_user:<SHA-256 of a user code>` | the request's key hash, while the user can still decide | until its expiry |
//! | `store_epoch` | the store's epoch, named by every access token ([`crate::epoch`]) | ten years |
//! | `bcl:queue` | sorted set of pending logout-token deliveries: member a job id, score the Unix millisecond it is due (or its claim's lease ends) ([`crate::backchannel`]) | a day, refreshed per job |
//! | `bcl:job:<id>` | one delivery: client, URI, `sub`, `sid`, tries so far ([`crate::backchannel`]) | a day |
//!
//! `<grant>` is a [`GrantId`]: the code and the refresh tokens are that id under a MAC
//! ([`crate::grant_ids`]), so no key or value is a secret that could be replayed. Logout jobs
//! hold no token either: each try mints its own.

use std::time::Duration as StdDuration;

use gatehouse_sessions::{KvStore, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::grant_ids::GrantId;

pub(crate) fn code_key(grant: GrantId) -> String {
    format!("code:{grant}")
}

pub(crate) fn family_key(grant: GrantId) -> String {
    format!("rtf:{grant}")
}

pub(crate) fn grant_revoked_key(grant: GrantId) -> String {
    format!("grant_revoked:{grant}")
}

pub(crate) fn deny_key(jti: &str) -> String {
    format!("deny:{jti}")
}

pub(crate) const LOGOUT_QUEUE_KEY: &str = "bcl:queue";

pub(crate) fn logout_job_key(job_id: &str) -> String {
    format!("bcl:job:{job_id}")
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

pub(crate) async fn put_json_if_absent<T: Serialize>(
    store: &dyn KvStore,
    key: &str,
    value: &T,
    ttl: StdDuration,
) -> Result<bool, StoreError> {
    store.put_if_absent(key, &encode(value)?, ttl).await
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
