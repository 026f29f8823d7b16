//! The master keys an instance holds, and the derivation root they unlock.
//!
//! Every derived server secret (TOTP sealing, recovery-code and client-secret hashing, the
//! code and refresh-token MACs) comes from the *derivation root*, not from the master key
//! itself. The root is the master key of the deployment's first start, stored in the database
//! sealed under the current master key (row `derivation_root` of `key_material`). This is the
//! envelope scheme of NIST SP 800-57 Part 1 §6.2 (a key-encryption key over stored keys): the
//! master key can change (`gatehouse keys rewrap` re-seals the root and the signing keys) while
//! every hashed client secret, recovery code and outstanding refresh token stays valid.
//!
//! Opening the root is also the start-up check that this instance has the master key the
//! database was sealed under: an instance with another key refuses to start
//! ([`KeyStoreError::MasterKeyMismatch`]) before it writes anything.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use gatehouse_identity::secrets as seal;
use gatehouse_identity::{Database, MasterKey, SecretsError};

use super::error::KeyStoreError;
use super::stored;

/// The `key_material` row that holds the sealed derivation root.
pub(super) const DERIVATION_ROOT: &str = "derivation_root";

/// The master keys of one instance: `current` seals and unseals; `previous`, set only while
/// a master-key rotation rolls through the instances (`keys.previous_master_key`), unseals
/// what is still sealed under the old key and never seals anything.
pub struct MasterKeys {
    pub current: MasterKey,
    pub previous: Option<MasterKey>,
}

impl MasterKeys {
    pub fn new(current: MasterKey, previous: Option<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// Only `current`.
    pub fn single(current: &MasterKey) -> Self {
        Self::new(current.duplicate(), None)
    }

    pub(super) fn duplicate(&self) -> Self {
        Self::new(
            self.current.duplicate(),
            self.previous.as_ref().map(MasterKey::duplicate),
        )
    }

    /// Opens `sealed` with the current key, else the previous one. `Err` only when neither
    /// opens it; other failures (not our format) come back from the current key's attempt.
    pub(super) fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretsError> {
        match seal::open(self.current.bytes(), sealed) {
            Ok(plain) => Ok(plain),
            Err(err) => match &self.previous {
                Some(previous) => seal::open(previous.bytes(), sealed).map_err(|_| err),
                None => Err(err),
            },
        }
    }
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// The derivation root, unsealed; on a database that has none yet (a first start, or the
/// first start of a version that has roots), records one. Blocking.
///
/// A database without a root but with signing keys was written by an older version that
/// derived from the master key directly: the root is then the key those signing keys open
/// with, so nothing derived changes. Signing keys that open under neither key mean this
/// instance has the wrong master key: nothing is written.
pub fn unlock_derivation_root(
    db: &Database,
    keys: &MasterKeys,
    now: DateTime<Utc>,
) -> Result<MasterKey, KeyStoreError> {
    // Two rounds at most: a lost insert means another instance stored its root first.
    for _ in 0..2 {
        if let Some(sealed) = db.find_key_material(DERIVATION_ROOT)? {
            return open_root(keys, &sealed);
        }
        let root = existing_root(db, keys)?;
        let sealed = seal::seal(keys.current.bytes(), root.bytes())?;
        if db.insert_key_material(DERIVATION_ROOT, &sealed, now)? {
            tracing::info!("recorded the derivation root, sealed under the master key");
            return Ok(root);
        }
    }
    Err(KeyStoreError::Storage(
        gatehouse_identity::IdentityError::Corrupt(
            "the derivation root was stored and then removed while this instance started".into(),
        ),
    ))
}

pub(super) fn open_root(keys: &MasterKeys, sealed: &str) -> Result<MasterKey, KeyStoreError> {
    let plain = keys
        .open(sealed)
        .map_err(|err| KeyStoreError::MasterKeyMismatch {
            what: "the derivation root".into(),
            reason: err.to_string(),
        })?;
    root_from_bytes(&plain)
}

pub(super) fn root_from_bytes(bytes: &[u8]) -> Result<MasterKey, KeyStoreError> {
    MasterKey::from_base64(&STANDARD.encode(bytes)).map_err(|_| {
        KeyStoreError::Storage(gatehouse_identity::IdentityError::Corrupt(
            "the stored derivation root is not 32 bytes".into(),
        ))
    })
}

/// The root a database without one implies: the master key its signing keys open with (the
/// previous key's, if only that one opens them), or the current key on an empty table.
fn existing_root(db: &Database, keys: &MasterKeys) -> Result<MasterKey, KeyStoreError> {
    let rows = db.list_signing_keys()?;
    let Some(row) = rows.first() else {
        return Ok(keys.current.duplicate());
    };
    for candidate in std::iter::once(&keys.current).chain(keys.previous.as_ref()) {
        if rows
            .iter()
            .all(|row| seal::open(candidate.bytes(), &row.sealed_private_key).is_ok())
        {
            return Ok(candidate.duplicate());
        }
    }
    // Name a row the current key cannot open, with the reason.
    let failing = rows
        .iter()
        .find(|row| seal::open(keys.current.bytes(), &row.sealed_private_key).is_err())
        .unwrap_or(row);
    let reason = match stored::unseal(failing, keys) {
        Err(err) => err.to_string(),
        Ok(_) => "the stored signing keys are sealed under more than one master key".into(),
    };
    Err(KeyStoreError::MasterKeyMismatch {
        what: format!("signing key {:?}", failing.kid),
        reason,
    })
}
