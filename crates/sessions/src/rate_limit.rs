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
        Ok(RateDecision::Limited {
            retry_after_secs: remaining_ms.div_ceil(1000).max(1),
            first_in_window: false,
        })
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
