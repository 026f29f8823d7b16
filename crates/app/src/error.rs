//! The application layer's failure type.
//!
//! Policy: an `AppError` is a backend failure (the session store or the database), never a
//! user's mistake; those have their own enums ([`crate::SignInError`]). Surfaces answer
//! [`AppError::is_unavailable`] with a 503 the caller may retry, and anything else with an
//! opaque 500 whose cause goes to the log.

use gatehouse_identity::IdentityError;
use gatehouse_sessions::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl AppError {
    /// The backend is down (or did not answer in time): retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            AppError::Store(StoreError::Unavailable(_)) => true,
            AppError::Store(StoreError::Corrupt(_)) => false,
            AppError::Identity(err) => err.is_unavailable(),
        }
    }
}
