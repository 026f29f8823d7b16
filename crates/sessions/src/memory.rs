//! In-process [`KvStore`] for single-instance deployments, development and tests.
//!
//! It mirrors the Redis semantics the rest of the crate relies on (SET NX, GETDEL, INCR with a
//! TTL fixed at creation, sets and sorted sets with a whole-set TTL). Expiry is measured with
//! [`tokio::time::Instant`], so tests move the clock with `tokio::time::pause()`/`advance()`
//! instead of sleeping. Expired entries are invisible at once and removed lazily on access or by
//! the sweeper ([`MemoryStore::spawn_sweeper`]) so that memory does not grow without bound.

use std::collections::{HashMap, HashSet};
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
    /// Member → score.
    Sorted(HashMap<String, i64>),
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
        let now = Instant::now();
        let mut entries = self.entries.lock();
        match live_entry(&mut entries, key, now) {
            Some(entry) => {
                let Value::Sorted(members) = &mut entry.value else {
                    return Err(wrong_type(key, "sorted set"));
                };
                members.insert(member.to_owned(), score);
                entry.expires_at = now + effective_ttl(ttl);
            }
            None => {
                let members = HashMap::from([(member.to_owned(), score)]);
                entries.insert(key.to_owned(), Entry::new(Value::Sorted(members), now, ttl));
            }
        }
        Ok(())
    }

    async fn sorted_claim_due(
        &self,
        key: &str,
        due_by: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut entries = self.entries.lock();
        let members = match live_entry(&mut entries, key, Instant::now()) {
            None => return Ok(Vec::new()),
            Some(Entry {
                value: Value::Sorted(members),
                ..
            }) => members,
            Some(_) => return Err(wrong_type(key, "sorted set")),
        };
        // Redis' order: by score, then by member.
        let mut due: Vec<(i64, String)> = members
            .iter()
            .filter(|(_, score)| **score <= due_by)
            .map(|(member, score)| (*score, member.clone()))
            .collect();
        due.sort_unstable();
        due.truncate(limit);
        let claimed: Vec<String> = due.into_iter().map(|(_, member)| member).collect();
        for member in &claimed {
            members.insert(member.clone(), lease_until);
        }
        Ok(claimed)
    }

    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock();
        let (removed, now_empty) = match live_entry(&mut entries, key, Instant::now()) {
            None => return Ok(false),
            Some(Entry {
                value: Value::Sorted(members),
                ..
            }) => (members.remove(member).is_some(), members.is_empty()),
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
                value: Value::Sorted(members),
                ..
            }) => Ok(members.get(member).copied()),
            Some(_) => Err(wrong_type(key, "sorted set")),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
