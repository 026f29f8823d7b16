//! Refresh tokens and their families (RFC 6749 §6, §10.4; RFC 9700 §4.14.2).
//!
//! A refresh token is 256 random bits, opaque to the client; the store keeps its record under
//! the SHA-256 of the token. Every token descends from one code exchange: its *family*.
//! Rotation replaces the token on each use; presenting a used token again means two parties
//! hold it, so RFC 9700 §4.14.2 has the whole family revoked ("the authorization server cannot
//! determine which party submitted the invalid refresh token ... will revoke the active
//! refresh token"). A revoked family is a marker, not a deletion: the records stay until their
//! TTL ends but can no longer be used or introspected as active.
//!
//! RFC 7009 §2.1 adds that revoking a refresh token SHOULD invalidate the access tokens of the
//! same grant, so each family also keeps the `jti`s of its access tokens for the access-token
//! lifetime, and revocation denylists them.

use std::time::Duration;

use gatehouse_sessions::{KvStore, StoreError};

use crate::denylist;
use crate::store::{
    family_access_tokens_key, family_revoked_key, get_json, put_json_if_absent, random_secret,
    refresh_key, refresh_used_key, sha256_hex, take_json,
};

/// What a refresh token stands for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RefreshRecord {
    pub family: String,
    pub client_id: String,
    pub user_id: uuid::Uuid,
    /// The scope of the original grant (RFC 6749 §6: a rotated token keeps it exactly).
    pub scopes: Vec<String>,
    pub auth_time: i64,
    pub sid: String,
    pub amr: Vec<String>,
    pub iat: i64,
    /// Unix seconds; checked against the caller's clock as well as enforced by the store TTL.
    pub exp: i64,
}

const ISSUE_ATTEMPTS: usize = 3;

/// Stores `record` under a new token and returns the token.
pub(crate) async fn issue(
    store: &dyn KvStore,
    record: &RefreshRecord,
    ttl: Duration,
) -> Result<Option<String>, StoreError> {
    for _ in 0..ISSUE_ATTEMPTS {
        let token = random_secret();
        if put_json_if_absent(store, &refresh_key(&sha256_hex(&token)), record, ttl).await? {
            return Ok(Some(token));
        }
    }
    Ok(None)
}

pub(crate) async fn find(
    store: &dyn KvStore,
    token_hash: &str,
) -> Result<Option<RefreshRecord>, StoreError> {
    get_json(store, &refresh_key(token_hash)).await
}

pub(crate) async fn take(
    store: &dyn KvStore,
    token_hash: &str,
) -> Result<Option<RefreshRecord>, StoreError> {
    take_json(store, &refresh_key(token_hash)).await
}

/// Marks the token as used, recording its family; false if it already was. This is the one
/// atomic step that makes rotation race-free: of N concurrent uses exactly one claims it.
pub(crate) async fn claim(
    store: &dyn KvStore,
    token_hash: &str,
    family: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    store
        .put_if_absent(&refresh_used_key(token_hash), family.as_bytes(), ttl)
        .await
}

/// The family of a token that was already used, if it was.
pub(crate) async fn used_family(
    store: &dyn KvStore,
    token_hash: &str,
) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(&refresh_used_key(token_hash))
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok()))
}

pub(crate) async fn is_family_revoked(
    store: &dyn KvStore,
    family: &str,
) -> Result<bool, StoreError> {
    Ok(store.get(&family_revoked_key(family)).await?.is_some())
}

/// A family's access tokens are tracked in one set per window of expiry times, and each set
/// expires with the last token it can hold. One set renewed by every refresh would grow without
/// bound for a client that refreshes more often than the access-token lifetime.
const TRACKING_WINDOW_SECS: i64 = 300;

fn tracking_window(exp: i64) -> i64 {
    exp.div_euclid(TRACKING_WINDOW_SECS)
}

/// Kills every refresh token of the family and denylists its live access tokens (those expiring
/// up to `latest_exp`, the latest expiry an access token issued now could have).
/// `ttl` must outlast every token of the family: the refresh-token lifetime.
pub(crate) async fn revoke_family(
    store: &dyn KvStore,
    family: &str,
    ttl: Duration,
    now: i64,
    latest_exp: i64,
) -> Result<(), StoreError> {
    store.put(&family_revoked_key(family), b"1", ttl).await?;
    for window in tracking_window(now)..=tracking_window(latest_exp) {
        for member in store
            .set_members(&family_access_tokens_key(family, window))
            .await?
        {
            let Some((jti, exp)) = member.split_once(' ') else {
                continue;
            };
            if let Ok(exp) = exp.parse::<i64>() {
                denylist::deny(store, jti, exp, now).await?;
            }
        }
    }
    Ok(())
}

/// Remembers an access token issued in the family, for [`revoke_family`], in the set of its
/// expiry window; the set lives until every token it can hold has expired.
pub(crate) async fn track_access_token(
    store: &dyn KvStore,
    family: &str,
    jti: &str,
    exp: i64,
    now: i64,
) -> Result<(), StoreError> {
    let window = tracking_window(exp);
    let window_end = (window + 1).saturating_mul(TRACKING_WINDOW_SECS);
    let lifetime = window_end.saturating_sub(now).saturating_add(60).max(1);
    store
        .set_add(
            &family_access_tokens_key(family, window),
            &format!("{jti} {exp}"),
            Duration::from_secs(u64::try_from(lifetime).unwrap_or(u64::MAX)),
        )
        .await
}

#[cfg(test)]
mod tests {
    use gatehouse_sessions::MemoryStore;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn revocation_finds_tokens_in_every_live_window_and_sets_expire() {
        let store = MemoryStore::new();
        let now = 3_334 * TRACKING_WINDOW_SECS - 10; // ten seconds before a window ends
        let ttl = Duration::from_secs(600);
        // Expiring in this window, the next, and two windows on.
        for (jti, exp) in [("a", now + 5), ("b", now + 200), ("c", now + 600)] {
            track_access_token(&store, "fam", jti, exp, now)
                .await
                .unwrap();
        }
        revoke_family(&store, "fam", ttl, now, now + 600)
            .await
            .unwrap();
        for jti in ["a", "b", "c"] {
            assert!(denylist::is_denied(&store, jti).await.unwrap(), "{jti}");
        }
        // A set lives only until the end of its window (plus a minute).
        let first = family_access_tokens_key("fam", tracking_window(now + 5));
        assert!(!store.set_members(&first).await.unwrap().is_empty());
        tokio::time::advance(std::time::Duration::from_secs(10 + 61)).await;
        assert!(store.set_members(&first).await.unwrap().is_empty());
    }
}
