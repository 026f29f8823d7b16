//! Revoked access tokens (RFC 7009 §2.1; RFC 9068 tokens are self-contained, so revoking one
//! means remembering it until it would have expired anyway): by `jti`, one token; or by the
//! refresh-token family in its `fam` claim, every token of a revoked grant
//! ([`crate::refresh_tokens::revoke`]).

use gatehouse_sessions::{KvStore, StoreError};

use crate::refresh_tokens::FamilyId;
use crate::store::{deny_key, family_revoked_key, ttl_until};

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

/// Whether the access token with this `jti` and `fam` claim was revoked, alone or with its
/// family: one store round trip. A `fam` that is not a family id names no revocation.
pub(crate) async fn is_revoked(
    store: &dyn KvStore,
    jti: &str,
    family: Option<&str>,
) -> Result<bool, StoreError> {
    let jti_key = deny_key(jti);
    match family.and_then(|family| family.parse::<FamilyId>().ok()) {
        Some(family) => {
            let family_key = family_revoked_key(family);
            store.exists_any(&[&jti_key, &family_key]).await
        }
        None => store.exists_any(&[&jti_key]).await,
    }
}
