//! Pending sign-ins: a password (or a session, for step-up) has passed and a second factor is
//! still owed. A pending sign-in is not a session: no cookie it carries opens anything but the
//! second-factor page, and nothing is issued until it completes.
//!
//! The browser holds a random token; the store keeps only its SHA-256 under
//! `pending_login:{hash}` for [`PENDING_LOGIN_TTL`], plus an attempt counter
//! `pending_login_tries:{hash}` that starts with the first attempt and never outlives it. An
//! attempt is counted *before* its code is checked, so concurrent guesses cannot get past the
//! limit; after [`MAX_SECOND_FACTOR_ATTEMPTS`] the pending sign-in is gone and the user starts
//! over with the password (whose own lockout then counts the wrong codes too).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::store::{KvStore, StoreError};

/// How long a pending sign-in waits for its second factor.
pub const PENDING_LOGIN_TTL: Duration = Duration::from_secs(5 * 60);
/// Codes one pending sign-in may try.
pub const MAX_SECOND_FACTOR_ATTEMPTS: u64 = 5;

const TOKEN_BYTES: usize = 32;
const TOKEN_LEN: usize = 43;

/// What the first step established.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub user_id: Uuid,
    pub username: String,
    /// Unix seconds of the first step.
    pub started_at: i64,
    pub purpose: PendingPurpose,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingPurpose {
    /// A sign-in whose password passed: completing it opens a new session.
    SignIn,
    /// A live session (by its handle) that must prove a second factor it has not yet
    /// (a client requires one): completing it upgrades that session in place.
    StepUp { session: String },
}

/// One attempt's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Check the code; `remaining` attempts are left after this one.
    Allowed { remaining: u64 },
    /// No such pending sign-in (expired, completed, used up).
    Gone,
}

#[derive(Clone)]
pub struct PendingLogins {
    store: Arc<dyn KvStore>,
}

impl std::fmt::Debug for PendingLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogins").finish_non_exhaustive()
    }
}

impl PendingLogins {
    pub fn new(store: Arc<dyn KvStore>) -> Self {
        Self { store }
    }

    /// Stores `pending` and returns the token for the browser (never stored).
    pub async fn create(&self, pending: &PendingLogin) -> Result<String, StoreError> {
        let mut raw = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut raw);
        let token = URL_SAFE_NO_PAD.encode(raw);
        let json = serde_json::to_vec(pending)
            .map_err(|err| StoreError::Corrupt(format!("cannot encode pending sign-in: {err}")))?;
        self.store
            .put(&key(&token), &json, PENDING_LOGIN_TTL)
            .await?;
        Ok(token)
    }

    /// The pending sign-in behind `token`, if it is still live.
    pub async fn get(&self, token: &str) -> Result<Option<PendingLogin>, StoreError> {
        if !well_formed(token) {
            return Ok(None);
        }
        match self.store.get(&key(token)).await? {
            Some(raw) => decode(&raw).map(Some),
            None => Ok(None),
        }
    }

    /// Counts an attempt before its code is checked. The last allowed attempt also removes the
    /// pending sign-in, so a wrong last code leaves nothing to retry against; a right one
    /// completes through the [`PendingLogin`] the caller already read.
    pub async fn begin_attempt(&self, token: &str) -> Result<Attempt, StoreError> {
        if !well_formed(token) {
            return Ok(Attempt::Gone);
        }
        let tries = self
            .store
            .increment(&tries_key(token), PENDING_LOGIN_TTL)
            .await?;
        if tries > MAX_SECOND_FACTOR_ATTEMPTS {
            return Ok(Attempt::Gone);
        }
        if tries == MAX_SECOND_FACTOR_ATTEMPTS {
            if self.store.take(&key(token)).await?.is_none() {
                return Ok(Attempt::Gone);
            }
            return Ok(Attempt::Allowed { remaining: 0 });
        }
        if self.store.exists_any(&[&key(token)]).await? {
            Ok(Attempt::Allowed {
                remaining: MAX_SECOND_FACTOR_ATTEMPTS - tries,
            })
        } else {
            Ok(Attempt::Gone)
        }
    }

    /// Completes a pending sign-in: of concurrent completions one gets it. `None` if it is
    /// gone (the last attempt already took it: that attempt's right code still completes, as
    /// the caller holds the record).
    pub async fn finish(&self, token: &str) -> Result<Option<PendingLogin>, StoreError> {
        if !well_formed(token) {
            return Ok(None);
        }
        let _ = self.store.delete(&tries_key(token)).await?;
        match self.store.take(&key(token)).await? {
            Some(raw) => decode(&raw).map(Some),
            None => Ok(None),
        }
    }
}

fn hashed(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn key(token: &str) -> String {
    format!("pending_login:{}", hashed(token))
}

fn tries_key(token: &str) -> String {
    format!("pending_login_tries:{}", hashed(token))
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn decode(raw: &[u8]) -> Result<PendingLogin, StoreError> {
    serde_json::from_slice(raw)
        .map_err(|err| StoreError::Corrupt(format!("undecodable pending sign-in: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    fn pending() -> PendingLogin {
        PendingLogin {
            user_id: Uuid::nil(),
            username: "alice".to_owned(),
            started_at: 1,
            purpose: PendingPurpose::SignIn,
        }
    }

    #[tokio::test]
    async fn five_attempts_then_the_pending_sign_in_is_gone() {
        let logins = PendingLogins::new(Arc::new(MemoryStore::new()));
        let token = logins.create(&pending()).await.unwrap();
        assert_eq!(logins.get(&token).await.unwrap(), Some(pending()));
        for remaining in (0..MAX_SECOND_FACTOR_ATTEMPTS).rev() {
            assert_eq!(
                logins.begin_attempt(&token).await.unwrap(),
                Attempt::Allowed { remaining }
            );
        }
        assert_eq!(logins.begin_attempt(&token).await.unwrap(), Attempt::Gone);
        assert_eq!(logins.get(&token).await.unwrap(), None);
        assert_eq!(logins.finish(&token).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_pending_sign_in_completes_once() {
        let logins = PendingLogins::new(Arc::new(MemoryStore::new()));
        let token = logins.create(&pending()).await.unwrap();
        assert!(matches!(
            logins.begin_attempt(&token).await.unwrap(),
            Attempt::Allowed { remaining: 4 }
        ));
        assert_eq!(logins.finish(&token).await.unwrap(), Some(pending()));
        assert_eq!(logins.finish(&token).await.unwrap(), None);
        assert_eq!(logins.begin_attempt(&token).await.unwrap(), Attempt::Gone);
    }

    #[tokio::test]
    async fn malformed_and_unknown_tokens_find_nothing() {
        let logins = PendingLogins::new(Arc::new(MemoryStore::new()));
        for token in ["", "short", &"x".repeat(43), &"é".repeat(43)] {
            assert_eq!(logins.get(token).await.unwrap(), None);
            assert_eq!(logins.begin_attempt(token).await.unwrap(), Attempt::Gone);
        }
    }
}
