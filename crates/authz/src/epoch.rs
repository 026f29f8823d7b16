//! The store epoch: why a revocation survives the session store forgetting everything.
//!
//! Revocations live in the [`KvStore`] as markers (`deny:<jti>`, `grant_revoked:<grant>`). A
//! Redis restarted without persistence, a flushed database or a restarted embedded server
//! comes back empty, and on its own "no marker" would read as "not revoked": revoked tokens
//! would be live again until they expire. A security decision must not rest on a key that can
//! silently disappear, so every access token also names the *epoch* of the store it was issued
//! under (the `store_epoch` claim), and the epoch itself is a key in the same store:
//!
//! - The epoch is a random 64-bit value under [`EPOCH_KEY`], created with SET NX by whichever
//!   instance first finds it missing. Every instance keeps a copy ([`StoreEpoch`]), re-read by
//!   the server about once a second and whenever introspection sees another value.
//! - Access tokens are minted with the cached epoch; while none is known (the store has not
//!   answered since start) the token endpoint answers `temporarily_unavailable`.
//! - Introspection and userinfo read the epoch in the same round trip as the revocation
//!   markers ([`KvStore::get_many`]). A token is live only if its epoch equals the store's
//!   current one and no marker names it. A store that lost its state has lost the epoch with
//!   the markers: its new epoch differs, so every token issued before the loss is refused
//!   (fail closed), revoked or not. Tokens issued in the moment between the loss and an
//!   instance noticing it (at most about a second) carry the old epoch and are refused too.
//!
//! What a store loss costs: browser sessions, authorization codes and refresh-token families
//! are gone (users sign in again, clients restart their code flows), and access tokens issued
//! before it are refused at introspection and userinfo. Nothing that was revoked becomes valid.
//! Resource servers that validate access tokens locally against the JWKS never asked the store
//! and are unaffected either way; that is the usual trade-off of self-contained tokens.

use std::sync::Arc;

use gatehouse_sessions::{KvStore, StoreError};
use parking_lot::RwLock;
use rand::RngCore;

/// Where the epoch lives; every deployment's key prefix is prepended by the store.
pub(crate) const EPOCH_KEY: &str = "store_epoch";

/// The epoch outlives everything else in the store: the store's longest TTL (ten years).
const EPOCH_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// This instance's copy of the store's epoch.
#[derive(Debug, Default)]
pub(crate) struct StoreEpoch {
    current: RwLock<Option<Arc<str>>>,
}

impl StoreEpoch {
    /// The epoch last seen in the store, if the store has answered since start.
    pub(crate) fn current(&self) -> Option<Arc<str>> {
        self.current.read().clone()
    }

    /// Reads the store's epoch, creating it if the store has none (first start, or the store
    /// lost its state), and remembers it.
    pub(crate) async fn sync(&self, store: &dyn KvStore) -> Result<Arc<str>, StoreError> {
        if let Some(value) = store.get(EPOCH_KEY).await? {
            return self.observe(&value);
        }
        // SET NX: of several instances noticing the loss at once, one epoch wins.
        store
            .put_if_absent(EPOCH_KEY, new_epoch().as_bytes(), EPOCH_TTL)
            .await?;
        match store.get(EPOCH_KEY).await? {
            Some(value) => self.observe(&value),
            None => Err(StoreError::Unavailable(
                "the session store dropped the epoch it was just given".to_owned(),
            )),
        }
    }

    /// Remembers `value` read from the store as the current epoch.
    pub(crate) fn observe(&self, value: &[u8]) -> Result<Arc<str>, StoreError> {
        let seen = std::str::from_utf8(value)
            .map_err(|_| StoreError::Corrupt("the store epoch is not UTF-8".to_owned()))?;
        if let Some(current) = self.current.read().as_ref()
            && current.as_ref() == seen
        {
            return Ok(Arc::clone(current));
        }
        let seen: Arc<str> = Arc::from(seen);
        let previous = self.current.write().replace(Arc::clone(&seen));
        if previous.is_some() {
            tracing::warn!(
                "the session store lost its state (new epoch): sessions, codes and refresh \
                 tokens are gone, and access tokens issued before now are refused"
            );
        }
        Ok(seen)
    }
}

fn new_epoch() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use gatehouse_sessions::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn sync_creates_the_epoch_once_and_follows_a_new_one() {
        let store = MemoryStore::new();
        let epoch = StoreEpoch::default();
        assert_eq!(epoch.current(), None);
        let first = epoch.sync(&store).await.unwrap();
        assert_eq!(first.len(), 16);
        assert_eq!(epoch.sync(&store).await.unwrap(), first);
        // Another instance sharing the store agrees.
        let other = StoreEpoch::default();
        assert_eq!(other.sync(&store).await.unwrap(), first);

        // The store forgets everything: the next sync makes a different epoch.
        store.delete(EPOCH_KEY).await.unwrap();
        let second = epoch.sync(&store).await.unwrap();
        assert_ne!(second, first);
        assert_eq!(epoch.current(), Some(second));
    }

    #[tokio::test]
    async fn an_unreadable_epoch_is_corrupt() {
        let store = MemoryStore::new();
        store
            .put(EPOCH_KEY, &[0xff, 0xfe], EPOCH_TTL)
            .await
            .unwrap();
        assert!(matches!(
            StoreEpoch::default().sync(&store).await,
            Err(StoreError::Corrupt(_))
        ));
    }
}
