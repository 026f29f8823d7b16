//! `gatehouse keys rewrap`: re-seals everything sealed directly under the master key (the
//! derivation root and every signing key) from an old master key to a new one, in one
//! transaction.
//!
//! Nothing derived changes (module `root`), so hashed client secrets, recovery codes, TOTP
//! secrets and outstanding codes and refresh tokens stay valid. Running instances keep working:
//! they hold the root and their signing keys unsealed in memory and reuse loaded keys by `kid`
//! on reload. Rows sealed under the old key after the rewrap (a rotation on an instance that
//! still runs with the old key) are what `keys.previous_master_key` is for, and running the
//! rewrap again re-seals them; a row already under the new key is left as it is.

use chrono::{DateTime, Utc};
use gatehouse_identity::secrets as seal;
use gatehouse_identity::{Database, MasterKey, NewAuditEvent, Resealed};

use super::error::KeyStoreError;
use super::root::{DERIVATION_ROOT, MasterKeys, unlock_derivation_root};

/// What one rewrap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    /// Values (derivation root, signing keys) re-sealed from the old key to the new one.
    pub resealed_material: usize,
    pub resealed_signing_keys: usize,
    /// Values that were already sealed under the new key (an earlier, interrupted or
    /// repeated rewrap).
    pub already_new: usize,
}

/// Re-seals the derivation root and every signing key sealed under `old` under `new`, and
/// appends the audit event `audit(material, signing_keys)` in the same transaction. Each value
/// must open under one of the two keys; otherwise nothing is written and the error names it.
/// A database that has no derivation root yet (written by an older version) gets one, sealed
/// under `old`, first. Blocking.
pub fn rewrap(
    db: &Database,
    old: &MasterKey,
    new: &MasterKey,
    now: DateTime<Utc>,
    audit: impl FnOnce(usize, usize) -> NewAuditEvent,
) -> Result<RewrapReport, KeyStoreError> {
    let mut sealed_root = db.find_key_material(DERIVATION_ROOT)?;
    if sealed_root.is_none() {
        // Both keys: a table half re-sealed by a crashed older tool still yields its root.
        unlock_derivation_root(
            db,
            &MasterKeys::new(old.duplicate(), Some(new.duplicate())),
            now,
        )?;
        sealed_root = db.find_key_material(DERIVATION_ROOT)?;
    }
    let mut resealed = Resealed::default();
    let mut already_new = 0;
    if let Some(was) = sealed_root {
        match reseal(old, new, &was).map_err(|reason| KeyStoreError::MasterKeyMismatch {
            what: "the derivation root".into(),
            reason,
        })? {
            Some(now_sealed) => {
                resealed
                    .material
                    .push((DERIVATION_ROOT.to_owned(), was, now_sealed));
            }
            None => already_new += 1,
        }
    }
    for row in db.list_signing_keys()? {
        match reseal(old, new, &row.sealed_private_key).map_err(|reason| {
            KeyStoreError::MasterKeyMismatch {
                what: format!("signing key {:?}", row.kid),
                reason,
            }
        })? {
            Some(now_sealed) => {
                resealed
                    .signing_keys
                    .push((row.kid, row.sealed_private_key, now_sealed));
            }
            None => already_new += 1,
        }
    }
    let (material, signing_keys) = db.reseal_master_key_material(&resealed, now, audit)?;
    Ok(RewrapReport {
        resealed_material: material,
        resealed_signing_keys: signing_keys,
        already_new,
    })
}

/// `Some(sealed under new)` for a value that opens under `old`, `None` for one already under
/// `new`, `Err` for one that opens under neither.
fn reseal(old: &MasterKey, new: &MasterKey, sealed: &str) -> Result<Option<String>, String> {
    match seal::open(old.bytes(), sealed) {
        Ok(plain) => seal::seal(new.bytes(), &plain)
            .map(Some)
            .map_err(|err| err.to_string()),
        Err(_) if seal::open(new.bytes(), sealed).is_ok() => Ok(None),
        Err(err) => Err(format!(
            "neither the old nor the new master key opens it: {err}"
        )),
    }
}
