//! Browser sessions: the login state behind the session cookie, as a typed layer over any
//! [`KvStore`].
//!
//! The cookie carries a random secret; the store only ever sees its SHA-256 (the
//! [`SessionHandle`]), so a dump of Redis cannot be replayed as cookies. The handle doubles as the
//! public id of a session: for "your sessions" pages and as the OIDC `sid` claim (OpenID Connect
//! Front-/Back-Channel Logout 1.0, section 2).
//!
//! Keys: `sess:{handle}` holds the session JSON; `user_sess:{user_id}` is the set of that user's
//! handles, so all of a user's sessions can be listed or ended (logout everywhere, password
//! change) without scanning.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::store::{KvStore, StoreError};

const SECRET_BYTES: usize = 32;
/// base64url without padding of [`SECRET_BYTES`].
const SECRET_LEN: usize = 43;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserSession {
    pub user_id: Uuid,
    pub username: String,
    /// Unix seconds of the authentication (OIDC `auth_time`).
    pub auth_time: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Authentication methods (OIDC `amr`), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The session handle: hex(SHA-256(cookie secret)). Used as store key and as the public id of a
/// session (for listing/ending sessions and as the OIDC `sid`); the raw cookie secret is never
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionHandle(pub String);

impl SessionHandle {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Handles arrive from users (e.g. "end this session" links); only the shape we mint may
    /// reach the store.
    fn is_well_formed(&self) -> bool {
        self.0.len() == 64
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone)]
pub struct BrowserSessions {
    store: Arc<dyn KvStore>,
    ttl: Duration,
}

impl fmt::Debug for BrowserSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserSessions")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl BrowserSessions {
    pub fn new(store: Arc<dyn KvStore>, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// Creates a session and returns `(cookie_secret, handle)`. The secret is 32 bytes from a
    /// CSPRNG, base64url without padding (43 characters); only its hash is stored.
    #[tracing::instrument(skip_all, fields(user_id = %session.user_id))]
    pub async fn create(
        &self,
        session: &BrowserSession,
    ) -> Result<(String, SessionHandle), StoreError> {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let cookie_secret = URL_SAFE_NO_PAD.encode(secret);
        let handle = Self::handle_of(&cookie_secret);
        let json = serde_json::to_vec(session)
            .map_err(|err| StoreError::Corrupt(format!("cannot encode session: {err}")))?;
        // Index first: if the session write then fails, the orphaned index member is pruned by
        // the next listing; the other order could leave a live session that "log out
        // everywhere" cannot find.
        self.store
            .set_add(&user_key(session.user_id), handle.as_str(), self.ttl)
            .await?;
        self.store
            .put(&session_key(&handle), &json, self.ttl)
            .await?;
        tracing::debug!(%handle, "browser session created");
        Ok((cookie_secret, handle))
    }

    /// Looks up by the cookie secret. Malformed secrets → `Ok(None)` without touching the store.
    pub async fn get(
        &self,
        cookie_secret: &str,
    ) -> Result<Option<(SessionHandle, BrowserSession)>, StoreError> {
        if !is_well_formed_secret(cookie_secret) {
            return Ok(None);
        }
        let handle = Self::handle_of(cookie_secret);
        self.load(&handle)
            .await
            .map(|found| found.map(|session| (handle, session)))
    }

    /// Ends the session behind a cookie (logout). true if one was ended.
    pub async fn destroy(&self, cookie_secret: &str) -> Result<bool, StoreError> {
        if !is_well_formed_secret(cookie_secret) {
            return Ok(false);
        }
        let handle = Self::handle_of(cookie_secret);
        let Some(raw) = self.store.take(&session_key(&handle)).await? else {
            return Ok(false);
        };
        match decode(&raw) {
            Ok(session) => {
                self.store
                    .set_remove(&user_key(session.user_id), handle.as_str())
                    .await?;
            }
            // The session is gone either way; its index entry is pruned by the next listing.
            Err(err) => tracing::warn!(%handle, %err, "destroyed an undecodable browser session"),
        }
        tracing::debug!(%handle, "browser session destroyed");
        Ok(true)
    }

    /// All live sessions of a user, oldest first. Index members whose session is gone (expired
    /// or lost) are pruned from the index.
    pub async fn list_for_user(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<(SessionHandle, BrowserSession)>, StoreError> {
        let index = user_key(user_id);
        let mut sessions = Vec::new();
        for member in self.store.set_members(&index).await? {
            let handle = SessionHandle(member);
            match self.load(&handle).await? {
                Some(session) if session.user_id == user_id => sessions.push((handle, session)),
                _ => self.store.set_remove(&index, handle.as_str()).await?,
            }
        }
        sessions.sort_by(|(a_handle, a), (b_handle, b)| {
            (a.created_at, &a_handle.0).cmp(&(b.created_at, &b_handle.0))
        });
        Ok(sessions)
    }

    /// Ends one session of that user by handle (only if it belongs to that user). true if one was
    /// ended.
    pub async fn destroy_handle(
        &self,
        user_id: Uuid,
        handle: &SessionHandle,
    ) -> Result<bool, StoreError> {
        if !handle.is_well_formed() {
            return Ok(false);
        }
        let owned = self
            .load(handle)
            .await?
            .is_some_and(|session| session.user_id == user_id);
        let ended = owned && self.store.delete(&session_key(handle)).await?;
        // Also prunes a stale member; the index is this user's own, so nothing else is touched.
        self.store
            .set_remove(&user_key(user_id), handle.as_str())
            .await?;
        Ok(ended)
    }

    /// Ends every session of the user (logout everywhere); returns how many were ended.
    pub async fn destroy_all_for_user(&self, user_id: Uuid) -> Result<usize, StoreError> {
        let index = user_key(user_id);
        let mut ended = 0;
        // Members are removed one by one rather than deleting the index: a session created
        // concurrently stays indexed, so it can still be listed and ended.
        for member in self.store.set_members(&index).await? {
            let handle = SessionHandle(member);
            if self.store.delete(&session_key(&handle)).await? {
                ended += 1;
            }
            self.store.set_remove(&index, handle.as_str()).await?;
        }
        tracing::debug!(%user_id, ended, "ended all browser sessions of user");
        Ok(ended)
    }

    /// hex(SHA-256(cookie secret)).
    pub fn handle_of(cookie_secret: &str) -> SessionHandle {
        SessionHandle(hex::encode(Sha256::digest(cookie_secret.as_bytes())))
    }

    async fn load(&self, handle: &SessionHandle) -> Result<Option<BrowserSession>, StoreError> {
        match self.store.get(&session_key(handle)).await? {
            Some(raw) => decode(&raw).map(Some),
            None => Ok(None),
        }
    }
}

fn session_key(handle: &SessionHandle) -> String {
    format!("sess:{handle}")
}

fn user_key(user_id: Uuid) -> String {
    format!("user_sess:{user_id}")
}

fn decode(raw: &[u8]) -> Result<BrowserSession, StoreError> {
    serde_json::from_slice(raw)
        .map_err(|err| StoreError::Corrupt(format!("undecodable browser session: {err}")))
}

fn is_well_formed_secret(secret: &str) -> bool {
    secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_minted_secret_shapes_are_well_formed() {
        assert!(is_well_formed_secret(&"A".repeat(SECRET_LEN)));
        assert!(is_well_formed_secret(
            &"-_aZ09".repeat(7).chars().chain(['x']).collect::<String>()
        ));
        assert!(!is_well_formed_secret(""));
        assert!(!is_well_formed_secret(&"A".repeat(SECRET_LEN - 1)));
        assert!(!is_well_formed_secret(&"A".repeat(SECRET_LEN + 1)));
        assert!(!is_well_formed_secret(&format!(
            "{}=",
            "A".repeat(SECRET_LEN - 1)
        )));
        assert!(!is_well_formed_secret(&format!(
            "{}+",
            "A".repeat(SECRET_LEN - 1)
        )));
        assert!(!is_well_formed_secret(&format!(
            "{}é",
            "A".repeat(SECRET_LEN - 2)
        )));
    }

    #[test]
    fn only_lowercase_hex_sha256_handles_are_well_formed() {
        assert!(BrowserSessions::handle_of("x").is_well_formed());
        assert!(!SessionHandle("A".repeat(64)).is_well_formed());
        assert!(!SessionHandle("a".repeat(63)).is_well_formed());
        assert!(!SessionHandle("user_sess:x".to_owned()).is_well_formed());
    }
}
