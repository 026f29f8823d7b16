//! Revoked access tokens (RFC 7009 §2.1; RFC 9068 tokens are self-contained, so revoking one
//! means remembering it until it would have expired anyway): by `jti`, one token; or by the
//! grant in its `grant_id` claim, every token of a revoked grant
//! ([`crate::refresh_tokens::revoke`]).

use gatehouse_sessions::{KvStore, StoreError};

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

/// Whether the access token with this `jti` and `grant_id` claim was revoked, alone or with
/// its grant: one store round trip. A `grant_id` that is not a grant id names no revocation.
pub(crate) async fn is_revoked(
    store: &dyn KvStore,
    jti: &str,
    grant: Option<&str>,
) -> Result<bool, StoreError> {
    let jti_key = deny_key(jti);
    match grant.and_then(|grant| grant.parse::<GrantId>().ok()) {
        Some(grant) => {
            let grant_key = grant_revoked_key(grant);
            store.exists_any(&[&jti_key, &grant_key]).await
        }
        None => store.exists_any(&[&jti_key]).await,
    }
}
