//! Rows of the signing-key table ↔ loaded keys: sealing a new key into a row, unsealing a row
//! and checking it against the key it holds, and the status → [`KeyState`] mapping.

use chrono::{DateTime, Utc};
use gatehouse_identity::secrets as seal;
use gatehouse_identity::{KeyStatus, MasterKey, StoredSigningKey};

use super::error::KeyStoreError;
use super::root::MasterKeys;
use crate::algorithm::Algorithm;
use crate::key_set::KeyState;
use crate::signing_key::SigningKey;

/// `None` for a retired row without a publication deadline: we cannot know which tokens it
/// signed are still live, so it is not trusted for verification at all.
pub(super) fn key_state(row: &StoredSigningKey) -> Option<KeyState> {
    match row.status {
        KeyStatus::Next => Some(KeyState::Next),
        KeyStatus::Active => Some(KeyState::Active),
        KeyStatus::Retired => row.published_until.map(|until| KeyState::Retired {
            until: until.timestamp(),
        }),
    }
}

/// The row's algorithm, or an error naming the row: an `alg` we do not sign with means the
/// table was written by something else.
pub(super) fn algorithm(row: &StoredSigningKey) -> Result<Algorithm, KeyStoreError> {
    Algorithm::from_name(&row.alg).ok_or_else(|| KeyStoreError::StoredKey {
        kid: row.kid.clone(),
        reason: format!("unknown algorithm {:?}", row.alg),
    })
}

/// Unseals and loads the row's private key (under the current master key, else the previous
/// one). The `kid` is the key's RFC 7638 thumbprint, so recomputing it proves the sealed blob
/// belongs to this row and was not swapped in from another.
pub(super) fn unseal(
    row: &StoredSigningKey,
    master: &MasterKeys,
) -> Result<SigningKey, KeyStoreError> {
    let unusable = |reason: String| KeyStoreError::StoredKey {
        kid: row.kid.clone(),
        reason,
    };
    let alg = algorithm(row)?;
    let pem = master.open(&row.sealed_private_key).map_err(|err| {
        unusable(format!(
            "cannot unseal it ({err}); is this the master key it was sealed with?"
        ))
    })?;
    let key = SigningKey::from_private_pem(alg, &pem).map_err(|err| unusable(err.to_string()))?;
    if key.kid() != row.kid {
        return Err(unusable("its private key does not match its kid".into()));
    }
    Ok(key)
}

/// A freshly generated key as a row in `status`, sealed under the master key.
pub(super) fn new_row(
    key: &SigningKey,
    status: KeyStatus,
    master: &MasterKey,
    now: DateTime<Utc>,
) -> Result<StoredSigningKey, KeyStoreError> {
    Ok(StoredSigningKey {
        kid: key.kid().to_owned(),
        alg: key.algorithm().name().to_owned(),
        status,
        sealed_private_key: seal::seal(master.bytes(), &key.private_pem()?)?,
        created_at: now,
        activated_at: (status == KeyStatus::Active).then_some(now),
        published_until: None,
    })
}
