//! A short-lived in-process cache of client registrations.
//!
//! Every token, introspection and revocation request authenticates a client, and every
//! authorization request looks one up; reading the row from the database each time (a pooled
//! connection on the blocking pool, a query, a thread hand-off) cost more than signing the token.
//! Registrations change rarely and only through the CLI or another instance, so a found client is
//! kept for [`CLIENT_CACHE_TTL`]: an edit or deletion reaches this instance within that time.
//! Unknown ids are not cached (a just-registered client works at once, and probing with random
//! ids cannot fill the cache). The clock here is the process's monotonic one on purpose: this is
//! freshness of a copy, not protocol time, so tests that move the protocol clock do not see it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_identity::Client;

/// How long a client registration read from the database is reused.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// More entries than any deployment has clients; past it, stale entries are dropped (and, if
/// none are stale, everything), so the cache can never grow without bound.
const MAX_ENTRIES: usize = 1024;

pub(crate) struct ClientCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<Client>)>>,
}

impl ClientCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached client, if it was read less than the TTL ago.
    pub(crate) fn get(&self, client_id: &str, now: Instant) -> Option<Arc<Client>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(client_id)
            .filter(|(read_at, _)| now.saturating_duration_since(*read_at) < self.ttl)
            .map(|(_, client)| Arc::clone(client))
    }

    pub(crate) fn insert(&self, client: Arc<Client>, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&client.client_id) {
            entries.retain(|_, (read_at, _)| now.saturating_duration_since(*read_at) < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(client.client_id.clone(), (now, client));
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_identity::{ClientType, TokenEndpointAuthMethod};

    use super::*;

    fn client(id: &str) -> Arc<Client> {
        Arc::new(Client {
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
        })
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = ClientCache::new(Duration::from_secs(5));
        let start = Instant::now();
        cache.insert(client("a"), start);
        assert!(cache.get("a", start + Duration::from_secs(4)).is_some());
        assert!(cache.get("a", start + Duration::from_secs(5)).is_none());
        assert!(cache.get("b", start).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ClientCache::new(Duration::from_secs(5));
        let start = Instant::now();
        for n in 0..MAX_ENTRIES + 10 {
            cache.insert(client(&format!("c{n}")), start);
        }
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= MAX_ENTRIES, "{len} entries");
        assert!(cache.get(&format!("c{}", MAX_ENTRIES + 9), start).is_some());
    }
}
