//! The fixed-window rate limiter over both backends: the limit, `Retry-After`, the next window,
//! and independence of subjects and rules. Time is the `now` passed in; the store's own clock
//! only expires counters, which no test here waits for.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use gatehouse_sessions::{RateDecision, RateLimiter, RateRule};

use crate::harness::TestStore;

backend_tests!(paused:
    allows_up_to_the_limit_then_refuses_until_the_window_ends,
    a_new_window_allows_again,
    subjects_are_counted_apart,
    rules_are_counted_apart,
    only_the_first_refusal_of_a_window_is_marked_first,
    a_zero_limit_or_window_refuses_nothing,
);

const LOGIN: RateRule = RateRule {
    name: "login_per_ip",
    limit: 3,
    window: Duration::from_secs(60),
};

const REGISTRATION: RateRule = RateRule {
    name: "registration_per_ip",
    limit: 3,
    window: Duration::from_secs(60),
};

/// The start of a 60-second window (a multiple of 60 s since the epoch), plus `secs`.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

async fn exhaust(limiter: &RateLimiter, rule: &RateRule, subject: &str, now: DateTime<Utc>) {
    for n in 1..=rule.limit {
        assert_eq!(
            limiter.check(rule, subject, now).await.unwrap(),
            RateDecision::Allowed,
            "request {n} of {}",
            rule.limit
        );
    }
}

fn retry_after(decision: RateDecision) -> Option<u64> {
    match decision {
        RateDecision::Limited {
            retry_after_secs, ..
        } => Some(retry_after_secs),
        RateDecision::Allowed => None,
    }
}

async fn allows_up_to_the_limit_then_refuses_until_the_window_ends(t: TestStore) {
    let limiter = RateLimiter::new(t.store.clone());
    exhaust(&limiter, &LOGIN, "10.0.0.1", at(10)).await;
    // 50 s of the window left.
    let decision = limiter.check(&LOGIN, "10.0.0.1", at(10)).await.unwrap();
    assert_eq!(retry_after(decision), Some(50));
    // Partial seconds round up, so a client that waits as told is let in.
    let later = at(20) + chrono::Duration::milliseconds(500);
    let decision = limiter.check(&LOGIN, "10.0.0.1", later).await.unwrap();
    assert_eq!(retry_after(decision), Some(40));
    let last_moment = at(59) + chrono::Duration::milliseconds(999);
    let decision = limiter
        .check(&LOGIN, "10.0.0.1", last_moment)
        .await
        .unwrap();
    assert_eq!(retry_after(decision), Some(1));
}

async fn a_new_window_allows_again(t: TestStore) {
    let limiter = RateLimiter::new(t.store.clone());
    exhaust(&limiter, &LOGIN, "10.0.0.1", at(30)).await;
    assert!(retry_after(limiter.check(&LOGIN, "10.0.0.1", at(59)).await.unwrap()).is_some());
    exhaust(&limiter, &LOGIN, "10.0.0.1", at(60)).await;
    assert_eq!(
        retry_after(limiter.check(&LOGIN, "10.0.0.1", at(61)).await.unwrap()),
        Some(59)
    );
}

async fn subjects_are_counted_apart(t: TestStore) {
    let limiter = RateLimiter::new(t.store.clone());
    exhaust(&limiter, &LOGIN, "10.0.0.1", at(0)).await;
    assert!(retry_after(limiter.check(&LOGIN, "10.0.0.1", at(0)).await.unwrap()).is_some());
    // Another subject, including one that differs only in characters a naive key would mangle.
    exhaust(&limiter, &LOGIN, "10.0.0.2", at(0)).await;
    exhaust(&limiter, &LOGIN, "10.0.0.1:", at(0)).await;
    exhaust(&limiter, &LOGIN, "ünïcode subject\r\n", at(0)).await;
}

async fn rules_are_counted_apart(t: TestStore) {
    let limiter = RateLimiter::new(t.store.clone());
    exhaust(&limiter, &LOGIN, "10.0.0.1", at(0)).await;
    assert!(retry_after(limiter.check(&LOGIN, "10.0.0.1", at(0)).await.unwrap()).is_some());
    exhaust(&limiter, &REGISTRATION, "10.0.0.1", at(0)).await;
    assert!(
        retry_after(
            limiter
                .check(&REGISTRATION, "10.0.0.1", at(0))
                .await
                .unwrap()
        )
        .is_some()
    );
}

async fn only_the_first_refusal_of_a_window_is_marked_first(t: TestStore) {
    let limiter = RateLimiter::new(t.store.clone());
    for window_start in [0, 60] {
        exhaust(&limiter, &LOGIN, "10.0.0.1", at(window_start)).await;
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let decision = limiter
                .check(&LOGIN, "10.0.0.1", at(window_start + 1))
                .await
                .unwrap();
            let RateDecision::Limited {
                first_in_window, ..
            } = decision
            else {
                unreachable!("over the limit but allowed")
            };
            firsts.push(first_in_window);
        }
        assert_eq!(firsts, [true, false, false]);
    }
}

async fn a_zero_limit_or_window_refuses_nothing(t: TestStore) {
    let limiter = RateLimiter::new(t.store.clone());
    for rule in [
        RateRule {
            limit: 0,
            ..LOGIN.clone()
        },
        RateRule {
            window: Duration::ZERO,
            ..LOGIN.clone()
        },
    ] {
        for _ in 0..10 {
            assert_eq!(
                limiter.check(&rule, "10.0.0.1", at(0)).await.unwrap(),
                RateDecision::Allowed
            );
        }
    }
    if let Some(keys) = t.raw_redis_keys() {
        assert!(keys.is_empty(), "{keys:?}");
    }
}
