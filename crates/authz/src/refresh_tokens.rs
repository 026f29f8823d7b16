//! Refresh tokens and their families (RFC 6749 §6, §10.4; RFC 9700 §4.14.2).
//!
//! Every refresh token descends from one code exchange: its *family*, keyed by the grant id
//! ([`crate::grant_ids`]). Rotation replaces the token on each use; presenting a used token
//! again means two parties hold it, so RFC 9700 §4.14.2 has the whole family revoked ("the
//! authorization server cannot determine which party submitted the invalid refresh token ...
//! will revoke the active refresh token").
//!
//! A family is ONE store record, whatever the number of rotations: it holds the grant and the
//! *generation* of the one live token. A token names its grant and generation under a MAC, so
//! an authentic token of an older generation is a replay, recognised without a tombstone per
//! rotation. Rotation is a compare-and-swap of the record to the next generation, so of N
//! concurrent uses exactly one wins.
//!
//! Revoking a grant deletes its family record, which kills its refresh token, and writes a
//! marker that outlives the grant's access tokens: they carry the grant in their `grant_id`
//! claim, so introspection and userinfo refuse them (RFC 7009 §2.1: revoking a refresh token
//! SHOULD invalidate the access tokens of the same grant; RFC 6749 §4.1.2: a reused code SHOULD
//! revoke what it issued).

use std::time::Duration;

use gatehouse_sessions::{KvStore, StoreError};

use crate::grant_ids::GrantId;
use crate::store::{family_key, grant_revoked_key, ttl_until};

/// A family: the grant of one code exchange, and which of its tokens is live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FamilyRecord {
    pub client_id: String,
    pub user_id: uuid::Uuid,
    /// The scope of the original grant (RFC 6749 §6: a rotated token keeps it exactly).
    pub scopes: Vec<String>,
    pub auth_time: i64,
    pub sid: String,
    pub amr: Vec<String>,
    /// The generation of the one live token; each rotation adds one.
    pub generation: u64,
    /// When the live token was issued and when it expires (Unix seconds). The expiry is
    /// checked against the caller's clock as well as enforced by the store TTL.
    pub iat: i64,
    pub exp: i64,
    /// When the grant was issued (its code exchange), and until when its entries in the session
    /// and user grant indexes live (`session_grants`). A rotation that would let the family
    /// outlive its entries moves them on. `None` in families written before the indexes
    /// expired entry by entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_until: Option<i64>,
    /// RFC 8707: the resources the request named; the access tokens' `aud`. Empty: the
    /// issuer, as without resource indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The organisation the sign-in happened in (the `organization` authorization parameter or
    /// the client's organisation); its claims go into tokens when the scope has
    /// `organization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<uuid::Uuid>,
}

/// A family record as read, with the exact bytes a rotation must swap from.
pub(crate) struct StoredFamily {
    pub record: FamilyRecord,
    raw: Vec<u8>,
}

fn encode(record: &FamilyRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// What [`start`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StartOutcome {
    Live,
    /// The id is taken (a broken random source).
    Taken,
    /// The grant was revoked before the family was written: a replay of the code raced the
    /// first exchange (RFC 6749 §4.1.2). Nothing is left in the store.
    Revoked,
}

/// Writes a new family at generation 0.
///
/// A revocation may come first (a replay of the code revokes its grant while the first
/// exchange is still on its way here). [`revoke`] writes its marker and then deletes the record; this writes
/// the record and then looks for the marker. Whichever order the four steps run in, either the
/// revocation deletes the record or this sees the marker and deletes it itself.
pub(crate) async fn start(
    store: &dyn KvStore,
    grant: GrantId,
    record: &FamilyRecord,
    ttl: Duration,
) -> Result<StartOutcome, StoreError> {
    let key = family_key(grant);
    if !store.put_if_absent(&key, &encode(record)?, ttl).await? {
        return Ok(StartOutcome::Taken);
    }
    if store.exists_any(&[&grant_revoked_key(grant)]).await? {
        store.delete(&key).await?;
        return Ok(StartOutcome::Revoked);
    }
    Ok(StartOutcome::Live)
}

/// The live family, if it has not expired or been revoked.
pub(crate) async fn find(
    store: &dyn KvStore,
    grant: GrantId,
) -> Result<Option<StoredFamily>, StoreError> {
    let key = family_key(grant);
    let Some(raw) = store.get(&key).await? else {
        return Ok(None);
    };
    let record = serde_json::from_slice(&raw).map_err(|e| {
        StoreError::Corrupt(format!("value under {key:?} is not what we wrote: {e}"))
    })?;
    Ok(Some(StoredFamily { record, raw }))
}

/// Moves the family from the state that was read to `next`; false if anything changed it in
/// between (another rotation, a revocation). This is the one atomic step that makes rotation
/// race-free.
pub(crate) async fn rotate(
    store: &dyn KvStore,
    grant: GrantId,
    read: &StoredFamily,
    next: &FamilyRecord,
    ttl: Duration,
) -> Result<bool, StoreError> {
    store
        .replace_if(&family_key(grant), &read.raw, &encode(next)?, ttl)
        .await
}

/// Revokes a grant: kills its family's refresh token (if it has one) and, until `latest_exp`
/// (the latest expiry one of its access tokens can have), its access tokens. The marker is written first, so that a failure
/// half-way never leaves a live family whose access tokens still pass.
pub(crate) async fn revoke(
    store: &dyn KvStore,
    grant: GrantId,
    now: i64,
    latest_exp: i64,
) -> Result<(), StoreError> {
    // A rotation that won just before the revocation may still be minting its access token:
    // a minute of margin covers its `exp` too.
    let until = latest_exp.saturating_add(60);
    store
        .put(&grant_revoked_key(grant), b"1", ttl_until(until, now))
        .await?;
    store.delete(&family_key(grant)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use gatehouse_sessions::MemoryStore;

    use super::*;

    fn record() -> FamilyRecord {
        FamilyRecord {
            client_id: "c".into(),
            user_id: uuid::Uuid::nil(),
            scopes: vec!["openid".into()],
            auth_time: 1,
            sid: "s".into(),
            amr: vec!["pwd".into()],
            generation: 0,
            iat: 1,
            exp: 100,
            granted_at: Some(1),
            indexed_until: Some(200),
            resources: Vec::new(),
            org_id: None,
        }
    }

    #[tokio::test]
    async fn a_family_revoked_before_it_starts_never_comes_alive() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        let family = GrantId::random();
        revoke(&store, family, 0, 600).await.unwrap();
        assert_eq!(
            start(&store, family, &record(), ttl).await.unwrap(),
            StartOutcome::Revoked
        );
        assert!(find(&store, family).await.unwrap().is_none());

        let other = GrantId::random();
        assert_eq!(
            start(&store, other, &record(), ttl).await.unwrap(),
            StartOutcome::Live
        );
        assert_eq!(
            start(&store, other, &record(), ttl).await.unwrap(),
            StartOutcome::Taken
        );
        // Revoked after it started: the record goes.
        revoke(&store, other, 0, 600).await.unwrap();
        assert!(find(&store, other).await.unwrap().is_none());
    }
}
