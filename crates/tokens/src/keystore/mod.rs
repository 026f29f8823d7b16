//! Signing-key management: the signing keys every instance shares through the database, sealed
//! under the master key (`gatehouse_identity::secrets`, re-exported here as [`MasterKey`]).
//!
//! Rotation follows OpenID Connect Core 1.0 §10.1.1: a key is published as `Next` for a whole
//! rotation interval before it signs, so relying parties that cache the JWKS (RFC 7517 §5)
//! already hold it when they meet its `kid`; a retired key stays published until every token
//! it signed has expired. The table's rows carry the states of [`crate::KeyState`]:
//!
//! | stored status | loaded as | published |
//! |---|---|---|
//! | `Next` | [`KeyState::Next`](crate::KeyState::Next) | yes |
//! | `Active` | [`KeyState::Active`](crate::KeyState::Active) | yes; signs |
//! | `Retired` + `published_until` | [`KeyState::Retired`](crate::KeyState::Retired) | until `published_until` |
//!
//! The master key seals the signing keys and the *derivation root* every other server secret
//! is derived from (module `root`); changing the master key re-seals both (module `rewrap`).
//!
//! This module is the crate's only contact with the database; the rest
//! of the crate stays pure and takes `now` from its caller, as does everything here.

mod error;
mod manager;
mod rewrap;
mod root;
mod stored;

pub use error::KeyStoreError;
pub use gatehouse_identity::secrets::MasterKey;
pub use manager::KeyManager;
pub use rewrap::{RewrapReport, rewrap};
pub use root::{MasterKeys, unlock_derivation_root};

use crate::algorithm::Algorithm;

/// Every algorithm that gets an Active and a Next key, in JWKS order.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// How long a key signs before [`KeyManager::rotate_due`] retires it. It is also how long
    /// each new key is published as `Next` before it signs, so it should exceed the time
    /// relying parties cache the JWKS.
    pub rotation_interval: chrono::Duration,
    /// How long a retired key stays published: the longest lifetime of any token we sign
    /// (access, ID), plus how long another instance may keep signing with a key this one has
    /// retired (its reload interval), so no token outlives the key that verifies it.
    pub max_token_lifetime: chrono::Duration,
}

impl KeyPolicy {
    fn validate(&self) -> Result<(), KeyStoreError> {
        if self.rotation_interval <= chrono::Duration::zero() {
            return Err(KeyStoreError::Policy("rotation_interval must be positive"));
        }
        if self.max_token_lifetime < chrono::Duration::zero() {
            return Err(KeyStoreError::Policy(
                "max_token_lifetime must not be negative",
            ));
        }
        Ok(())
    }
}
