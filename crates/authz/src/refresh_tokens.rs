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

/// Kills every refresh token of the family and denylists its live access tokens.
/// `ttl` must outlast every token of the family: the refresh-token lifetime.
pub(crate) async fn revoke_family(
    store: &dyn KvStore,
    family: &str,
    ttl: Duration,
    now: i64,
) -> Result<(), StoreError> {
    store.put(&family_revoked_key(family), b"1", ttl).await?;
    for member in store.set_members(&family_access_tokens_key(family)).await? {
        let Some((jti, exp)) = member.split_once(' ') else {
            continue;
        };
        if let Ok(exp) = exp.parse::<i64>() {
            denylist::deny(store, jti, exp, now).await?;
        }
    }
    Ok(())
}

/// Remembers an access token issued in the family, for [`revoke_family`]. The set lives as
/// long as the newest access token in it.
pub(crate) async fn track_access_token(
    store: &dyn KvStore,
    family: &str,
    jti: &str,
    exp: i64,
    ttl: Duration,
) -> Result<(), StoreError> {
    store
        .set_add(
            &family_access_tokens_key(family),
            &format!("{jti} {exp}"),
            ttl,
        )
        .await
}
