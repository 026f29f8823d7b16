//! Revoked access tokens (RFC 7009 §2.1; RFC 9068 tokens are self-contained, so revoking one
//! means remembering it until it would have expired anyway): by `jti`, one token; or by the
//! grant in its `grant_id` claim, every token of a revoked grant
//! ([`crate::refresh_tokens::revoke`]). Both are markers in the session store, which can lose
//! them; [`is_revoked`] therefore also checks the token's `store_epoch` ([`crate::epoch`]).

use gatehouse_sessions::{KvStore, StoreError};
use gatehouse_tokens::AccessTokenClaims;

use crate::epoch::{EPOCH_KEY, StoreEpoch};
use crate::grant_ids::GrantId;
use crate::store::{deny_key, grant_revoked_key, ttl_until};

/// Denylists `jti` until `exp` (Unix seconds). A token already expired needs no entry.
pub(crate) async fn deny(
    store: &dyn KvStore,
    jti: &str,
    exp: i64,
    now: i64,
) -> Result<(), StoreError> {
    if exp <= now {
        return Ok(());
    }
    store.put(&deny_key(jti), b"1", ttl_until(exp, now)).await
}

/// Whether the access token with these claims must be refused as revoked, in one store round
/// trip: its `jti` or its grant is marked, or it was issued under another store epoch than the
/// store's current one (the store lost its markers since, or the token names none). Fails
/// closed: a store without an epoch is given a new one and the token is refused.
pub(crate) async fn is_revoked(
    store: &dyn KvStore,
    epoch: &StoreEpoch,
    claims: &AccessTokenClaims,
) -> Result<bool, StoreError> {
    let jti_key = deny_key(&claims.jti);
    let grant_key = claims
        .grant_id
        .as_deref()
        .and_then(|grant| grant.parse::<GrantId>().ok())
        .map(grant_revoked_key);
    let mut keys = vec![EPOCH_KEY, jti_key.as_str()];
    keys.extend(grant_key.as_deref());
    let values = store.get_many(&keys).await?;
    let (store_epoch, markers) = values.split_first().unwrap_or((&None, &[]));
    let current = match store_epoch {
        Some(value) => epoch.observe(value)?,
        None => {
            epoch.sync(store).await?;
            return Ok(true);
        }
    };
    if claims.store_epoch.as_deref() != Some(current.as_ref()) {
        return Ok(true);
    }
    Ok(markers.iter().any(Option::is_some))
}
