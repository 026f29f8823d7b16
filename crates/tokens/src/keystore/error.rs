//! The key store's error type.
//!
//! Policy: every variant is an operator problem (database down, wrong or missing master key,
//! an unreadable key file), never a client's. A server logs it with its chain and refuses to
//! start, or answers an opaque 500. Messages name the file or the `kid` at fault so the log is
//! actionable, and never contain key material.

use gatehouse_identity::{IdentityError, SecretsError};

use crate::error::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("signing key storage: {0}")]
    Storage(#[from] IdentityError),
    /// Generating or loading a key failed in the crypto layer.
    #[error("signing key: {0}")]
    Token(#[from] TokenError),
    /// A stored key cannot be used. A wrong master key shows up here first, on the first
    /// key that is read, so the message points at it.
    #[error("stored signing key {kid:?} cannot be loaded: {reason}")]
    StoredKey { kid: String, reason: String },
    /// The database holds `what` sealed under a master key this instance does not have: it
    /// was given another deployment's key, or the key changed without `gatehouse keys
    /// rewrap`. The server adds which setting to fix.
    #[error(
        "the database holds {what} sealed under a different master key than this instance's \
         ({reason})"
    )]
    MasterKeyMismatch { what: String, reason: String },
    /// The master key cannot be loaded, or a key cannot be sealed under it.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// A `KeyPolicy` that would rotate constantly or date keys beyond chrono's range.
    #[error("key policy: {0}")]
    Policy(&'static str),
    /// Keys kept disappearing between insert and read: another process is deleting them.
    #[error("{0} still lacks an active or next key after repeated attempts")]
    Incomplete(crate::algorithm::Algorithm),
}
