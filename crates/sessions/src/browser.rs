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
//!
//! A user has at most `max_per_user` live sessions (default [`DEFAULT_MAX_PER_USER`]): a login
//! beyond that ends the user's oldest sessions, down to a tenth below the limit (limits of ten
//! and more), so that the scan this takes is not paid on every sign-in of a user at the limit. Every way a session ends (logout, "end this
//! session", logout everywhere, that limit) goes through one function, `BrowserSessions::end`.

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

/// Live sessions per user unless configured otherwise.
pub const DEFAULT_MAX_PER_USER: usize = 100;

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
    /// Unix seconds of the last request seen with this session, written at most once per
    /// [`LAST_SEEN_GRANULARITY`] (`None` until then, and in sessions from older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<i64>,
}

/// How stale `last_seen_at` may get: a busy session costs one store write per this interval,
/// not one per request.
pub const LAST_SEEN_GRANULARITY: i64 = 5 * 60;

/// How long after its expiry a session is surely found by [`BrowserSessions::claim_expired`]
/// (the claim lease, should a sweeper die holding it).
const EXPIRY_CLAIM_LEASE_SECS: i64 = 5 * 60;

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

/// A session just created by [`BrowserSessions::create`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// The cookie value; never stored.
    pub cookie_secret: String,
    pub handle: SessionHandle,
    /// The user's oldest sessions that this one pushed over the per-user limit, now ended
    /// (usually none, at most a few when logins of one user race).
    pub evicted: Vec<SessionHandle>,
}

/// Why a session ends, for the log (and for what ending a session will also do, such as
/// revoking the refresh tokens issued under it, which may differ by reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    /// The user logged out in this browser (or a new login replaced its cookie).
    Logout,
    /// The user ended it from another session's account page, or the account is gone.
    EndedByUser,
    /// Logout everywhere.
    AllOfUser,
    /// A newer login of the same user exceeded the per-user limit.
    OverLimit,
}

/// What [`BrowserSessions::end`] found under a handle.
enum Ended {
    Nothing,
    Session(BrowserSession),
    /// A value that is not a session; it is gone now all the same.
    Undecodable,
}

#[derive(Clone)]
pub struct BrowserSessions {
    store: Arc<dyn KvStore>,
    ttl: Duration,
    max_per_user: usize,
}

impl fmt::Debug for BrowserSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserSessions")
            .field("ttl", &self.ttl)
            .field("max_per_user", &self.max_per_user)
            .finish_non_exhaustive()
    }
}

impl BrowserSessions {
    /// Sessions that live `ttl`, at most [`DEFAULT_MAX_PER_USER`] per user.
    pub fn new(store: Arc<dyn KvStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            max_per_user: DEFAULT_MAX_PER_USER,
        }
    }

    /// How far below the limit a user goes once a sign-in takes them over it: a tenth of the
    /// limit (none for limits under ten, so a small limit behaves exactly).
    fn headroom(&self) -> usize {
        self.max_per_user / 10
    }

    /// At most `max` live sessions per user (at least 1).
    #[must_use]
    pub fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// Creates a session. The cookie secret is 32 bytes from a CSPRNG, base64url without padding
    /// (43 characters); only its hash is stored. If the user now has more than `max_per_user`
    /// sessions, the oldest end (see [`NewSession::evicted`]).
    ///
    /// Cost: two store round trips while the user is under the limit (the index add answers the
    /// index's size); over it, one more read of every session of the user, which is bounded by
    /// the limit.
    #[tracing::instrument(skip_all, fields(user_id = %session.user_id))]
    pub async fn create(&self, session: &BrowserSession) -> Result<NewSession, StoreError> {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let cookie_secret = URL_SAFE_NO_PAD.encode(secret);
        let handle = Self::handle_of(&cookie_secret);
        let json = serde_json::to_vec(session)
            .map_err(|err| StoreError::Corrupt(format!("cannot encode session: {err}")))?;
        // Session first, index second: an index member then always names a session that was
        // written, so a listing that prunes members without a session (expired, ended) cannot
        // drop one that is still being created, which would leave it out of "log out
        // everywhere" and the limit. If the index write fails, the session is unreachable: its
        // cookie is never handed out.
        self.store
            .put(&session_key(&handle), &json, self.ttl)
            .await?;
        let indexed = self
            .store
            .set_add(&user_key(session.user_id), handle.as_str(), self.ttl)
            .await?;
        self.store
            .sorted_add(
                EXPIRY_KEY,
                &expiry_member(&handle, session.user_id),
                self.expires_at(session),
                self.ttl + Duration::from_secs(EXPIRY_CLAIM_LEASE_SECS.unsigned_abs() * 2),
            )
            .await?;
        tracing::debug!(%handle, "browser session created");
        // The index may still name sessions that expired, so being over the limit here only
        // means the live sessions must be counted.
        let evicted = if indexed > self.max_per_user {
            self.end_oldest_over_limit(session.user_id, &handle).await?
        } else {
            Vec::new()
        };
        Ok(NewSession {
            cookie_secret,
            handle,
            evicted,
        })
    }

    /// Ends the oldest live sessions of the user beyond `max_per_user`, never `keep` (the one
    /// just created: sessions created within the same second have no order between them).
    /// Concurrent logins of one user each end what they see as the oldest: together they never
    /// leave more than the limit, but may end a session or two more than needed.
    async fn end_oldest_over_limit(
        &self,
        user_id: Uuid,
        keep: &SessionHandle,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let mut others: Vec<(SessionHandle, BrowserSession)> = self
            .list_for_user(user_id)
            .await?
            .into_iter()
            .filter(|(handle, _)| handle != keep)
            .collect();
        // `others` plus `keep` must fit the limit; `others` is sorted oldest first. Once over
        // it, the user goes down to `headroom` below it, so a user who signs in again and again
        // at the limit pays this scan of every session once per `headroom` sign-ins, not on
        // each (the sign-in rate is otherwise bound by Argon2 alone).
        let over = (others.len() + 1).saturating_sub(self.max_per_user);
        let excess = if over > 0 { over + self.headroom() } else { 0 };
        let mut evicted = Vec::with_capacity(excess);
        for (handle, _) in others.drain(..excess.min(others.len())) {
            if !matches!(
                self.end(&handle, EndReason::OverLimit).await?,
                Ended::Nothing
            ) {
                evicted.push(handle);
            }
        }
        if !evicted.is_empty() {
            // Debug, not info: the server audits it, and one user's script logging in again and
            // again must not fill the log.
            tracing::debug!(
                %user_id,
                ended = evicted.len(),
                max_per_user = self.max_per_user,
                "ended the oldest browser sessions of a user over the session limit"
            );
        }
        Ok(evicted)
    }

    /// Ends one session: the only place a session ends, whatever the reason. The session is
    /// taken atomically (of two concurrent ends, one finds it) and leaves its user's index.
    ///
    /// Whatever else must happen when a browser session ends (revoking the refresh tokens
    /// issued under it, back-channel logout to relying parties) belongs here.
    async fn end(&self, handle: &SessionHandle, reason: EndReason) -> Result<Ended, StoreError> {
        let Some(raw) = self.store.take(&session_key(handle)).await? else {
            return Ok(Ended::Nothing);
        };
        match decode(&raw) {
            Ok(session) => {
                self.store
                    .set_remove(&user_key(session.user_id), handle.as_str())
                    .await?;
                self.store
                    .sorted_remove(EXPIRY_KEY, &expiry_member(handle, session.user_id))
                    .await?;
                tracing::debug!(
                    %handle,
                    user_id = %session.user_id,
                    ?reason,
                    "browser session ended"
                );
                Ok(Ended::Session(session))
            }
            // The session is gone either way; its index entry is pruned by the next listing.
            Err(err) => {
                tracing::warn!(%handle, %err, ?reason, "ended an undecodable browser session");
                Ok(Ended::Undecodable)
            }
        }
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
        Ok(!matches!(
            self.end(&handle, EndReason::Logout).await?,
            Ended::Nothing
        ))
    }

    /// Ends the session behind a cookie and returns it: one atomic take, for callers that act on
    /// whose session it was. `None` if there was none (or it could not be decoded; it is gone
    /// all the same).
    pub async fn end_by_cookie(
        &self,
        cookie_secret: &str,
    ) -> Result<Option<(SessionHandle, BrowserSession)>, StoreError> {
        if !is_well_formed_secret(cookie_secret) {
            return Ok(None);
        }
        let handle = Self::handle_of(cookie_secret);
        Ok(match self.end(&handle, EndReason::Logout).await? {
            Ended::Session(session) => Some((handle, session)),
            Ended::Nothing | Ended::Undecodable => None,
        })
    }

    /// All live sessions of a user, oldest first (then by handle, for a stable order). Index
    /// members whose session is gone (expired or lost) are pruned from the index; an
    /// undecodable session is skipped with a warning. Two round trips plus one per pruned
    /// member: the sessions are read in one batch.
    pub async fn list_for_user(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<(SessionHandle, BrowserSession)>, StoreError> {
        let index = user_key(user_id);
        let handles: Vec<SessionHandle> = self
            .store
            .set_members(&index)
            .await?
            .into_iter()
            .map(SessionHandle)
            .collect();
        let keys: Vec<String> = handles.iter().map(session_key).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = self.store.get_many(&keys).await?;
        let mut sessions = Vec::with_capacity(handles.len());
        for (handle, raw) in handles.into_iter().zip(values) {
            match raw.as_deref().map(decode) {
                Some(Ok(session)) if session.user_id == user_id => sessions.push((handle, session)),
                // Not listed, and left indexed so that logout everywhere still ends it.
                Some(Err(err)) => tracing::warn!(%handle, %err, "undecodable browser session"),
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
        if owned {
            return Ok(!matches!(
                self.end(handle, EndReason::EndedByUser).await?,
                Ended::Nothing
            ));
        }
        // Prunes a stale member; the index is this user's own, so nothing else is touched.
        self.store
            .set_remove(&user_key(user_id), handle.as_str())
            .await?;
        Ok(false)
    }

    /// Ends every session of the user (logout everywhere); returns how many were ended.
    pub async fn destroy_all_for_user(&self, user_id: Uuid) -> Result<usize, StoreError> {
        let index = user_key(user_id);
        let mut ended = 0;
        // Members are removed one by one rather than deleting the index: a session created
        // concurrently stays indexed, so it can still be listed and ended.
        for member in self.store.set_members(&index).await? {
            let handle = SessionHandle(member);
            match self.end(&handle, EndReason::AllOfUser).await? {
                // `end` took it out of this index.
                Ended::Session(session) if session.user_id == user_id => ended += 1,
                Ended::Nothing => self.store.set_remove(&index, handle.as_str()).await?,
                Ended::Session(_) | Ended::Undecodable => {
                    ended += 1;
                    self.store.set_remove(&index, handle.as_str()).await?;
                }
            }
        }
        tracing::debug!(%user_id, ended, "ended all browser sessions of user");
        Ok(ended)
    }

    /// Unix seconds at which the store lets `session` expire: sessions live a fixed time from
    /// their creation.
    fn expires_at(&self, session: &BrowserSession) -> i64 {
        session
            .created_at
            .saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX))
    }

    /// Changes a live session in place, keeping its expiry: `change` gets the stored session and
    /// says whether to write. Compare-and-swap, retried a few times against a concurrent
    /// change; false if the session is gone (or stayed contended), in which case nothing is
    /// written.
    pub async fn update(
        &self,
        handle: &SessionHandle,
        now: i64,
        mut change: impl FnMut(&mut BrowserSession) -> bool,
    ) -> Result<bool, StoreError> {
        let key = session_key(handle);
        for _ in 0..3 {
            let Some(raw) = self.store.get(&key).await? else {
                return Ok(false);
            };
            let mut session = decode(&raw)?;
            if !change(&mut session) {
                return Ok(true);
            }
            let remaining = self.expires_at(&session).saturating_sub(now);
            if remaining <= 0 {
                return Ok(false);
            }
            let json = serde_json::to_vec(&session)
                .map_err(|err| StoreError::Corrupt(format!("cannot encode session: {err}")))?;
            let ttl = Duration::from_secs(remaining.unsigned_abs());
            if self.store.replace_if(&key, &raw, &json, ttl).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records that `session` was used at `now`, at most once per [`LAST_SEEN_GRANULARITY`].
    /// Returns the session as it now reads.
    pub async fn touch(
        &self,
        handle: &SessionHandle,
        session: BrowserSession,
        now: i64,
    ) -> Result<BrowserSession, StoreError> {
        let seen = session.last_seen_at.unwrap_or(session.created_at);
        if now.saturating_sub(seen) < LAST_SEEN_GRANULARITY {
            return Ok(session);
        }
        let mut touched = session.clone();
        touched.last_seen_at = Some(now);
        self.update(handle, now, |stored| {
            let due = stored
                .last_seen_at
                .unwrap_or(stored.created_at)
                .saturating_add(LAST_SEEN_GRANULARITY)
                <= now;
            if due {
                stored.last_seen_at = Some(now);
            }
            due
        })
        .await?;
        Ok(touched)
    }

    /// How many sessions are live at `now` (Unix seconds), for the admin dashboard: the
    /// entries of the expiry index that expire later, one `ZCOUNT` on Redis. A session that
    /// expired and is being swept right now is counted until its sweep finishes (its entry is
    /// leased into the future for at most a few minutes).
    pub async fn count_live(&self, now: i64) -> Result<u64, StoreError> {
        self.store
            .sorted_count_from(EXPIRY_KEY, now.saturating_add(1))
            .await
    }

    /// Sessions whose lifetime ran out by `now` (the store already dropped them), at most
    /// `limit`, each handed to exactly one caller across instances so the consequences of an
    /// expiry (revoked grants, back-channel logout) happen once. A session ended explicitly is
    /// not reported: ending it removes it from the expiry index.
    pub async fn claim_expired(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(SessionHandle, Uuid)>, StoreError> {
        let claimed = self
            .store
            .sorted_claim_due(
                EXPIRY_KEY,
                now,
                now.saturating_add(EXPIRY_CLAIM_LEASE_SECS),
                limit,
            )
            .await?;
        let mut expired = Vec::with_capacity(claimed.len());
        for member in claimed {
            let Some((handle, user_id)) = parse_expiry_member(&member) else {
                self.store.sorted_remove(EXPIRY_KEY, &member).await?;
                continue;
            };
            if let Some(session) = self.load(&handle).await? {
                // Still there (the store's clock runs behind ours): due again at its expiry.
                self.store
                    .sorted_add(
                        EXPIRY_KEY,
                        &member,
                        self.expires_at(&session),
                        self.ttl + Duration::from_secs(EXPIRY_CLAIM_LEASE_SECS.unsigned_abs() * 2),
                    )
                    .await?;
                continue;
            }
            // Whoever removes the member reports the end: an explicit end racing this sweep
            // removes it too, and only one of the two removals finds it.
            if self.store.sorted_remove(EXPIRY_KEY, &member).await? {
                self.store
                    .set_remove(&user_key(user_id), handle.as_str())
                    .await?;
                expired.push((handle, user_id));
            }
        }
        Ok(expired)
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

/// The expiry index: every session by the Unix second it expires, for the expiry sweep.
const EXPIRY_KEY: &str = "sess_expiry";

fn expiry_member(handle: &SessionHandle, user_id: Uuid) -> String {
    format!("{handle}.{user_id}")
}

fn parse_expiry_member(member: &str) -> Option<(SessionHandle, Uuid)> {
    let (handle, user_id) = member.split_once('.')?;
    let handle = SessionHandle(handle.to_owned());
    (handle.is_well_formed()).then_some(())?;
    Some((handle, Uuid::parse_str(user_id).ok()?))
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
