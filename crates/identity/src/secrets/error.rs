//! The secrets module's error type.
//!
//! Policy: every variant is an operator problem (a wrong, missing or unreadable master key, data
//! sealed under another key or tampered with), never a client's. A server logs it with its chain
//! and refuses to start, or answers an opaque 500. Messages name the file at fault so the log is
//! actionable, and never contain key material.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The configured or stored master key is not 32 bytes of base64, or no randomness was
    /// available to create one.
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("master key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Sealing failed in the crypto library, or sealed data could not be opened: wrong key,
    /// tampering, or not our format.
    #[error("sealed data: {0}")]
    Sealed(String),
}
