//! The crate's internal failure type.
//!
//! Policy: `IdentityError` means "something is wrong with the machinery" (database unreachable,
//! query failed, stored data unreadable, hashing failed), never "the user did something wrong";
//! user-facing outcomes have their own enums (`RegisterError`, `LoginError`). Callers log an
//! `IdentityError` with its full chain and answer an opaque 500. Messages name the cause but never
//! contain secrets: no passwords, no hashes, no connection-string credentials.

/// A failure of the identity store or the password hasher.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Opening a database connection failed; the message carries the driver's own cause.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// No pooled connection became available in time (the last connect error is included).
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    /// Argon2 rejected its parameters or failed to hash or verify.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Join(String),
    /// A row holds a value the schema allows but this code cannot interpret (an id that is not a
    /// UUID, an unknown status, details that are not JSON).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl From<tokio::task::JoinError> for IdentityError {
    fn from(err: tokio::task::JoinError) -> Self {
        IdentityError::Join(err.to_string())
    }
}
