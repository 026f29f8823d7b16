//! The storage contract for short-lived state ([`KvStore`]), its error type, and the factory that
//! picks a backend from configuration.
//!
//! Everything kept here is disposable: losing it logs users out or voids an in-flight
//! authorization code, nothing worse. That is why the contract is a small key/value surface with a
//! TTL on every write instead of a database.

use std::sync::Arc;
use std::time::Duration;

use crate::memory::MemoryStore;
use crate::redis_store::RedisStore;

/// How often the in-process store started by [`open_store`] drops expired entries.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Shortest TTL a backend is asked for: Redis rejects `PX 0`.
const MIN_TTL: Duration = Duration::from_millis(1);
/// Longest TTL a backend is asked for: keeps `Instant + ttl` and Redis' absolute expiry from
/// overflowing when a caller passes something like `Duration::MAX`.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time (connection refused, timeout,
    /// a command the server rejected). Callers usually answer 503; readiness reports it.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered, but what it holds cannot be decoded (undecodable JSON, a counter that
    /// is not a number, a set where a value was expected).
    #[error("corrupt value in session store: {0}")]
    Corrupt(String),
}

/// One trait, two implementations ([`MemoryStore`], [`RedisStore`]).
///
/// Keys are plain strings; implementations prepend their own prefix. Every write carries a TTL,
/// clamped to 1 ms ..= 10 years so that neither backend rejects or overflows it.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// Writes (or overwrites) a value and its TTL.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;
    /// Atomic set-if-absent with TTL (Redis SET NX PX). true if written.
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Atomic get-and-delete (Redis GETDEL): of N concurrent takers exactly one gets Some.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Atomic compare-and-swap: replaces the value under `key` with `new` (and its TTL) only if
    /// it holds exactly `expected` right now. false if it holds anything else or nothing, in
    /// which case nothing is written: of N concurrent swaps from the same value one wins.
    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// true if a live key was removed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// true if at least one of `keys` holds a live value or set, in one round trip (Redis
    /// EXISTS); false for an empty list. On a Redis Cluster the keys may live in several hash
    /// slots: the check is then one command per slot, not one snapshot of all the keys.
    async fn exists_any(&self, keys: &[&str]) -> Result<bool, StoreError>;
    /// The values under `keys`, in order, in one round trip (Redis MGET): `None` for a key that
    /// is missing, expired or holds a set. On a Redis Cluster, one MGET per hash slot (no
    /// snapshot across slots).
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Atomic increment; the TTL is set when the counter is created and NOT extended by later
    /// increments, so a rate-limit window cannot be kept open by hammering it. Returns the new
    /// value. The counter reads back through [`KvStore::get`] as its decimal digits.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError>;
    /// Small sets for secondary indexes (e.g. a user's session handles). The TTL applies to the
    /// whole set and is refreshed on add. Returns how many members the set holds after the add
    /// (Redis SCARD in the same transaction), so a caller can enforce a limit without another
    /// round trip.
    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<usize, StoreError>;
    /// Removing the last member removes the set.
    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError>;
    /// Members in no particular order.
    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError>;
    /// Sorted sets, for work queues ordered by due time (Redis ZSET): adds `member` with
    /// `score`, or moves it to `score` if present. Scores are integers (e.g. Unix milliseconds)
    /// within ±2^53, which Redis' double scores hold exactly. The TTL applies to the whole set
    /// and is refreshed on add, as with [`KvStore::set_add`].
    async fn sorted_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// [`KvStore::sorted_add`], then drops every member scored below `drop_scores_below` (the new
    /// one too, if its own score is below), and refreshes the whole set's TTL, in one atomic step
    /// (Redis MULTI: ZADD, ZREMRANGEBYSCORE key -inf (drop, PEXPIRE). Returns how many members
    /// were dropped; a set left empty is removed.
    ///
    /// For indexes whose entries expire one by one: score each entry with its expiry and pass
    /// the current time, and the index never holds more than its live entries plus those expired
    /// since the last add. The cost is O(log n + dropped) on both backends, never a scan.
    async fn sorted_add_trimmed(
        &self,
        key: &str,
        member: &str,
        score: i64,
        drop_scores_below: i64,
        ttl: Duration,
    ) -> Result<usize, StoreError>;
    /// How many members are scored at least `min_score` (Redis `ZCOUNT key min +inf`,
    /// O(log n)); 0 for an absent set. The default reads the members; stores override it.
    async fn sorted_count_from(&self, key: &str, min_score: i64) -> Result<u64, StoreError> {
        let members = self.sorted_members_from(key, min_score).await?;
        Ok(u64::try_from(members.len()).unwrap_or(u64::MAX))
    }
    /// The members scored at least `min_score`, with their scores, lowest score first and ties
    /// by member (Redis ZRANGEBYSCORE key min +inf WITHSCORES); empty for an absent set. Costs
    /// O(log n + returned).
    async fn sorted_members_from(
        &self,
        key: &str,
        min_score: i64,
    ) -> Result<Vec<(String, i64)>, StoreError>;
    /// Atomically claims up to `limit` members whose score is at most `due_by`, lowest score
    /// first, by moving them to score `lease_until`, and returns them. Of concurrent claimers
    /// (other instances included) each member goes to exactly one; the others see it again only
    /// once `due_by` reaches `lease_until`, so a claimer that dies before re-adding or removing
    /// a member hands it back when the lease runs out. `lease_until` must be later than
    /// `due_by`.
    async fn sorted_claim_due(
        &self,
        key: &str,
        due_by: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// true if `member` was in the set. Removing the last member removes the set.
    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError>;
    /// The score of `member`, `None` if it is not in the set.
    async fn sorted_score(&self, key: &str, member: &str) -> Result<Option<i64>, StoreError>;
    /// Readiness probe: Err if the backend cannot be reached (bounded by a short timeout, ~1 s).
    async fn ping(&self) -> Result<(), StoreError>;
}

pub(crate) fn effective_ttl(ttl: Duration) -> Duration {
    ttl.max(MIN_TTL).min(MAX_TTL)
}

/// Factory used by the server: `None` → [`MemoryStore`] (and spawns its sweeper if inside a tokio
/// runtime), `Some(url)` → [`RedisStore`] on one server, a cluster or Sentinel
/// ([`crate::redis_target`]), which connects lazily so that an unreachable Redis does not stop
/// the server from starting.
pub fn open_store(
    redis_url: Option<&str>,
    key_prefix: &str,
) -> Result<Arc<dyn KvStore>, StoreError> {
    match redis_url {
        Some(url) => {
            let store = RedisStore::new(url, key_prefix)?;
            tracing::info!(
                key_prefix,
                topology = store.topology(),
                "session store: Redis"
            );
            Ok(Arc::new(store))
        }
        None => {
            tracing::info!(
                "session store: in-process memory (lost on restart, not shared between instances)"
            );
            let store = Arc::new(MemoryStore::new());
            if tokio::runtime::Handle::try_current().is_ok() {
                store.spawn_sweeper(DEFAULT_SWEEP_INTERVAL);
            } else {
                tracing::warn!(
                    "no tokio runtime: expired session entries are only removed when read"
                );
            }
            Ok(store)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_clamped_to_what_backends_accept() {
        assert_eq!(effective_ttl(Duration::ZERO), MIN_TTL);
        assert_eq!(effective_ttl(Duration::MAX), MAX_TTL);
        assert_eq!(
            effective_ttl(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn open_store_rejects_an_unparseable_url() {
        assert!(matches!(
            open_store(Some("not a url"), "p:"),
            Err(StoreError::Unavailable(_))
        ));
    }

    #[test]
    fn open_store_without_runtime_still_gives_a_memory_store() {
        assert!(open_store(None, "p:").is_ok());
    }
}
