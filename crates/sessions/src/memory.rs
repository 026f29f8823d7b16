//! In-process [`KvStore`] for single-instance deployments, development and tests.
//!
//! It mirrors the Redis semantics the rest of the crate relies on (SET NX, GETDEL, INCR with a
//! TTL fixed at creation, sets and sorted sets with a whole-set TTL). Expiry is measured with
//! [`tokio::time::Instant`], so tests move the clock with `tokio::time::pause()`/`advance()`
//! instead of sleeping. Expired entries are invisible at once and removed lazily on access or by
//! the sweeper ([`MemoryStore::spawn_sweeper`]) so that memory does not grow without bound.
//!
//! A sorted set keeps, as Redis' skiplist does, an index ordered by score beside the member →
//! score map, so that range reads, trims and claims cost O(log n + k) for the k members they
//! touch, never a scan: an index trimmed on every add (a user's grants) can hold thousands.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::store::{KvStore, StoreError, effective_ttl};

#[derive(Debug)]
enum Value {
    Bytes(Vec<u8>),
    Set(HashSet<String>),
    /// Boxed so that the common `Bytes` entry stays as small as a set's.
    Sorted(Box<SortedSet>),
}

/// A Redis ZSET: member → score, plus the members ordered as Redis orders them (by score, then
/// by member). Each member is one shared allocation referenced from both.
#[derive(Debug, Default)]
struct SortedSet {
    scores: HashMap<Arc<str>, i64>,
    by_score: BTreeSet<(i64, Arc<str>)>,
}

impl SortedSet {
    /// Adds `member` at `score`, or moves it there. O(log n).
    fn insert(&mut self, member: &str, score: i64) {
        match self.scores.get_key_value(member) {
            Some((_, &old)) if old == score => {}
            Some((shared, &old)) => {
                let shared = Arc::clone(shared);
                self.by_score.remove(&(old, Arc::clone(&shared)));
                self.by_score.insert((score, Arc::clone(&shared)));
                self.scores.insert(shared, score);
            }
            None => {
                let shared: Arc<str> = Arc::from(member);
                self.by_score.insert((score, Arc::clone(&shared)));
                self.scores.insert(shared, score);
            }
        }
    }

    /// true if `member` was present. O(log n).
    fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove_entry(member) {
            Some((shared, score)) => self.by_score.remove(&(score, shared)),
            None => false,
        }
    }

    /// Removes every member scored below `bound`; returns how many. O(log n + removed): the
    /// lowest scores are at the front of the ordered index.
    fn remove_below(&mut self, bound: i64) -> usize {
        let mut removed = 0;
        while self
            .by_score
            .first()
            .is_some_and(|(score, _)| *score < bound)
            && let Some((_, member)) = self.by_score.pop_first()
        {
            self.scores.remove(&member);
            removed += 1;
        }
        removed
    }

    /// Members scored at least `min`, in Redis order. O(log n) to the first.
    fn members_from(&self, min: i64) -> impl Iterator<Item = &(i64, Arc<str>)> {
        // The empty member sorts before every other member of the same score.
        self.by_score.range((min, Arc::from(""))..)
    }

    fn score(&self, member: &str) -> Option<i64> {
        self.scores.get(member).copied()
    }

    fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Instant,
}

impl Entry {
    fn new(value: Value, now: Instant, ttl: Duration) -> Self {
        Self {
            value,
            expires_at: now + effective_ttl(ttl),
        }
    }

    fn is_live(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

/// A map of key → (value, expiry) behind one mutex. The lock is never held across an `.await`;
/// every operation is a few hash-map steps, so sharding would buy nothing at our volumes.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every expired entry; returns how many were removed.
    pub fn sweep_expired(&self) -> usize {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|_, entry| entry.is_live(now));
        before - entries.len()
    }

    /// Entries held, including expired ones not yet removed (for metrics and tests).
    pub fn stored_entries(&self) -> usize {
        self.entries.lock().len()
    }

    /// The keys of live entries, in no particular order (for tests and debugging).
    pub fn live_keys(&self) -> Vec<String> {
        let now = Instant::now();
        self.entries
            .lock()
            .iter()
            .filter(|(_, entry)| entry.is_live(now))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Sweeps every `every` on the current tokio runtime (panics outside one, like
    /// `tokio::spawn`). The task holds only a `Weak`, so it ends once the store is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) -> JoinHandle<()> {
        let store = Arc::downgrade(self);
        // tokio::time::interval panics on a zero period.
        let every = every.max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(store) = store.upgrade() else { break };
                let removed = store.sweep_expired();
                if removed > 0 {
                    tracing::trace!(removed, "swept expired session store entries");
                }
            }
        })
    }

    /// [`KvStore::sorted_add`], and with `drop_scores_below` [`KvStore::sorted_add_trimmed`]:
    /// the add, the trim and the TTL renewal under one lock. Returns how many members the trim
    /// dropped. A set the trim leaves empty is removed, as Redis removes an emptied key.
    fn add_sorted(
        &self,
        key: &str,
        member: &str,
        score: i64,
        drop_scores_below: Option<i64>,
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let trim =
            |set: &mut SortedSet| drop_scores_below.map_or(0, |bound| set.remove_below(bound));
        let (dropped, now_empty) = match live_entry(&mut entries, key, now) {
            Some(entry) => {
                let Value::Sorted(set) = &mut entry.value else {
                    return Err(wrong_type(key, "sorted set"));
                };
                set.insert(member, score);
                let dropped = trim(set);
                entry.expires_at = now + effective_ttl(ttl);
                (dropped, set.is_empty())
            }
            None => {
                let mut set = Box::<SortedSet>::default();
                set.insert(member, score);
                let dropped = trim(&mut set);
                if !set.is_empty() {
                    entries.insert(key.to_owned(), Entry::new(Value::Sorted(set), now, ttl));
                }
                return Ok(dropped);
            }
        };
        if now_empty {
            entries.remove(key);
        }
        Ok(dropped)
    }
}

/// The live entry under `key`; an expired one is removed on the way so it cannot be seen again.
fn live_entry<'a>(
    entries: &'a mut HashMap<String, Entry>,
    key: &str,
    now: Instant,
) -> Option<&'a mut Entry> {
    if entries.get(key).is_some_and(|entry| !entry.is_live(now)) {
        entries.remove(key);
        return None;
    }
    entries.get_mut(key)
}

fn wrong_type(key: &str, expected: &str) -> StoreError {
    StoreError::Corrupt(format!("key {key:?} does not hold a {expected}"))
}

#[async_trait::async_trait]
impl KvStore for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let entry = Entry::new(Value::Bytes(value.to_vec()), Instant::now(), ttl);
        self.entries.lock().insert(key.to_owned(), entry);
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if live_entry(&mut entries, key, now).is_some() {
            return Ok(false);
        }
        let entry = Entry::new(Value::Bytes(value.to_vec()), now, ttl);
        entries.insert(key.to_owned(), entry);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, Instant::now()) {
            None => Ok(None),
            Some(Entry {
                value: Value::Bytes(bytes),
                ..
            }) => Ok(Some(bytes.clone())),
            Some(_) => Err(wrong_type(key, "value")),
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, Instant::now()) {
            None => return Ok(None),
            // Like GETDEL on a set: refuse and leave it in place.
            Some(Entry {
                value: Value::Set(_) | Value::Sorted(_),
                ..
            }) => return Err(wrong_type(key, "value")),
            Some(_) => {}
        }
        match entries.remove(key) {
            Some(Entry {
                value: Value::Bytes(bytes),
                ..
            }) => Ok(Some(bytes)),
            _ => Ok(None),
        }
    }

    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, now) {
            Some(entry) if matches!(&entry.value, Value::Bytes(held) if held == expected) => {
                *entry = Entry::new(Value::Bytes(new.to_vec()), now, ttl);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn exists_any(&self, keys: &[&str]) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        Ok(keys
            .iter()
            .any(|key| live_entry(&mut entries, key, now).is_some()))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        Ok(keys
            .iter()
            .map(|key| match live_entry(&mut entries, key, now) {
                Some(Entry {
                    value: Value::Bytes(bytes),
                    ..
                }) => Some(bytes.clone()),
                _ => None,
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        let removed = self.entries.lock().remove(key);
        Ok(removed.is_some_and(|entry| entry.is_live(now)))
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let Some(entry) = live_entry(&mut entries, key, now) else {
            entries.insert(
                key.to_owned(),
                Entry::new(Value::Bytes(b"1".to_vec()), now, ttl),
            );
            return Ok(1);
        };
        let Value::Bytes(bytes) = &mut entry.value else {
            return Err(wrong_type(key, "counter"));
        };
        let next = std::str::from_utf8(bytes)
            .ok()
            .and_then(|digits| digits.parse::<u64>().ok())
            .and_then(|count| count.checked_add(1))
            .ok_or_else(|| wrong_type(key, "counter"))?;
        *bytes = next.to_string().into_bytes();
        Ok(next)
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<usize, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, now) {
            Some(entry) => {
                let Value::Set(members) = &mut entry.value else {
                    return Err(wrong_type(key, "set"));
                };
                members.insert(member.to_owned());
                let len = members.len();
                entry.expires_at = now + effective_ttl(ttl);
                Ok(len)
            }
            None => {
                let members = HashSet::from([member.to_owned()]);
                entries.insert(key.to_owned(), Entry::new(Value::Set(members), now, ttl));
                Ok(1)
            }
        }
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut entries = self.entries.lock();
        let now_empty = match live_entry(&mut entries, key, Instant::now()) {
            None => return Ok(()),
            Some(Entry {
                value: Value::Set(members),
                ..
            }) => {
                members.remove(member);
                members.is_empty()
            }
            Some(_) => return Err(wrong_type(key, "set")),
        };
        if now_empty {
            entries.remove(key);
        }
        Ok(())
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, Instant::now()) {
            None => Ok(Vec::new()),
            Some(Entry {
                value: Value::Set(members),
                ..
            }) => Ok(members.iter().cloned().collect()),
            Some(_) => Err(wrong_type(key, "set")),
        }
    }

    async fn sorted_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.add_sorted(key, member, score, None, ttl).map(|_| ())
    }

    async fn sorted_add_trimmed(
        &self,
        key: &str,
        member: &str,
        score: i64,
        drop_scores_below: i64,
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        self.add_sorted(key, member, score, Some(drop_scores_below), ttl)
    }

    async fn sorted_count_from(&self, key: &str, min_score: i64) -> Result<u64, StoreError> {
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, Instant::now()) {
            None => Ok(0),
            Some(Entry {
                value: Value::Sorted(set),
                ..
            }) => Ok(u64::try_from(set.members_from(min_score).count()).unwrap_or(u64::MAX)),
            Some(_) => Err(wrong_type(key, "sorted set")),
        }
    }

    async fn sorted_members_from(
        &self,
        key: &str,
        min_score: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, Instant::now()) {
            None => Ok(Vec::new()),
            Some(Entry {
                value: Value::Sorted(set),
                ..
            }) => Ok(set
                .members_from(min_score)
                .map(|(score, member)| (member.to_string(), *score))
                .collect()),
            Some(_) => Err(wrong_type(key, "sorted set")),
        }
    }

    async fn sorted_claim_due(
        &self,
        key: &str,
        due_by: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut entries = self.entries.lock();
        let set = match live_entry(&mut entries, key, Instant::now()) {
            None => return Ok(Vec::new()),
            Some(Entry {
                value: Value::Sorted(set),
                ..
            }) => set,
            Some(_) => return Err(wrong_type(key, "sorted set")),
        };
        let due: Vec<Arc<str>> = set
            .by_score
            .iter()
            .take_while(|(score, _)| *score <= due_by)
            .take(limit)
            .map(|(_, member)| Arc::clone(member))
            .collect();
        for member in &due {
            set.insert(member, lease_until);
        }
        Ok(due.iter().map(|member| member.to_string()).collect())
    }

    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock();
        let (removed, now_empty) = match live_entry(&mut entries, key, Instant::now()) {
            None => return Ok(false),
            Some(Entry {
                value: Value::Sorted(set),
                ..
            }) => (set.remove(member), set.is_empty()),
            Some(_) => return Err(wrong_type(key, "sorted set")),
        };
        if now_empty {
            entries.remove(key);
        }
        Ok(removed)
    }

    async fn sorted_score(&self, key: &str, member: &str) -> Result<Option<i64>, StoreError> {
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, Instant::now()) {
            None => Ok(None),
            Some(Entry {
                value: Value::Sorted(set),
                ..
            }) => Ok(set.score(member)),
            Some(_) => Err(wrong_type(key, "sorted set")),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two views of a sorted set hold the same members at the same scores.
    fn assert_consistent(set: &SortedSet) {
        assert_eq!(set.scores.len(), set.by_score.len());
        for (score, member) in &set.by_score {
            assert_eq!(set.scores.get(member), Some(score), "{member}");
        }
    }

    #[test]
    fn both_views_of_a_sorted_set_agree_after_every_kind_of_change() {
        let mut set = SortedSet::default();
        for i in 0..50_i64 {
            set.insert(&format!("m{}", i % 20), (i * 7) % 13);
            assert_consistent(&set);
        }
        assert_eq!(set.scores.len(), 20);
        assert!(set.remove("m3"));
        assert!(!set.remove("m3"));
        assert_consistent(&set);
        let below = set.by_score.iter().filter(|(score, _)| *score < 6).count();
        assert_eq!(set.remove_below(6), below);
        assert_consistent(&set);
        assert!(set.by_score.iter().all(|(score, _)| *score >= 6));
        let remaining = set.by_score.len();
        assert_eq!(set.remove_below(i64::MAX), remaining);
        assert!(set.is_empty());
        assert_consistent(&set);
    }

    #[test]
    fn members_from_starts_at_the_first_member_of_the_bound_score() {
        let mut set = SortedSet::default();
        for (member, score) in [("", 5), ("a", 5), ("b", 4), ("c", 6)] {
            set.insert(member, score);
        }
        let from: Vec<(i64, &str)> = set
            .members_from(5)
            .map(|(score, member)| (*score, &**member))
            .collect();
        assert_eq!(from, [(5, ""), (5, "a"), (6, "c")]);
    }

    #[tokio::test]
    async fn trimmed_adds_and_range_reads_on_another_kind_are_corrupt_and_leave_it() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(30);
        store.put("k", b"v", ttl).await.unwrap();
        store.set_add("s", "m", ttl).await.unwrap();
        for key in ["k", "s"] {
            assert!(matches!(
                store.sorted_add_trimmed(key, "m", 1, 0, ttl).await,
                Err(StoreError::Corrupt(_))
            ));
            assert!(matches!(
                store.sorted_members_from(key, 0).await,
                Err(StoreError::Corrupt(_))
            ));
        }
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(store.set_members("s").await.unwrap(), ["m"]);
    }
}
