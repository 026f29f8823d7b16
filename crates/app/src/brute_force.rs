//! Brute-force protection by source: failed sign-ins counted per (login, source) and per source in
//! the session store, answered with a growing delay instead of a lock. The account-wide ceiling
//! (`identity::LockoutPolicy`, in the database) is the other half; `docs/brute-force.md` tells
//! the whole scheme.
//!
//! **Where the counts live.** In the [`KvStore`], not the database: every instance reads the same
//! counts (with Redis), every record carries a TTL so nothing needs cleaning up, and an attacker
//! spraying logins from many addresses writes short-lived keys instead of rows. Losing the store
//! forgets delays, never a lock: the lock for everyone is the account's database row.
//!
//! **The delay.** A record holds the failures of its subject, the time of the last one and the
//! time the subject may try again. Once a subject has `threshold` failures, each further failure
//! makes it wait `first_delay × 2^(failures − threshold)`, capped at `max_delay`; an attempt
//! before then is refused without looking at the password (the caller answers 429 with
//! `Retry-After`, RFC 6585 §4 and RFC 9110 §10.2.3), so a delayed source learns nothing, and no
//! worker sleeps. A record is forgotten `memory` after its last failure, or after the end of
//! its delay if it has one.
//!
//! **Subjects.** The login as typed (trimmed, lowercased) with the client IP, and the client IP
//! alone. The login is the typed text, not the account it names, so an unknown username is
//! counted and delayed exactly like a known one and the answers do not tell them apart. Both
//! enter keys only as a SHA-256 prefix.
//!
//! Time comes from the caller; the store's TTLs only collect garbage, the stored times decide.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use gatehouse_sessions::{KvStore, StoreError};
use sha2::{Digest, Sha256};

/// Bytes of the subject's SHA-256 kept in a key: 128 bits, no practical collisions.
const SUBJECT_HASH_BYTES: usize = 16;
/// Compare-and-swap rounds before a failure is written over whatever raced with it.
const UPDATE_ROUNDS: usize = 8;
/// Doublings beyond which any delay is at its cap anyway (2^40 ms is 34 years).
const MAX_DOUBLINGS: u32 = 40;

/// When sources are made to wait. Built from the `[lockout]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePolicy {
    /// Failures of one login from one source before that source waits for that login; 0: never.
    pub delay_after: u32,
    /// Failures from one source, over all logins, before the source waits for every login;
    /// 0: never.
    pub source_delay_after: u32,
    /// The first wait; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// How long after its last failure a source's count is kept.
    pub memory: Duration,
}

impl Default for SourcePolicy {
    /// The defaults of `config/default.toml`.
    fn default() -> Self {
        SourcePolicy {
            delay_after: 3,
            source_delay_after: 30,
            first_delay: Duration::seconds(1),
            max_delay: Duration::minutes(15),
            memory: Duration::minutes(15),
        }
    }
}

/// The failures of one subject, as stored: `failures last_failure_ms delayed_until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FailureRecord {
    pub failures: u32,
    /// Unix milliseconds.
    pub last_failure: i64,
    /// Unix milliseconds; no attempt before it. 0 when the subject is not delayed.
    pub delayed_until: i64,
}

impl FailureRecord {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut fields = text.split(' ');
        let record = FailureRecord {
            failures: fields.next()?.parse().ok()?,
            last_failure: fields.next()?.parse().ok()?,
            delayed_until: fields.next()?.parse().ok()?,
        };
        fields.next().is_none().then_some(record)
    }

    fn encode(self) -> String {
        format!(
            "{} {} {}",
            self.failures, self.last_failure, self.delayed_until
        )
    }

    /// When the record stops mattering: `memory` after the last failure or, if it is delayed,
    /// after its delay ends. Counted from the end of the delay, so that a source that tries
    /// again the moment each wait is over stays at the longest wait instead of starting over.
    fn forgotten_at(self, memory: Duration) -> i64 {
        self.last_failure
            .max(self.delayed_until)
            .saturating_add(memory.num_milliseconds())
    }

    fn live(self, memory: Duration, now_ms: i64) -> bool {
        now_ms < self.forgotten_at(memory)
    }
}

/// The wait after a subject's `failures`-th failure, if it has reached `threshold`.
pub(crate) fn delay_for(failures: u32, threshold: u32, policy: &SourcePolicy) -> Option<Duration> {
    if threshold == 0 || failures < threshold {
        return None;
    }
    let doublings = (failures - threshold).min(MAX_DOUBLINGS);
    let first = policy.first_delay.num_milliseconds().max(0);
    let cap = policy.max_delay.num_milliseconds().max(0);
    Some(Duration::milliseconds(
        first.saturating_mul(1_i64 << doublings).min(cap),
    ))
}

/// The record after one more failure at `now_ms`: a forgotten record starts again from one.
pub(crate) fn after_failure(
    previous: Option<FailureRecord>,
    threshold: u32,
    policy: &SourcePolicy,
    now_ms: i64,
) -> FailureRecord {
    let previous = previous.filter(|record| record.live(policy.memory, now_ms));
    let failures = previous.map_or(1, |record| record.failures.saturating_add(1));
    let delayed_until = delay_for(failures, threshold, policy)
        .map_or(0, |delay| now_ms.saturating_add(delay.num_milliseconds()))
        .max(previous.map_or(0, |record| record.delayed_until));
    FailureRecord {
        failures,
        last_failure: now_ms,
        delayed_until,
    }
}

/// Whole seconds (at least one) until the subject may try again, if it must wait.
pub(crate) fn retry_after(record: Option<FailureRecord>, now_ms: i64) -> Option<u64> {
    let record = record?;
    let remaining = record.delayed_until.checked_sub(now_ms)?;
    (remaining > 0).then(|| {
        u64::try_from(remaining)
            .unwrap_or(u64::MAX)
            .div_ceil(1000)
            .max(1)
    })
}

/// What the store said before an attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SourceStanding {
    /// Seconds to wait before this attempt may be looked at.
    pub retry_after_secs: Option<u64>,
    /// This login has failures from this source on record (a success wipes them).
    pub pair_failures: bool,
}

/// A delay that a failure started (or lengthened), for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DelayStarted {
    pub scope: DelayScope,
    pub failures: u32,
    pub delay: Duration,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DelayScope {
    /// One login from one source.
    LoginFromSource,
    /// Every login from one source.
    Source,
}

impl DelayScope {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DelayScope::LoginFromSource => "login_from_source",
            DelayScope::Source => "source",
        }
    }
}

/// The per-source counters over the session store. Cheap to clone.
#[derive(Clone)]
pub struct BruteForceGuard {
    store: Arc<dyn KvStore>,
    policy: SourcePolicy,
}

impl BruteForceGuard {
    pub fn new(store: Arc<dyn KvStore>, policy: SourcePolicy) -> Self {
        BruteForceGuard { store, policy }
    }

    pub fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    /// Reads the pair's and the source's records (one round trip).
    pub(crate) async fn standing(
        &self,
        login: &str,
        source: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SourceStanding, StoreError> {
        let (pair, whole) = keys(login, source);
        let values = self.store.get_many(&[&pair, &whole]).await?;
        let now_ms = now.timestamp_millis();
        let memory = self.policy.memory;
        let mut records = values.iter().map(|value| {
            value
                .as_deref()
                .and_then(FailureRecord::parse)
                .filter(|record| record.live(memory, now_ms))
        });
        let pair_record = records.next().flatten();
        let source_record = records.next().flatten();
        let retry_after_secs = [pair_record, source_record]
            .into_iter()
            .filter_map(|record| retry_after(record, now_ms))
            .max();
        Ok(SourceStanding {
            retry_after_secs,
            pair_failures: pair_record.is_some(),
        })
    }

    /// Counts a failure of `login` from `source`; returns the delays it started.
    pub(crate) async fn count_failure(
        &self,
        login: &str,
        source: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DelayStarted>, StoreError> {
        let (pair, whole) = keys(login, source);
        let mut started = Vec::new();
        for (key, threshold, scope) in [
            (pair, self.policy.delay_after, DelayScope::LoginFromSource),
            (whole, self.policy.source_delay_after, DelayScope::Source),
        ] {
            let record = self.add_failure(&key, threshold, now).await?;
            if let Some(delay) = delay_for(record.failures, threshold, &self.policy) {
                started.push(DelayStarted {
                    scope,
                    failures: record.failures,
                    delay,
                    until: now + delay,
                });
            }
        }
        Ok(started)
    }

    /// A sign-in of `login` from `source` passed: its failures from there are forgotten. The
    /// source's count over all logins stays (one success says nothing of the other logins).
    pub(crate) async fn forget_pair(
        &self,
        login: &str,
        source: Option<&str>,
    ) -> Result<(), StoreError> {
        let (pair, _) = keys(login, source);
        self.store.delete(&pair).await?;
        Ok(())
    }

    async fn add_failure(
        &self,
        key: &str,
        threshold: u32,
        now: DateTime<Utc>,
    ) -> Result<FailureRecord, StoreError> {
        let now_ms = now.timestamp_millis();
        let mut next = after_failure(None, threshold, &self.policy, now_ms);
        for _ in 0..UPDATE_ROUNDS {
            let current = self.store.get(key).await?;
            let previous = current.as_deref().and_then(FailureRecord::parse);
            next = after_failure(previous, threshold, &self.policy, now_ms);
            let encoded = next.encode();
            let ttl = self.ttl(next, now_ms);
            let written = match &current {
                None => {
                    self.store
                        .put_if_absent(key, encoded.as_bytes(), ttl)
                        .await?
                }
                Some(bytes) => {
                    self.store
                        .replace_if(key, bytes, encoded.as_bytes(), ttl)
                        .await?
                }
            };
            if written {
                return Ok(next);
            }
        }
        // Lost every race to concurrent failures of the same subject: this one still counts.
        tracing::warn!("brute-force record contended; writing over it");
        self.store
            .put(key, next.encode().as_bytes(), self.ttl(next, now_ms))
            .await?;
        Ok(next)
    }

    fn ttl(&self, record: FailureRecord, now_ms: i64) -> StdDuration {
        let remaining = record
            .forgotten_at(self.policy.memory)
            .saturating_sub(now_ms);
        StdDuration::from_millis(u64::try_from(remaining).unwrap_or(0))
    }
}

/// `bf:pair:<hash of login and source>` and `bf:src:<hash of source>`. A request without an
/// address (never, behind actix) shares the empty source with every other such request.
fn keys(login: &str, source: Option<&str>) -> (String, String) {
    let login = login.trim().to_lowercase();
    let source = source.unwrap_or("");
    let pair = subject_hash(&[b"pair", login.as_bytes(), source.as_bytes()]);
    let whole = subject_hash(&[b"source", source.as_bytes()]);
    (format!("bf:pair:{pair}"), format!("bf:src:{whole}"))
}

fn subject_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so no two different tuples hash the same bytes.
        hasher.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..SUBJECT_HASH_BYTES])
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use gatehouse_sessions::MemoryStore;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
    }

    fn policy() -> SourcePolicy {
        SourcePolicy {
            delay_after: 3,
            source_delay_after: 10,
            first_delay: Duration::seconds(2),
            max_delay: Duration::seconds(60),
            memory: Duration::minutes(15),
        }
    }

    fn guard() -> BruteForceGuard {
        BruteForceGuard::new(Arc::new(MemoryStore::new()), policy())
    }

    #[test]
    fn the_delay_starts_at_the_threshold_doubles_and_is_capped() {
        let p = policy();
        let delays: Vec<Option<i64>> = (1..=10)
            .map(|n| delay_for(n, 3, &p).map(|d| d.num_seconds()))
            .collect();
        assert_eq!(
            delays,
            [
                None,
                None,
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(60),
                Some(60),
                Some(60)
            ]
        );
        assert_eq!(delay_for(u32::MAX, 3, &p), Some(Duration::seconds(60)));
        assert_eq!(
            delay_for(1_000, 0, &p),
            None,
            "a zero threshold never delays"
        );
    }

    #[test]
    fn a_record_is_forgotten_memory_after_its_delay_ends() {
        let p = SourcePolicy {
            max_delay: Duration::hours(1),
            memory: Duration::minutes(1),
            ..policy()
        };
        let t = t0().timestamp_millis();
        let mut record = None;
        for _ in 0..8 {
            record = Some(after_failure(record, 3, &p, t));
        }
        let record = record.unwrap();
        assert_eq!(record.failures, 8);
        // 2 s × 2^5 = 64 s, longer than the one-minute memory: kept 64 s + 60 s.
        assert_eq!(record.delayed_until, t + 64_000);
        assert!(record.live(p.memory, t + 123_999));
        assert!(!record.live(p.memory, t + 124_000));
        // Trying again the moment the wait ends doubles it.
        let next = after_failure(Some(record), 3, &p, t + 64_000);
        assert_eq!(next.failures, 9);
        assert_eq!(next.delayed_until, t + 64_000 + 128_000);
        // Forgotten: the next failure counts from one again, without a delay.
        let fresh = after_failure(Some(record), 3, &p, t + 124_000);
        assert_eq!((fresh.failures, fresh.delayed_until), (1, 0));
        // Without a delay, `memory` after the last failure.
        let once = after_failure(None, 3, &p, t);
        assert!(once.live(p.memory, t + 59_999));
        assert!(!once.live(p.memory, t + 60_000));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let record = FailureRecord {
            failures: 4,
            last_failure: 0,
            delayed_until: 2_500,
        };
        assert_eq!(retry_after(Some(record), 0), Some(3));
        assert_eq!(retry_after(Some(record), 2_499), Some(1));
        assert_eq!(retry_after(Some(record), 2_500), None);
        assert_eq!(retry_after(None, 0), None);
    }

    #[test]
    fn records_read_back_and_garbage_reads_as_nothing() {
        let record = FailureRecord {
            failures: 7,
            last_failure: 1_700_000_000_123,
            delayed_until: 1_700_000_009_123,
        };
        assert_eq!(
            FailureRecord::parse(record.encode().as_bytes()),
            Some(record)
        );
        for garbage in ["", "1 2", "1 2 3 4", "a b c", "-1 0 0"] {
            assert_eq!(FailureRecord::parse(garbage.as_bytes()), None, "{garbage}");
        }
    }

    #[test]
    fn keys_hash_their_subjects_and_fold_case() {
        let (pair, source) = keys("Alice ", Some("192.0.2.1"));
        assert_eq!(
            keys("alice", Some("192.0.2.1")),
            (pair.clone(), source.clone())
        );
        assert_ne!(keys("alice", Some("192.0.2.2")).0, pair);
        assert_ne!(keys("bob", Some("192.0.2.1")).0, pair);
        assert_eq!(keys("bob", Some("192.0.2.1")).1, source);
        assert!(pair.starts_with("bf:pair:") && source.starts_with("bf:src:"));
        let (odd, _) = keys("a:b\r\n", Some("x"));
        assert!(!odd.chars().any(char::is_control), "{odd}");
    }

    #[tokio::test]
    async fn failures_from_one_source_delay_that_source_only() {
        let guard = guard();
        let (attacker, victim) = (Some("198.51.100.9"), Some("192.0.2.1"));
        for n in 1..=2 {
            assert_eq!(
                guard.count_failure("alice", attacker, t0()).await.unwrap(),
                []
            );
            let standing = guard.standing("alice", attacker, t0()).await.unwrap();
            assert_eq!(standing.retry_after_secs, None, "after {n}");
            assert!(standing.pair_failures);
        }
        let started = guard.count_failure("alice", attacker, t0()).await.unwrap();
        assert_eq!(
            started,
            [DelayStarted {
                scope: DelayScope::LoginFromSource,
                failures: 3,
                delay: Duration::seconds(2),
                until: t0() + Duration::seconds(2),
            }]
        );
        let standing = guard.standing("ALICE", attacker, t0()).await.unwrap();
        assert_eq!(standing.retry_after_secs, Some(2));
        // Another source, or another login from the same source, is not held up.
        assert_eq!(
            guard.standing("alice", victim, t0()).await.unwrap(),
            SourceStanding::default()
        );
        assert_eq!(
            guard
                .standing("bob", attacker, t0())
                .await
                .unwrap()
                .retry_after_secs,
            None
        );
        // The delay passes with the clock; the next failure doubles it.
        let later = t0() + Duration::seconds(2);
        assert_eq!(
            guard
                .standing("alice", attacker, later)
                .await
                .unwrap()
                .retry_after_secs,
            None
        );
        let started = guard.count_failure("alice", attacker, later).await.unwrap();
        assert_eq!(started[0].delay, Duration::seconds(4));
        // A success from the source wipes its failures for that login.
        guard.forget_pair("alice", attacker).await.unwrap();
        assert_eq!(
            guard.standing("alice", attacker, later).await.unwrap(),
            SourceStanding::default()
        );
    }

    #[tokio::test]
    async fn a_source_failing_across_many_logins_is_delayed_for_all_of_them() {
        let guard = guard();
        let sprayer = Some("203.0.113.5");
        let mut started = Vec::new();
        for n in 0..10 {
            started = guard
                .count_failure(&format!("user{n}"), sprayer, t0())
                .await
                .unwrap();
        }
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].scope, DelayScope::Source);
        assert_eq!(started[0].failures, 10);
        assert_eq!(
            guard
                .standing("someone-else", sprayer, t0())
                .await
                .unwrap()
                .retry_after_secs,
            Some(2)
        );
        assert_eq!(
            guard
                .standing("someone-else", Some("192.0.2.1"), t0())
                .await
                .unwrap()
                .retry_after_secs,
            None
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_failures_are_each_counted() {
        let guard = BruteForceGuard::new(
            Arc::new(MemoryStore::new()),
            SourcePolicy {
                delay_after: 100,
                source_delay_after: 100,
                ..policy()
            },
        );
        let mut tasks = tokio::task::JoinSet::new();
        // Eight racers and eight rounds: each round one of them wins, so none falls back to
        // writing over the others.
        for _ in 0..8 {
            let guard = guard.clone();
            tasks.spawn(async move {
                guard
                    .count_failure("carol", Some("192.0.2.9"), t0())
                    .await
                    .unwrap()
            });
        }
        while tasks.join_next().await.is_some() {}
        let (pair, _) = keys("carol", Some("192.0.2.9"));
        let stored = guard.store.get(&pair).await.unwrap().unwrap();
        assert_eq!(FailureRecord::parse(&stored).unwrap().failures, 8);
    }
}
