//! Secrets at rest: the master key every server secret derives from, and the AES-256-GCM
//! sealing of the values that must be stored recoverable (signing keys, TOTP secrets).
//!
//! | module | owns | specification |
//! |---|---|---|
//! | `master_key` | loading, creating and parsing the master key; purpose-bound subkeys | RFC 2104, RFC 5869 §2.3 |
//! | `seal` | encrypting and decrypting values under a 32-byte key | RFC 7516 §7.1, RFC 7518 §4.5, §5.3 |
//!
//! It lives in `identity`, the lowest crate that stores secrets, so that identity can seal its
//! own (TOTP secrets) and `tokens` builds on it for the signing keys. No database here.

mod error;
mod master_key;
mod seal;

#[cfg(test)]
mod tests;

pub use error::SecretsError;
pub use master_key::MasterKey;
pub use seal::{open, seal};
