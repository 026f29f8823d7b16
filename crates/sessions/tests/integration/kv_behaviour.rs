//! The `KvStore` contract, checked identically against both backends.

use std::collections::HashSet;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::harness::{HOUR, PAST_TTL, TTL, TestStore};

backend_tests!(paused:
    get_of_missing_key_is_none,
    put_then_get_returns_the_value,
    put_expires_after_its_ttl,
    put_overwrites_value_and_ttl,
    zero_ttl_is_accepted_and_expires,
    huge_ttl_is_accepted,
    put_if_absent_writes_only_when_absent,
    put_if_absent_writes_again_after_expiry,
    take_returns_the_value_once,
    take_ignores_expired_values,
    delete_reports_whether_a_key_was_removed,
    replace_if_swaps_only_the_expected_value,
    replace_if_sets_the_new_ttl,
    replace_if_never_resurrects_an_expired_or_missing_key,
    exists_any_sees_live_values_and_sets_only,
    get_many_reads_live_values_in_order,
    increment_counts_from_one_and_reads_back_as_digits,
    increment_does_not_extend_the_ttl,
    increment_restarts_after_expiry,
    set_add_remove_and_members,
    removing_the_last_member_removes_the_set,
    set_expires_after_its_ttl,
    set_ttl_is_refreshed_on_add,
    sorted_claim_takes_due_members_lowest_first_and_leases_them,
    sorted_add_moves_an_existing_member,
    sorted_claim_breaks_ties_by_member_and_honours_the_limit,
    sorted_remove_and_score,
    removing_the_last_sorted_member_removes_the_set,
    sorted_set_expires_after_its_ttl_which_add_refreshes,
    sorted_add_trimmed_drops_exactly_the_members_below_the_bound,
    sorted_add_trimmed_drops_a_new_member_below_the_bound_at_once,
    sorted_add_trimmed_moves_an_existing_member,
    sorted_add_trimmed_refreshes_the_ttl_as_sorted_add_does,
    sorted_members_from_reads_exact_scores_in_order_from_the_bound,
    sorted_reads_agree_after_moves_claims_trims_and_removes,
    ping_succeeds,
);

backend_tests!(concurrent:
    concurrent_takes_yield_exactly_one_value,
    concurrent_put_if_absent_has_exactly_one_winner,
    concurrent_increments_are_all_counted,
    concurrent_replace_if_from_one_value_has_exactly_one_winner,
    concurrent_claims_take_each_member_exactly_once,
    concurrent_trimmed_adds_keep_exactly_the_members_at_or_above_the_bound,
);

async fn get_of_missing_key_is_none(t: TestStore) {
    assert_eq!(t.store.get("missing").await.unwrap(), None);
}

async fn put_then_get_returns_the_value(t: TestStore) {
    t.store.put("k", b"value", HOUR).await.unwrap();
    assert_eq!(
        t.store.get("k").await.unwrap().as_deref(),
        Some(&b"value"[..])
    );
}

async fn put_expires_after_its_ttl(t: TestStore) {
    t.store.put("k", b"v", TTL).await.unwrap();
    assert!(t.store.get("k").await.unwrap().is_some());
    t.elapse(PAST_TTL).await;
    assert_eq!(t.store.get("k").await.unwrap(), None);
}

async fn put_overwrites_value_and_ttl(t: TestStore) {
    t.store.put("k", b"old", TTL).await.unwrap();
    t.store.put("k", b"new", HOUR).await.unwrap();
    t.elapse(PAST_TTL).await;
    assert_eq!(
        t.store.get("k").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );
}

async fn zero_ttl_is_accepted_and_expires(t: TestStore) {
    t.store.put("k", b"v", Duration::ZERO).await.unwrap();
    t.elapse(Duration::from_millis(20)).await;
    assert_eq!(t.store.get("k").await.unwrap(), None);
}

async fn huge_ttl_is_accepted(t: TestStore) {
    t.store.put("k", b"v", Duration::MAX).await.unwrap();
    t.store.increment("n", Duration::MAX).await.unwrap();
    t.store.set_add("s", "m", Duration::MAX).await.unwrap();
    assert!(t.store.get("k").await.unwrap().is_some());
    assert_eq!(t.store.get("n").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(t.store.set_members("s").await.unwrap(), ["m"]);
}

async fn put_if_absent_writes_only_when_absent(t: TestStore) {
    assert!(t.store.put_if_absent("k", b"first", HOUR).await.unwrap());
    assert!(!t.store.put_if_absent("k", b"second", HOUR).await.unwrap());
    assert_eq!(
        t.store.get("k").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

async fn put_if_absent_writes_again_after_expiry(t: TestStore) {
    assert!(t.store.put_if_absent("k", b"first", TTL).await.unwrap());
    t.elapse(PAST_TTL).await;
    assert!(t.store.put_if_absent("k", b"second", HOUR).await.unwrap());
    assert_eq!(
        t.store.get("k").await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
}

async fn take_returns_the_value_once(t: TestStore) {
    t.store.put("k", b"code", HOUR).await.unwrap();
    assert_eq!(
        t.store.take("k").await.unwrap().as_deref(),
        Some(&b"code"[..])
    );
    assert_eq!(t.store.take("k").await.unwrap(), None);
    assert_eq!(t.store.get("k").await.unwrap(), None);
}

async fn take_ignores_expired_values(t: TestStore) {
    t.store.put("k", b"code", TTL).await.unwrap();
    t.elapse(PAST_TTL).await;
    assert_eq!(t.store.take("k").await.unwrap(), None);
}

async fn delete_reports_whether_a_key_was_removed(t: TestStore) {
    t.store.put("k", b"v", HOUR).await.unwrap();
    t.store.put("short", b"v", TTL).await.unwrap();
    assert!(t.store.delete("k").await.unwrap());
    assert!(!t.store.delete("k").await.unwrap());
    assert_eq!(t.store.get("k").await.unwrap(), None);
    t.elapse(PAST_TTL).await;
    assert!(!t.store.delete("short").await.unwrap());
}

async fn replace_if_swaps_only_the_expected_value(t: TestStore) {
    t.store.put("k", b"v1", HOUR).await.unwrap();
    assert!(!t.store.replace_if("k", b"v0", b"v2", HOUR).await.unwrap());
    assert_eq!(t.store.get("k").await.unwrap().unwrap(), b"v1");
    assert!(t.store.replace_if("k", b"v1", b"v2", HOUR).await.unwrap());
    assert_eq!(t.store.get("k").await.unwrap().unwrap(), b"v2");
    // The old value no longer matches.
    assert!(!t.store.replace_if("k", b"v1", b"v3", HOUR).await.unwrap());
    assert_eq!(t.store.get("k").await.unwrap().unwrap(), b"v2");
}

async fn replace_if_sets_the_new_ttl(t: TestStore) {
    t.store.put("k", b"v1", TTL).await.unwrap();
    assert!(t.store.replace_if("k", b"v1", b"v2", HOUR).await.unwrap());
    t.elapse(TTL * 2).await;
    assert_eq!(t.store.get("k").await.unwrap().unwrap(), b"v2");
    t.store.put("short", b"v1", HOUR).await.unwrap();
    assert!(
        t.store
            .replace_if("short", b"v1", b"v2", TTL)
            .await
            .unwrap()
    );
    t.elapse(TTL * 2).await;
    assert_eq!(t.store.get("short").await.unwrap(), None);
}

async fn replace_if_never_resurrects_an_expired_or_missing_key(t: TestStore) {
    assert!(
        !t.store
            .replace_if("missing", b"", b"v", HOUR)
            .await
            .unwrap()
    );
    assert_eq!(t.store.get("missing").await.unwrap(), None);
    t.store.put("k", b"v1", TTL).await.unwrap();
    t.elapse(TTL * 2).await;
    assert!(!t.store.replace_if("k", b"v1", b"v2", HOUR).await.unwrap());
    assert_eq!(t.store.get("k").await.unwrap(), None);
}

async fn exists_any_sees_live_values_and_sets_only(t: TestStore) {
    assert!(!t.store.exists_any(&[]).await.unwrap());
    assert!(!t.store.exists_any(&["a", "b"]).await.unwrap());
    t.store.put("b", b"1", TTL).await.unwrap();
    assert!(t.store.exists_any(&["a", "b"]).await.unwrap());
    assert!(!t.store.exists_any(&["a"]).await.unwrap());
    t.store.set_add("s", "m", HOUR).await.unwrap();
    assert!(t.store.exists_any(&["s"]).await.unwrap());
    t.elapse(TTL * 2).await;
    assert!(!t.store.exists_any(&["a", "b"]).await.unwrap());
}

async fn get_many_reads_live_values_in_order(t: TestStore) {
    assert!(t.store.get_many(&[]).await.unwrap().is_empty());
    t.store.put("a", b"1", TTL).await.unwrap();
    t.store.put("c", b"3", HOUR).await.unwrap();
    t.store.set_add("s", "m", HOUR).await.unwrap();
    assert_eq!(
        t.store.get_many(&["a", "b", "c", "s"]).await.unwrap(),
        vec![Some(b"1".to_vec()), None, Some(b"3".to_vec()), None]
    );
    t.elapse(TTL * 2).await;
    assert_eq!(
        t.store.get_many(&["a", "c"]).await.unwrap(),
        vec![None, Some(b"3".to_vec())]
    );
}

async fn increment_counts_from_one_and_reads_back_as_digits(t: TestStore) {
    assert_eq!(t.store.increment("n", HOUR).await.unwrap(), 1);
    assert_eq!(t.store.increment("n", HOUR).await.unwrap(), 2);
    assert_eq!(t.store.increment("n", HOUR).await.unwrap(), 3);
    assert_eq!(t.store.get("n").await.unwrap().as_deref(), Some(&b"3"[..]));
}

async fn increment_does_not_extend_the_ttl(t: TestStore) {
    assert_eq!(t.store.increment("n", TTL).await.unwrap(), 1);
    // Had this longer TTL been applied, the counter would survive the wait below.
    assert_eq!(t.store.increment("n", HOUR).await.unwrap(), 2);
    t.elapse(PAST_TTL).await;
    assert_eq!(t.store.get("n").await.unwrap(), None);
}

async fn increment_restarts_after_expiry(t: TestStore) {
    t.store.increment("n", TTL).await.unwrap();
    t.store.increment("n", TTL).await.unwrap();
    t.elapse(PAST_TTL).await;
    assert_eq!(t.store.increment("n", TTL).await.unwrap(), 1);
}

async fn set_add_remove_and_members(t: TestStore) {
    assert!(t.store.set_members("s").await.unwrap().is_empty());
    // set_add answers the set's size after the add; adding a member again does not grow it.
    assert_eq!(t.store.set_add("s", "a", HOUR).await.unwrap(), 1);
    assert_eq!(t.store.set_add("s", "b", HOUR).await.unwrap(), 2);
    assert_eq!(t.store.set_add("s", "a", HOUR).await.unwrap(), 2);
    assert_eq!(members(&t, "s").await, ["a", "b"]);
    t.store.set_remove("s", "a").await.unwrap();
    t.store.set_remove("s", "not-a-member").await.unwrap();
    t.store.set_remove("no-such-set", "a").await.unwrap();
    assert_eq!(members(&t, "s").await, ["b"]);
}

async fn removing_the_last_member_removes_the_set(t: TestStore) {
    t.store.set_add("s", "a", HOUR).await.unwrap();
    t.store.set_remove("s", "a").await.unwrap();
    assert!(t.store.set_members("s").await.unwrap().is_empty());
    assert!(!t.store.delete("s").await.unwrap());
}

async fn set_expires_after_its_ttl(t: TestStore) {
    t.store.set_add("s", "a", TTL).await.unwrap();
    t.elapse(PAST_TTL).await;
    assert!(t.store.set_members("s").await.unwrap().is_empty());
    // An expired set counts from scratch.
    assert_eq!(t.store.set_add("s", "b", HOUR).await.unwrap(), 1);
}

async fn set_ttl_is_refreshed_on_add(t: TestStore) {
    t.store.set_add("s", "a", TTL).await.unwrap();
    t.store.set_add("s", "b", HOUR).await.unwrap();
    t.elapse(PAST_TTL).await;
    assert_eq!(members(&t, "s").await, ["a", "b"]);
}

async fn sorted_claim_takes_due_members_lowest_first_and_leases_them(t: TestStore) {
    assert!(
        t.store
            .sorted_claim_due("q", 1_000, 2_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "an absent set has nothing due"
    );
    t.store.sorted_add("q", "c", 30, HOUR).await.unwrap();
    t.store.sorted_add("q", "a", 10, HOUR).await.unwrap();
    t.store.sorted_add("q", "b", 20, HOUR).await.unwrap();

    assert_eq!(
        t.store.sorted_claim_due("q", 15, 100, 10).await.unwrap(),
        ["a"]
    );
    assert_eq!(t.store.sorted_score("q", "a").await.unwrap(), Some(100));
    // `a` is leased until 100: not due again before then.
    assert_eq!(
        t.store.sorted_claim_due("q", 25, 100, 10).await.unwrap(),
        ["b"]
    );
    assert_eq!(
        t.store.sorted_claim_due("q", 99, 200, 10).await.unwrap(),
        ["c"]
    );
    assert!(
        t.store
            .sorted_claim_due("q", 99, 200, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The leases of `a` and `b` run out at 100: both are due again, in score order.
    assert_eq!(
        t.store.sorted_claim_due("q", 150, 300, 10).await.unwrap(),
        ["a", "b"]
    );
}

async fn sorted_add_moves_an_existing_member(t: TestStore) {
    t.store.sorted_add("q", "a", 10, HOUR).await.unwrap();
    t.store.sorted_add("q", "a", 50, HOUR).await.unwrap();
    assert_eq!(t.store.sorted_score("q", "a").await.unwrap(), Some(50));
    assert!(
        t.store
            .sorted_claim_due("q", 20, 100, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.store.sorted_claim_due("q", 50, 100, 10).await.unwrap(),
        ["a"]
    );
}

async fn sorted_claim_breaks_ties_by_member_and_honours_the_limit(t: TestStore) {
    // Millisecond timestamps of today, and negative scores, are held exactly.
    let now = 1_795_497_540_123_i64;
    for member in ["d", "b", "a", "c"] {
        t.store.sorted_add("q", member, now, HOUR).await.unwrap();
    }
    t.store.sorted_add("q", "early", -5, HOUR).await.unwrap();
    assert_eq!(
        t.store
            .sorted_claim_due("q", now, now + 60_000, 3)
            .await
            .unwrap(),
        ["early", "a", "b"]
    );
    assert_eq!(
        t.store.sorted_score("q", "a").await.unwrap(),
        Some(now + 60_000)
    );
    assert_eq!(t.store.sorted_score("q", "c").await.unwrap(), Some(now));
    assert!(
        t.store
            .sorted_claim_due("q", now, now + 1, 0)
            .await
            .unwrap()
            .is_empty(),
        "limit 0 claims nothing"
    );
    assert_eq!(
        t.store
            .sorted_claim_due("q", now, now + 60_000, 10)
            .await
            .unwrap(),
        ["c", "d"]
    );
}

async fn sorted_remove_and_score(t: TestStore) {
    assert!(!t.store.sorted_remove("q", "a").await.unwrap());
    assert_eq!(t.store.sorted_score("q", "a").await.unwrap(), None);
    t.store.sorted_add("q", "a", 1, HOUR).await.unwrap();
    t.store.sorted_add("q", "b", 2, HOUR).await.unwrap();
    assert!(t.store.sorted_remove("q", "a").await.unwrap());
    assert!(!t.store.sorted_remove("q", "a").await.unwrap());
    assert_eq!(t.store.sorted_score("q", "a").await.unwrap(), None);
    assert_eq!(t.store.sorted_score("q", "b").await.unwrap(), Some(2));
    assert_eq!(
        t.store.sorted_claim_due("q", 10, 20, 10).await.unwrap(),
        ["b"]
    );
}

async fn removing_the_last_sorted_member_removes_the_set(t: TestStore) {
    t.store.sorted_add("q", "a", 1, HOUR).await.unwrap();
    assert!(t.store.sorted_remove("q", "a").await.unwrap());
    assert!(!t.store.delete("q").await.unwrap());
    assert!(!t.store.exists_any(&["q"]).await.unwrap());
}

async fn sorted_set_expires_after_its_ttl_which_add_refreshes(t: TestStore) {
    t.store.sorted_add("q", "a", 1, TTL).await.unwrap();
    t.store.sorted_add("q", "b", 2, HOUR).await.unwrap();
    t.elapse(PAST_TTL).await;
    assert_eq!(t.store.sorted_score("q", "a").await.unwrap(), Some(1));

    t.store.sorted_add("r", "a", 1, TTL).await.unwrap();
    t.elapse(PAST_TTL).await;
    assert_eq!(t.store.sorted_score("r", "a").await.unwrap(), None);
    assert!(
        t.store
            .sorted_claim_due("r", 10, 20, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn sorted_add_trimmed_drops_exactly_the_members_below_the_bound(t: TestStore) {
    for (member, score) in [("a", 10), ("b", 19), ("c", 20), ("d", 30)] {
        t.store.sorted_add("q", member, score, HOUR).await.unwrap();
    }
    // The bound is exclusive: `c`, scored exactly 20, stays.
    assert_eq!(
        t.store
            .sorted_add_trimmed("q", "e", 40, 20, HOUR)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        scored(&t, "q").await,
        [("c", 20), ("d", 30), ("e", 40)].map(|(m, s)| (m.to_owned(), s))
    );
    assert_eq!(t.store.sorted_score("q", "a").await.unwrap(), None);
    assert_eq!(t.store.sorted_score("q", "b").await.unwrap(), None);
    // Nothing below the bound: nothing dropped.
    assert_eq!(
        t.store
            .sorted_add_trimmed("q", "f", 50, 20, HOUR)
            .await
            .unwrap(),
        0
    );
    assert_eq!(scored(&t, "q").await.len(), 4);
}

async fn sorted_add_trimmed_drops_a_new_member_below_the_bound_at_once(t: TestStore) {
    assert_eq!(
        t.store
            .sorted_add_trimmed("q", "stale", 5, 10, HOUR)
            .await
            .unwrap(),
        1
    );
    // As Redis removes an emptied key, so does the memory store.
    assert!(!t.store.exists_any(&["q"]).await.unwrap());
    t.store.sorted_add("q", "a", 5, HOUR).await.unwrap();
    assert_eq!(
        t.store
            .sorted_add_trimmed("q", "b", 6, 10, HOUR)
            .await
            .unwrap(),
        2
    );
    assert!(!t.store.exists_any(&["q"]).await.unwrap());
    assert!(!t.store.delete("q").await.unwrap());
}

async fn sorted_add_trimmed_moves_an_existing_member(t: TestStore) {
    t.store.sorted_add("q", "a", 10, HOUR).await.unwrap();
    t.store.sorted_add("q", "b", 20, HOUR).await.unwrap();
    // Moved above the bound before the trim: kept at its new score.
    assert_eq!(
        t.store
            .sorted_add_trimmed("q", "a", 50, 15, HOUR)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        scored(&t, "q").await,
        [("b", 20), ("a", 50)].map(|(m, s)| (m.to_owned(), s))
    );
}

async fn sorted_add_trimmed_refreshes_the_ttl_as_sorted_add_does(t: TestStore) {
    t.store.sorted_add("q", "a", 1, TTL).await.unwrap();
    t.store
        .sorted_add_trimmed("q", "b", 2, 0, HOUR)
        .await
        .unwrap();
    t.elapse(PAST_TTL).await;
    assert_eq!(
        scored(&t, "q").await,
        [("a", 1), ("b", 2)].map(|(m, s)| (m.to_owned(), s))
    );

    t.store
        .sorted_add_trimmed("r", "a", 1, 0, TTL)
        .await
        .unwrap();
    t.elapse(PAST_TTL).await;
    assert!(scored(&t, "r").await.is_empty());
    assert!(!t.store.exists_any(&["r"]).await.unwrap());

    t.store
        .sorted_add_trimmed("huge", "a", 1, 0, Duration::MAX)
        .await
        .unwrap();
    assert_eq!(t.store.sorted_score("huge", "a").await.unwrap(), Some(1));
}

async fn sorted_members_from_reads_exact_scores_in_order_from_the_bound(t: TestStore) {
    assert!(
        t.store
            .sorted_members_from("q", 0)
            .await
            .unwrap()
            .is_empty(),
        "an absent set has no members"
    );
    // Millisecond timestamps of today, ±2^53 and negative scores are held exactly.
    let now = 1_795_497_540_123_i64;
    let max = 9_007_199_254_740_992_i64;
    for (member, score) in [
        ("d", now),
        ("b", now),
        ("late", now + 1),
        ("max", max),
        ("early", now - 1),
        ("negative", -5),
        ("min", -max),
    ] {
        t.store.sorted_add("q", member, score, HOUR).await.unwrap();
    }
    // The bound is inclusive; ties come in member order.
    assert_eq!(
        t.store.sorted_members_from("q", now).await.unwrap(),
        [("b", now), ("d", now), ("late", now + 1), ("max", max)].map(|(m, s)| (m.to_owned(), s))
    );
    assert_eq!(
        t.store.sorted_members_from("q", -max).await.unwrap(),
        [
            ("min", -max),
            ("negative", -5),
            ("early", now - 1),
            ("b", now),
            ("d", now),
            ("late", now + 1),
            ("max", max),
        ]
        .map(|(m, s)| (m.to_owned(), s))
    );
    assert!(
        t.store
            .sorted_members_from("q", max + 2)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn sorted_reads_agree_after_moves_claims_trims_and_removes(t: TestStore) {
    for (member, score) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        t.store.sorted_add("q", member, score, HOUR).await.unwrap();
    }
    t.store.sorted_add("q", "a", 6, HOUR).await.unwrap();
    assert_eq!(
        t.store.sorted_claim_due("q", 3, 10, 10).await.unwrap(),
        ["b", "c"]
    );
    assert!(t.store.sorted_remove("q", "d").await.unwrap());
    assert_eq!(
        t.store
            .sorted_add_trimmed("q", "f", 7, 6, HOUR)
            .await
            .unwrap(),
        1,
        "only `e` (5) is below 6"
    );
    let expected = [("a", 6), ("f", 7), ("b", 10), ("c", 10)].map(|(m, s)| (m.to_owned(), s));
    assert_eq!(scored(&t, "q").await, expected);
    for (member, score) in &expected {
        assert_eq!(
            t.store.sorted_score("q", member).await.unwrap(),
            Some(*score)
        );
    }
    for gone in ["d", "e"] {
        assert_eq!(t.store.sorted_score("q", gone).await.unwrap(), None);
    }
    assert_eq!(
        t.store.sorted_claim_due("q", 10, 20, 10).await.unwrap(),
        ["a", "f", "b", "c"]
    );
}

async fn ping_succeeds(t: TestStore) {
    t.store.ping().await.unwrap();
}

const CONTENDERS: usize = 50;

async fn concurrent_takes_yield_exactly_one_value(t: TestStore) {
    t.store.put("code", b"once", HOUR).await.unwrap();
    let mut takers = JoinSet::new();
    for _ in 0..CONTENDERS {
        let store = t.store.clone();
        takers.spawn(async move { store.take("code").await.unwrap() });
    }
    let taken: Vec<_> = takers.join_all().await.into_iter().flatten().collect();
    assert_eq!(taken, [b"once".to_vec()]);
}

async fn concurrent_put_if_absent_has_exactly_one_winner(t: TestStore) {
    let mut writers = JoinSet::new();
    for i in 0..CONTENDERS {
        let store = t.store.clone();
        writers.spawn(async move {
            let value = i.to_string();
            let won = store
                .put_if_absent("k", value.as_bytes(), HOUR)
                .await
                .unwrap();
            won.then_some(value)
        });
    }
    let winners: Vec<_> = writers.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = t.store.get("k").await.unwrap().unwrap();
    assert_eq!(stored, winners[0].as_bytes());
}

async fn concurrent_replace_if_from_one_value_has_exactly_one_winner(t: TestStore) {
    t.store.put("k", b"generation 0", HOUR).await.unwrap();
    let mut swappers = JoinSet::new();
    for i in 0..CONTENDERS {
        let store = t.store.clone();
        swappers.spawn(async move {
            let value = format!("generation 1 by {i}");
            let won = store
                .replace_if("k", b"generation 0", value.as_bytes(), HOUR)
                .await
                .unwrap();
            won.then_some(value)
        });
    }
    let winners: Vec<_> = swappers.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = t.store.get("k").await.unwrap().unwrap();
    assert_eq!(stored, winners[0].as_bytes());
}

async fn concurrent_increments_are_all_counted(t: TestStore) {
    let mut incrementers = JoinSet::new();
    for _ in 0..CONTENDERS {
        let store = t.store.clone();
        incrementers.spawn(async move { store.increment("n", HOUR).await.unwrap() });
    }
    let seen: HashSet<u64> = incrementers.join_all().await.into_iter().collect();
    assert_eq!(seen, (1..=CONTENDERS as u64).collect());
}

async fn concurrent_claims_take_each_member_exactly_once(t: TestStore) {
    const JOBS: usize = 200;
    for job in 0..JOBS {
        let score = i64::try_from(job % 7).unwrap();
        t.store
            .sorted_add("q", &format!("job-{job:03}"), score, HOUR)
            .await
            .unwrap();
    }
    let mut claimers = JoinSet::new();
    for _ in 0..CONTENDERS {
        let store = t.store.clone();
        claimers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store.sorted_claim_due("q", 100, 1_000, 3).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed);
            }
        });
    }
    let mut claimed: Vec<String> = claimers.join_all().await.into_iter().flatten().collect();
    claimed.sort();
    let expected: Vec<String> = (0..JOBS).map(|job| format!("job-{job:03}")).collect();
    assert_eq!(claimed, expected, "every job claimed, none twice");
}

async fn concurrent_trimmed_adds_keep_exactly_the_members_at_or_above_the_bound(t: TestStore) {
    const BOUND: i64 = 25;
    let mut writers = JoinSet::new();
    for i in 0..CONTENDERS {
        let store = t.store.clone();
        writers.spawn(async move {
            let score = i64::try_from(i).unwrap();
            store
                .sorted_add_trimmed("q", &format!("m-{i:02}"), score, BOUND, HOUR)
                .await
                .unwrap()
        });
    }
    let dropped: usize = writers.join_all().await.into_iter().sum();
    let below = usize::try_from(BOUND).unwrap();
    assert_eq!(dropped, below, "each member below the bound dropped once");
    let expected: Vec<(String, i64)> = (BOUND..i64::try_from(CONTENDERS).unwrap())
        .map(|score| (format!("m-{score:02}"), score))
        .collect();
    assert_eq!(scored(&t, "q").await, expected);
}

/// Every member with its score, in Redis order.
async fn scored(t: &TestStore, key: &str) -> Vec<(String, i64)> {
    t.store
        .sorted_members_from(key, -9_007_199_254_740_992)
        .await
        .unwrap()
}

async fn members(t: &TestStore, key: &str) -> Vec<String> {
    let mut members = t.store.set_members(key).await.unwrap();
    members.sort();
    members
}
