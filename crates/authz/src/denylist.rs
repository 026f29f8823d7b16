//! Revoked access tokens by `jti` (RFC 7009 §2.1; RFC 9068 tokens are self-contained, so
//! revoking one means remembering its `jti` until it would have expired anyway).

use gatehouse_sessions::{KvStore, StoreError};

use crate::store::{deny_key, ttl_until};

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

pub(crate) async fn is_denied(store: &dyn KvStore, jti: &str) -> Result<bool, StoreError> {
    Ok(store.get(&deny_key(jti)).await?.is_some())
}
