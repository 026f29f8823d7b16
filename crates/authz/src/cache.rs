//! Short-lived in-process copies of database rows read on every protocol request.
//!
//! Every token, introspection and revocation request authenticates a client, and every
//! authorization request looks one up; reading the row from the database each time (a pooled
//! connection on the blocking pool, a query, a thread hand-off) cost more than signing the token.
//! Registrations change rarely and only through the CLI or another instance, so a found client is
//! kept for [`CLIENT_CACHE_TTL`]: an edit or deletion reaches this instance within that time.
//! The same holds, with a shorter, configurable TTL, for the "is this user still active" check
//! behind refresh, userinfo and introspection (`AuthzSettings::user_cache_ttl`): a user who is
//! locked or disabled stops refreshing within that time (their access tokens stay valid until
//! they expire in any case).
//! Unknown ids are not cached (a just-registered client works at once, and probing with random
//! ids cannot fill the cache). The clock here is the process's monotonic one on purpose: this is
//! freshness of a copy, not protocol time, so tests that move the protocol clock do not see it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_identity::{Client, User};

/// How long a client registration read from the database is reused.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// More entries than a cache needs; past it, stale entries are dropped (and, if none are stale,
/// everything), so a cache can never grow without bound.
const MAX_ENTRIES: usize = 4096;

pub(crate) type ClientCache = TtlCache<String, Client>;
pub(crate) type UserCache = TtlCache<uuid::Uuid, User>;

pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, Arc<V>)>>,
}

impl<K: Eq + Hash, V> TtlCache<K, V> {
    /// A zero `ttl` disables the cache.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value, if it was read less than the TTL ago.
    pub(crate) fn get<Q>(&self, key: &Q, now: Instant) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(read_at, _)| now.saturating_duration_since(*read_at) < self.ttl)
            .map(|(_, value)| Arc::clone(value))
    }

    pub(crate) fn remove(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    pub(crate) fn insert(&self, key: K, value: Arc<V>, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, (read_at, _)| now.saturating_duration_since(*read_at) < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (now, value));
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_identity::{ClientType, TokenEndpointAuthMethod};

    use super::*;

    fn client(id: &str) -> Arc<Client> {
        Arc::new(Client {
            org_id: None,
            resources: Vec::new(),
            exchange_audiences: Vec::new(),
            allow_impersonation: false,
            client_id: id.to_owned(),
            name: id.to_owned(),
            client_type: ClientType::Confidential,
            secret_hash: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            id_token_signed_response_alg: "RS256".to_owned(),
            first_party: false,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            require_2fa: false,
            enabled: true,
        })
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = ClientCache::new(Duration::from_secs(5));
        let start = Instant::now();
        cache.insert("a".to_owned(), client("a"), start);
        assert!(
            cache
                .get(&"a".to_owned(), start + Duration::from_secs(4))
                .is_some()
        );
        assert!(
            cache
                .get(&"a".to_owned(), start + Duration::from_secs(5))
                .is_none()
        );
        assert!(cache.get(&"b".to_owned(), start).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ClientCache::new(Duration::from_secs(5));
        let start = Instant::now();
        for n in 0..MAX_ENTRIES + 10 {
            cache.insert(format!("c{n}"), client(&format!("c{n}")), start);
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= MAX_ENTRIES, "{len} entries");
        assert!(cache.get(&format!("c{}", MAX_ENTRIES + 9), start).is_some());
    }

    #[test]
    fn a_zero_ttl_disables_the_cache() {
        let cache = ClientCache::new(Duration::ZERO);
        let now = Instant::now();
        cache.insert("a".to_owned(), client("a"), now);
        assert!(cache.get(&"a".to_owned(), now).is_none());
    }
}
