//! Request rate limits shared by every instance, kept in the session store (RFC 6585 §4: the
//! caller answers a refusal with 429 Too Many Requests and `Retry-After`).
//!
//! **Algorithm: a fixed window.** Time is cut into windows of `rule.window` counted from the Unix
//! epoch, so every instance agrees on them; each request increments the counter
//! `rl:<rule>:<subject hash>:<window index>` with [`KvStore::increment`], one atomic round trip
//! whose TTL is set when the counter is created and never extended. A request is allowed while
//! the counter is at most `rule.limit`. Refused requests count too: a client that keeps hammering
//! stays refused until the window ends, and is let in again as soon as it does.
//!
//! **Burst bound.** At most `limit` requests are allowed per window, but the last `limit` of one
//! window and the first `limit` of the next can arrive back to back: any span of length `window`
//! admits at most `2 × limit`. A sliding approximation (the previous window's count weighted by
//! its overlap) would tighten that to about `limit`, at the cost of a second store read per
//! request and a `Retry-After` that can only be estimated. The limits this guards are abuse
//! bounds far above what people do, for which a factor of two is immaterial.
//!
//! Subjects (IP addresses, account ids) are arbitrary text: they enter keys only as a SHA-256
//! prefix, so no separator, length or control character in a subject reaches the store.
//!
//! **Hot endpoints: [`BatchedLimiter`].** The token and introspection endpoints answer thousands
//! of requests a second per core; a store round trip each would cost more than the rest of the
//! request. There each instance counts in memory and adds its count to the same shared counter
//! in batches of `max(1, limit / 100)`, learning the shared total (every instance's flushed
//! counts) from each addition. A request is admitted while this instance's view — the total as
//! of its last addition plus what it has counted since — stays within `limit`. That view is
//! exact on one instance; with N instances each may admit up to one batch less one on a stale
//! view, so a window admits at most `limit + (N - 1) × (batch - 1)`: about 1% of `limit` per
//! additional instance. With `limit < 200` the batch is 1 and every request is one atomic
//! increment, as in [`RateLimiter`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::store::{KvStore, StoreError};

/// Bytes of the subject's SHA-256 kept in the key: 128 bits, no practical collisions.
const SUBJECT_HASH_BYTES: usize = 16;

/// One limit: at most `limit` requests per `window` for each subject. `name` keeps the counters
/// of different rules apart; it is a constant of the caller, e.g. `login_per_ip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateRule {
    pub name: &'static str,
    pub limit: u64,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit until the current window ends, `retry_after_secs` (at least 1) from now.
    Limited {
        retry_after_secs: u64,
        /// true for the first refused request of this subject in this window only, so that a
        /// caller can record a refusal once per window however often it is hammered.
        first_in_window: bool,
    },
}

/// Fixed-window counters over a [`KvStore`]; cheap to clone, shared by all handlers.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn KvStore>,
}

impl RateLimiter {
    pub fn new(store: Arc<dyn KvStore>) -> Self {
        Self { store }
    }

    /// Counts one request of `subject` under `rule` at `now` and says whether it may proceed.
    /// A rule with a zero window or a zero limit refuses nothing and touches nothing.
    pub async fn check(
        &self,
        rule: &RateRule,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        let window_ms = u64::try_from(rule.window.as_millis()).unwrap_or(u64::MAX);
        if window_ms == 0 || rule.limit == 0 {
            return Ok(RateDecision::Allowed);
        }
        // Before the epoch (never in practice) counts as the epoch's first window.
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let index = now_ms / window_ms;
        let elapsed_ms = now_ms % window_ms;
        let key = counter_key(rule.name, subject, index);
        // The counter is only consulted during its own window, which is at most `window` long
        // from the counter's creation on.
        let count = self.store.increment(&key, rule.window).await?;
        if count <= rule.limit {
            return Ok(RateDecision::Allowed);
        }
        let remaining_ms = window_ms - elapsed_ms;
        metrics::counter!("gatehouse_rate_limited_total", "limiter" => rule.name).increment(1);
        Ok(RateDecision::Limited {
            retry_after_secs: remaining_ms.div_ceil(1000).max(1),
            first_in_window: count == rule.limit + 1,
        })
    }
}

impl RateLimiter {
    /// Whether `subject` has used up `rule` in the current window, without counting anything:
    /// for limits that count only failures (a wrong code is counted with [`RateLimiter::check`]
    /// after it failed), asked before an attempt is looked at, so that an attempt over the limit
    /// is refused whether or not it would have been right. `Limited` once the count has reached
    /// `rule.limit`; `first_in_window` is always false.
    pub async fn exhausted(
        &self,
        rule: &RateRule,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        let window_ms = u64::try_from(rule.window.as_millis()).unwrap_or(u64::MAX);
        if window_ms == 0 || rule.limit == 0 {
            return Ok(RateDecision::Allowed);
        }
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let key = counter_key(rule.name, subject, now_ms / window_ms);
        let count = match self.store.get(&key).await? {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|digits| digits.parse::<u64>().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("counter {key:?} is not a number")))?,
        };
        if count < rule.limit {
            return Ok(RateDecision::Allowed);
        }
        let remaining_ms = window_ms - now_ms % window_ms;
        metrics::counter!("gatehouse_rate_limited_total", "limiter" => rule.name).increment(1);
        Ok(RateDecision::Limited {
            retry_after_secs: remaining_ms.div_ceil(1000).max(1),
            first_in_window: false,
        })
    }
}

/// Subjects a [`BatchedLimiter`] counts in memory per window; beyond it (a spray of addresses)
/// a new subject is counted in the store directly, one round trip per request, so memory stays
/// bounded whatever arrives.
const MAX_SUBJECTS: usize = 65_536;
/// How long an instance that could not reach the store waits before trying to add its count
/// again (meanwhile it limits on its own view).
const FLUSH_RETRY_MS: u64 = 1000;
/// Compare-and-swap attempts of one batch addition before it counts as a store failure.
const CAS_ATTEMPTS: usize = 16;

/// A fixed-window limit for hot endpoints, counted locally and shared in batches (module
/// documentation). One per rule; cheap to share behind an `Arc`.
pub struct BatchedLimiter {
    store: Arc<dyn KvStore>,
    rule: RateRule,
    batch: u64,
    /// One lock: held for a hash-map lookup and a few additions, never across an await, so
    /// workers hardly ever wait on it (sharding measured slower: a second hash per request).
    counts: parking_lot::Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    window: u64,
    slots: HashMap<Box<str>, Slot>,
}

/// One subject's counts in the current window, on this instance.
#[derive(Default)]
struct Slot {
    /// The shared total as of this instance's last addition (its own flushed counts included).
    known: u64,
    /// Counted here since, not yet added to the store.
    unflushed: u64,
    /// No addition before this time (Unix ms), after the store failed.
    retry_flush_at_ms: u64,
    /// A refusal of this window has been reported.
    refused: bool,
}

/// What [`BatchedLimiter::take`] decided under the lock.
enum Step {
    Done(RateDecision),
    Flush(u64),
    Direct,
}

impl BatchedLimiter {
    pub fn new(store: Arc<dyn KvStore>, rule: RateRule) -> Self {
        Self {
            store,
            batch: (rule.limit / 100).max(1),
            rule,
            counts: Default::default(),
        }
    }

    pub fn rule(&self) -> &RateRule {
        &self.rule
    }

    /// Local counts added to the store at once.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    fn window(&self, now: DateTime<Utc>) -> Option<(u64, u64)> {
        let window_ms = u64::try_from(self.rule.window.as_millis()).unwrap_or(u64::MAX);
        if window_ms == 0 || self.rule.limit == 0 {
            return None;
        }
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        Some((now_ms / window_ms, window_ms))
    }

    fn limited(&self, now: DateTime<Utc>, first_in_window: bool) -> RateDecision {
        let (_, window_ms) = self.window(now).unwrap_or((0, 1));
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        metrics::counter!("gatehouse_rate_limited_total", "limiter" => self.rule.name).increment(1);
        RateDecision::Limited {
            retry_after_secs: (window_ms - now_ms % window_ms).div_ceil(1000).max(1),
            first_in_window,
        }
    }

    /// Whether `subject` is over the limit in this instance's view, counting nothing and never
    /// touching the store: for a limit counted after the fact ([`BatchedLimiter::take`] once
    /// the request proved whose it is), asked before any work.
    pub fn blocked(&self, subject: &str, now: DateTime<Utc>) -> Option<RateDecision> {
        let (index, _) = self.window(now)?;
        let counts = self.counts.lock();
        if counts.window != index {
            return None;
        }
        let slot = counts.slots.get(subject)?;
        (slot.known.saturating_add(slot.unflushed) >= self.rule.limit)
            .then(|| self.limited(now, false))
    }

    /// Counts `cost` requests of `subject` and says whether they may proceed. A refused
    /// request counts nothing: once over, a subject stays over until the window ends. Touches
    /// the store only when this instance's unflushed count reaches a batch.
    pub async fn take(
        &self,
        subject: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        let Some((index, _)) = self.window(now) else {
            return Ok(RateDecision::Allowed);
        };
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let step = {
            let mut counts = self.counts.lock();
            if index > counts.window {
                counts.window = index;
                counts.slots.clear();
            }
            if index < counts.window {
                // A request that read the clock just before the window turned: let it be.
                return Ok(RateDecision::Allowed);
            }
            let full = counts.slots.len() >= MAX_SUBJECTS;
            match counts.slots.get_mut(subject) {
                Some(slot) => self.count_locally(slot, cost, now, now_ms),
                None if full => Step::Direct,
                None => {
                    let mut slot = Slot::default();
                    let step = self.count_locally(&mut slot, cost, now, now_ms);
                    counts.slots.insert(subject.into(), slot);
                    step
                }
            }
        };
        let key = || counter_key(self.rule.name, subject, index);
        match step {
            Step::Done(decision) => Ok(decision),
            Step::Direct => {
                let total = self.add(&key(), cost).await?;
                Ok(if total <= self.rule.limit {
                    RateDecision::Allowed
                } else {
                    self.limited(now, total.saturating_sub(cost) <= self.rule.limit)
                })
            }
            Step::Flush(amount) => {
                let added = self.add(&key(), amount).await;
                let mut counts = self.counts.lock();
                let slot = (counts.window == index)
                    .then(|| counts.slots.get_mut(subject))
                    .flatten();
                match added {
                    Ok(total) => {
                        let Some(slot) = slot else {
                            return Ok(RateDecision::Allowed);
                        };
                        slot.known = slot.known.max(total);
                        if total <= self.rule.limit {
                            return Ok(RateDecision::Allowed);
                        }
                        let first = !std::mem::replace(&mut slot.refused, true);
                        Ok(self.limited(now, first))
                    }
                    Err(err) => {
                        // Keep the count for the next attempt, and limit on the local view
                        // meanwhile; the caller lets this request through.
                        if let Some(slot) = slot {
                            slot.unflushed = slot.unflushed.saturating_add(amount);
                            slot.retry_flush_at_ms = now_ms.saturating_add(FLUSH_RETRY_MS);
                        }
                        Err(err)
                    }
                }
            }
        }
    }

    fn count_locally(&self, slot: &mut Slot, cost: u64, now: DateTime<Utc>, now_ms: u64) -> Step {
        let seen = slot.known.saturating_add(slot.unflushed);
        if seen.saturating_add(cost) > self.rule.limit {
            let first = !std::mem::replace(&mut slot.refused, true);
            return Step::Done(self.limited(now, first));
        }
        slot.unflushed += cost;
        if slot.unflushed >= self.batch && now_ms >= slot.retry_flush_at_ms {
            Step::Flush(std::mem::take(&mut slot.unflushed))
        } else {
            Step::Done(RateDecision::Allowed)
        }
    }

    /// Adds `amount` to the shared counter and returns the new total: one atomic increment for
    /// 1, else a compare-and-swap (read, then replace if unchanged). The TTL of a window's
    /// counter only needs to outlast that window.
    async fn add(&self, key: &str, amount: u64) -> Result<u64, StoreError> {
        if amount == 1 {
            return self.store.increment(key, self.rule.window).await;
        }
        for _ in 0..CAS_ATTEMPTS {
            match self.store.get(key).await? {
                None => {
                    let value = amount.to_string();
                    if self
                        .store
                        .put_if_absent(key, value.as_bytes(), self.rule.window)
                        .await?
                    {
                        return Ok(amount);
                    }
                }
                Some(current) => {
                    let count = std::str::from_utf8(&current)
                        .ok()
                        .and_then(|digits| digits.parse::<u64>().ok())
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("counter {key:?} is not a number"))
                        })?;
                    let total = count.saturating_add(amount);
                    if self
                        .store
                        .replace_if(
                            key,
                            &current,
                            total.to_string().as_bytes(),
                            self.rule.window,
                        )
                        .await?
                    {
                        return Ok(total);
                    }
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "counter {key:?}: no compare-and-swap succeeded in {CAS_ATTEMPTS} attempts"
        )))
    }
}

/// `rl:<rule>:<first 16 bytes of SHA-256(subject), hex>:<window index>`.
fn counter_key(rule: &str, subject: &str, window_index: u64) -> String {
    let digest = Sha256::digest(subject.as_bytes());
    let subject_hash = hex::encode(&digest[..SUBJECT_HASH_BYTES]);
    format!("rl:{rule}:{subject_hash}:{window_index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exhausted_reads_the_count_without_adding_to_it() {
        let limiter = RateLimiter::new(Arc::new(crate::MemoryStore::new()));
        let rule = RateRule {
            name: "wrong_codes",
            limit: 2,
            window: Duration::from_secs(60),
        };
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        for _ in 0..5 {
            assert_eq!(
                limiter.exhausted(&rule, "a", now).await.unwrap(),
                RateDecision::Allowed
            );
        }
        limiter.check(&rule, "a", now).await.unwrap();
        assert_eq!(
            limiter.exhausted(&rule, "a", now).await.unwrap(),
            RateDecision::Allowed
        );
        limiter.check(&rule, "a", now).await.unwrap();
        assert!(matches!(
            limiter.exhausted(&rule, "a", now).await.unwrap(),
            RateDecision::Limited { .. }
        ));
        assert_eq!(
            limiter.exhausted(&rule, "b", now).await.unwrap(),
            RateDecision::Allowed
        );
        let next_window = now + chrono::Duration::seconds(60);
        assert_eq!(
            limiter.exhausted(&rule, "a", next_window).await.unwrap(),
            RateDecision::Allowed
        );
    }

    fn hot_rule(limit: u64) -> RateRule {
        RateRule {
            name: "token_per_client",
            limit,
            window: Duration::from_secs(60),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    async fn admitted(limiter: &BatchedLimiter, subject: &str, n: u64, now: DateTime<Utc>) -> u64 {
        let mut allowed = 0;
        for _ in 0..n {
            if limiter.take(subject, 1, now).await.unwrap() == RateDecision::Allowed {
                allowed += 1;
            }
        }
        allowed
    }

    #[tokio::test]
    async fn one_instance_admits_exactly_the_limit_and_touches_the_store_per_batch() {
        let store = Arc::new(crate::MemoryStore::new());
        let limiter = BatchedLimiter::new(store.clone(), hot_rule(1000));
        assert_eq!(limiter.batch(), 10);
        let now = at(1_700_000_000);
        assert_eq!(admitted(&limiter, "c", 5, now).await, 5);
        // Below one batch: nothing in the store yet.
        let key = counter_key("token_per_client", "c", 1_700_000_000 / 60);
        assert_eq!(store.get(&key).await.unwrap(), None);
        assert_eq!(admitted(&limiter, "c", 5, now).await, 5);
        assert_eq!(store.get(&key).await.unwrap(), Some(b"10".to_vec()));
        assert_eq!(admitted(&limiter, "c", 2000, now).await, 990);
        assert!(limiter.blocked("c", now).is_some());
        assert!(limiter.blocked("d", now).is_none());
        match limiter.take("c", 1, now).await.unwrap() {
            RateDecision::Limited {
                retry_after_secs,
                first_in_window,
            } => {
                assert_eq!(retry_after_secs, 60 - 1_700_000_000 % 60);
                assert!(!first_in_window, "the first refusal was reported already");
            }
            RateDecision::Allowed => panic!("over the limit"),
        }
        // The next window starts afresh.
        let next = at(1_700_000_000 + 60);
        assert!(limiter.blocked("c", next).is_none());
        assert_eq!(admitted(&limiter, "c", 10, next).await, 10);
    }

    #[tokio::test]
    async fn instances_share_one_budget_within_the_documented_slack() {
        let store: Arc<dyn KvStore> = Arc::new(crate::MemoryStore::new());
        let a = BatchedLimiter::new(store.clone(), hot_rule(1000));
        let b = BatchedLimiter::new(store.clone(), hot_rule(1000));
        let now = at(1_700_000_000);
        let mut total = 0;
        // Interleaved, as two instances behind a balancer.
        for _ in 0..1500 {
            total += admitted(&a, "c", 1, now).await;
            total += admitted(&b, "c", 1, now).await;
        }
        let slack = a.batch() - 1;
        assert!(
            (1000..=1000 + slack).contains(&total),
            "two instances admitted {total}"
        );
        // Small limits count every request in the store: exact across instances.
        let a = BatchedLimiter::new(store.clone(), hot_rule(5));
        let b = BatchedLimiter::new(store.clone(), hot_rule(5));
        let later = at(1_700_000_600);
        assert_eq!(admitted(&a, "x", 3, later).await, 3);
        assert_eq!(admitted(&b, "x", 3, later).await, 2);
        assert_eq!(admitted(&a, "x", 1, later).await, 0);
    }

    #[tokio::test]
    async fn batches_add_up_in_redis_across_instances() {
        let Some(url) = std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("skipped: needs TEST_REDIS_URL");
            return;
        };
        let prefix = format!("gh_test:rl:{}:", uuid::Uuid::new_v4().simple());
        let store: Arc<dyn KvStore> = Arc::new(crate::RedisStore::new(&url, &prefix).unwrap());
        let a = BatchedLimiter::new(store.clone(), hot_rule(1000));
        let b = BatchedLimiter::new(store.clone(), hot_rule(1000));
        let now = at(1_700_000_000);
        let mut total = 0;
        for _ in 0..700 {
            total += admitted(&a, "c", 1, now).await;
            total += admitted(&b, "c", 1, now).await;
        }
        assert!(
            (1000..1000 + a.batch()).contains(&total),
            "two instances admitted {total}"
        );
        // Every flushed batch reached the shared counter (compare-and-swap, batch 10).
        let key = counter_key("token_per_client", "c", 1_700_000_000 / 60);
        let stored: u64 = String::from_utf8(store.get(&key).await.unwrap().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!((1000..=1000 + 2 * a.batch()).contains(&stored), "{stored}");
        store.delete(&key).await.unwrap();
    }

    #[tokio::test]
    async fn a_heavier_request_spends_its_weight() {
        let limiter = BatchedLimiter::new(Arc::new(crate::MemoryStore::new()), hot_rule(100));
        let now = at(1_700_000_000);
        for _ in 0..4 {
            assert_eq!(
                limiter.take("ip", 20, now).await.unwrap(),
                RateDecision::Allowed
            );
        }
        // 80 spent: a failure of weight 20 still fits, the next request does not.
        assert_eq!(
            limiter.take("ip", 20, now).await.unwrap(),
            RateDecision::Allowed
        );
        assert!(matches!(
            limiter.take("ip", 1, now).await.unwrap(),
            RateDecision::Limited {
                first_in_window: true,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_spray_of_subjects_is_counted_in_the_store_beyond_the_memory_bound() {
        let store = Arc::new(crate::MemoryStore::new());
        let limiter = BatchedLimiter::new(store.clone(), hot_rule(1000));
        let now = at(1_700_000_000);
        for i in 0..(MAX_SUBJECTS + 100) {
            limiter.take(&format!("s{i}"), 1, now).await.unwrap();
        }
        let held = limiter.counts.lock().slots.len();
        assert_eq!(held, MAX_SUBJECTS);
        // The next window frees the memory as it is used.
        limiter.take("s0", 1, at(1_700_000_060)).await.unwrap();
        assert_eq!(limiter.counts.lock().slots.len(), 1);
    }

    #[test]
    fn keys_hash_the_subject_and_name_rule_and_window() {
        let key = counter_key("login_per_ip", "10.0.0.1", 42);
        let parts: Vec<&str> = key.split(':').collect();
        assert_eq!(parts.len(), 4, "{key}");
        assert_eq!(parts[0], "rl");
        assert_eq!(parts[1], "login_per_ip");
        assert_eq!(parts[2].len(), 2 * SUBJECT_HASH_BYTES);
        assert!(parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(parts[3], "42");
        // Separators and control characters in a subject never reach the key.
        let odd = counter_key("r", "a:b\r\n c", 1);
        assert_eq!(odd.split(':').count(), 4, "{odd}");
        assert!(!odd.chars().any(char::is_control));
        assert_ne!(
            counter_key("r", "10.0.0.1", 1),
            counter_key("r", "10.0.0.2", 1)
        );
    }
}
