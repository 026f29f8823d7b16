//! Signing keys: the one-active/one-next indexes, compare-and-swap rotation (also under
//! contention) and the clean-up of keys no longer published.

use std::sync::{Arc, Barrier};

use chrono::{DateTime, Duration, Utc};

use super::{fixture, t0};
use crate::{Database, KeyStatus, StoredSigningKey};

const RS256: &str = "RS256";
const ES256: &str = "ES256";

fn key(kid: &str, alg: &str, status: KeyStatus) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        status,
        sealed_private_key: format!("sealed:{kid}"),
        created_at: t0(),
        activated_at: (status == KeyStatus::Active).then(t0),
        published_until: None,
    }
}

type Row = (
    String,
    String,
    KeyStatus,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn row(key: &StoredSigningKey) -> Row {
    (
        key.kid.clone(),
        key.alg.clone(),
        key.status,
        key.sealed_private_key.clone(),
        key.created_at,
        key.activated_at,
        key.published_until,
    )
}

/// Every key, by kid, with every field.
fn snapshot(db: &Database) -> Vec<Row> {
    let mut rows: Vec<Row> = db.list_signing_keys().unwrap().iter().map(row).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn status_of(db: &Database, kid: &str) -> Option<StoredSigningKey> {
    db.list_signing_keys()
        .unwrap()
        .into_iter()
        .find(|k| k.kid == kid)
}

#[test]
fn keys_round_trip_oldest_first() {
    let fx = fixture();
    let mut retired = key("old", RS256, KeyStatus::Retired);
    retired.created_at = t0() - Duration::days(30);
    retired.activated_at = Some(t0() - Duration::days(29));
    retired.published_until = Some(t0() + Duration::days(1));
    let active = key("cur", RS256, KeyStatus::Active);
    let mut next = key("nxt", RS256, KeyStatus::Next);
    next.created_at = t0() + Duration::seconds(1);
    for k in [&next, &active, &retired] {
        assert!(fx.db.insert_signing_key(k).unwrap(), "{}", k.kid);
    }
    let listed: Vec<Row> = fx.db.list_signing_keys().unwrap().iter().map(row).collect();
    assert_eq!(listed, [row(&retired), row(&active), row(&next)]);
}

#[test]
fn the_partial_indexes_allow_one_active_and_one_next_key_per_algorithm() {
    let fx = fixture();
    let db = &fx.db;
    assert!(
        db.insert_signing_key(&key("a1", RS256, KeyStatus::Active))
            .unwrap()
    );
    assert!(
        db.insert_signing_key(&key("n1", RS256, KeyStatus::Next))
            .unwrap()
    );
    let before = snapshot(db);

    assert!(
        !db.insert_signing_key(&key("a2", RS256, KeyStatus::Active))
            .unwrap()
    );
    assert!(
        !db.insert_signing_key(&key("n2", RS256, KeyStatus::Next))
            .unwrap()
    );
    assert_eq!(snapshot(db), before, "refused inserts leave no trace");

    // Other algorithms have their own slots; retired keys have none.
    assert!(
        db.insert_signing_key(&key("e1", ES256, KeyStatus::Active))
            .unwrap()
    );
    assert!(
        db.insert_signing_key(&key("e2", ES256, KeyStatus::Next))
            .unwrap()
    );
    assert!(
        db.insert_signing_key(&key("r1", RS256, KeyStatus::Retired))
            .unwrap()
    );
    assert!(
        db.insert_signing_key(&key("r2", RS256, KeyStatus::Retired))
            .unwrap()
    );
    assert_eq!(db.list_signing_keys().unwrap().len(), 6);
}

#[test]
fn the_schema_refuses_unknown_algorithms() {
    let fx = fixture();
    assert!(
        fx.db
            .insert_signing_key(&key("h1", "HS256", KeyStatus::Active))
            .is_err()
    );
    assert!(fx.db.list_signing_keys().unwrap().is_empty());
}

#[test]
fn rotation_retires_the_active_key_promotes_the_next_and_adds_a_new_next() {
    let fx = fixture();
    let db = &fx.db;
    for k in [
        key("a1", RS256, KeyStatus::Active),
        key("n1", RS256, KeyStatus::Next),
        key("e1", ES256, KeyStatus::Active),
        key("e2", ES256, KeyStatus::Next),
    ] {
        assert!(db.insert_signing_key(&k).unwrap());
    }
    let untouched: Vec<Row> = snapshot(db).into_iter().filter(|r| r.1 == ES256).collect();

    let now = t0() + Duration::days(7);
    let until = now + Duration::days(2);
    let mut new_next = key("n2", RS256, KeyStatus::Active);
    new_next.created_at = now;
    new_next.activated_at = None;
    assert!(
        db.rotate_signing_keys(RS256, Some("a1"), until, &new_next, now)
            .unwrap()
    );

    let a1 = status_of(db, "a1").unwrap();
    assert_eq!(a1.status, KeyStatus::Retired);
    assert_eq!(a1.published_until, Some(until));
    assert_eq!(a1.activated_at, Some(t0()), "kept");
    let n1 = status_of(db, "n1").unwrap();
    assert_eq!(n1.status, KeyStatus::Active);
    assert_eq!(n1.activated_at, Some(now));
    assert_eq!(n1.published_until, None);
    let n2 = status_of(db, "n2").unwrap();
    assert_eq!(
        n2.status,
        KeyStatus::Next,
        "stored as next whatever it said"
    );
    assert_eq!(n2.sealed_private_key, "sealed:n2");
    assert_eq!(n2.created_at, now);

    let es: Vec<Row> = snapshot(db).into_iter().filter(|r| r.1 == ES256).collect();
    assert_eq!(es, untouched, "another algorithm's keys are not touched");

    // The next rotation compares against the key that is active now.
    let later = now + Duration::days(7);
    assert!(
        !db.rotate_signing_keys(
            RS256,
            Some("a1"),
            later,
            &key("n3", RS256, KeyStatus::Next),
            later
        )
        .unwrap()
    );
    assert!(
        db.rotate_signing_keys(
            RS256,
            Some("n1"),
            later,
            &key("n3", RS256, KeyStatus::Next),
            later
        )
        .unwrap()
    );
    assert_eq!(status_of(db, "n2").unwrap().status, KeyStatus::Active);
    assert_eq!(status_of(db, "n3").unwrap().status, KeyStatus::Next);
}

#[test]
fn rotation_from_nothing_bootstraps_next_then_active() {
    let fx = fixture();
    let db = &fx.db;
    assert!(
        db.rotate_signing_keys(ES256, None, t0(), &key("k1", ES256, KeyStatus::Next), t0())
            .unwrap()
    );
    let keys = db.list_signing_keys().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].status, KeyStatus::Next);

    // Still no active key, so `None` is still the right expectation.
    let now = t0() + Duration::minutes(1);
    assert!(
        db.rotate_signing_keys(ES256, None, now, &key("k2", ES256, KeyStatus::Next), now)
            .unwrap()
    );
    let k1 = status_of(db, "k1").unwrap();
    assert_eq!((k1.status, k1.activated_at), (KeyStatus::Active, Some(now)));
    assert_eq!(status_of(db, "k2").unwrap().status, KeyStatus::Next);
}

#[test]
fn a_failed_compare_and_swap_changes_nothing() {
    let fx = fixture();
    let db = &fx.db;
    assert!(
        db.insert_signing_key(&key("a1", RS256, KeyStatus::Active))
            .unwrap()
    );
    assert!(
        db.insert_signing_key(&key("n1", RS256, KeyStatus::Next))
            .unwrap()
    );
    assert!(
        db.insert_signing_key(&key("e1", ES256, KeyStatus::Next))
            .unwrap()
    );
    let before = snapshot(db);
    let now = t0() + Duration::days(1);
    let fresh = key("n2", RS256, KeyStatus::Next);

    // A stale kid, an active key where none was expected, a kid of another algorithm.
    assert!(
        !db.rotate_signing_keys(RS256, Some("gone"), now, &fresh, now)
            .unwrap()
    );
    assert!(
        !db.rotate_signing_keys(RS256, Some("n1"), now, &fresh, now)
            .unwrap()
    );
    assert!(
        !db.rotate_signing_keys(RS256, None, now, &fresh, now)
            .unwrap()
    );
    assert!(
        !db.rotate_signing_keys(
            ES256,
            Some("a1"),
            now,
            &key("e2", ES256, KeyStatus::Next),
            now
        )
        .unwrap()
    );
    // ES256 has no active key, but expecting one must fail too.
    assert!(
        !db.rotate_signing_keys(
            ES256,
            Some("e1"),
            now,
            &key("e2", ES256, KeyStatus::Next),
            now
        )
        .unwrap()
    );
    assert_eq!(snapshot(db), before);

    // A new next key whose kid is taken rolls the whole rotation back.
    let clash = key("e1", RS256, KeyStatus::Next);
    assert!(
        !db.rotate_signing_keys(RS256, Some("a1"), now, &clash, now)
            .unwrap()
    );
    assert_eq!(snapshot(db), before);
}

#[test]
fn a_new_next_key_of_another_algorithm_is_an_error() {
    let fx = fixture();
    assert!(
        fx.db
            .insert_signing_key(&key("a1", RS256, KeyStatus::Active))
            .unwrap()
    );
    let before = snapshot(&fx.db);
    let wrong = key("e1", ES256, KeyStatus::Next);
    let err = fx
        .db
        .rotate_signing_keys(RS256, Some("a1"), t0(), &wrong, t0())
        .unwrap_err();
    assert!(err.to_string().contains("ES256"), "{err}");
    assert_eq!(snapshot(&fx.db), before);
}

/// Instances that all saw the same active key rotate at once: exactly one may win, the others
/// must see `false` (not an error), and the result must be one clean rotation.
fn race(
    db: &Database,
    expected: Option<&'static str>,
    contenders: usize,
    prefix: &str,
) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(contenders));
    let threads: Vec<_> = (0..contenders)
        .map(|i| {
            let (db, barrier, kid) = (db.clone(), barrier.clone(), format!("{prefix}{i}"));
            std::thread::spawn(move || {
                barrier.wait();
                let now = t0() + Duration::days(1);
                let won = db
                    .rotate_signing_keys(
                        RS256,
                        expected,
                        now,
                        &key(&kid, RS256, KeyStatus::Next),
                        now,
                    )
                    .unwrap();
                won.then_some(kid)
            })
        })
        .collect();
    threads
        .into_iter()
        .filter_map(|thread| thread.join().unwrap())
        .collect()
}

#[test]
fn concurrent_rotations_from_the_same_key_admit_exactly_one() {
    let fx = fixture();
    assert!(
        fx.db
            .insert_signing_key(&key("a1", RS256, KeyStatus::Active))
            .unwrap()
    );
    assert!(
        fx.db
            .insert_signing_key(&key("n1", RS256, KeyStatus::Next))
            .unwrap()
    );

    let winners = race(&fx.db, Some("a1"), 8, "new");
    assert_eq!(winners.len(), 1, "{winners:?}");

    let mut statuses: Vec<(String, KeyStatus)> = fx
        .db
        .list_signing_keys()
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.status))
        .collect();
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        ("a1".to_owned(), KeyStatus::Retired),
        ("n1".to_owned(), KeyStatus::Active),
        (winners[0].clone(), KeyStatus::Next),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(statuses, expected);
}

/// With no active key, `None` stays a valid expectation after a rotation that only added a next
/// key, so a second instance may legitimately rotate again (promoting that key). What must hold:
/// no errors, at most one active and one next key, and no loser's key left behind.
#[test]
fn concurrent_rotations_without_an_active_key_stay_consistent() {
    let fx = fixture();
    let winners = race(&fx.db, None, 8, "first");
    assert!((1..=2).contains(&winners.len()), "{winners:?}");
    let keys = fx.db.list_signing_keys().unwrap();
    assert_eq!(keys.len(), winners.len());
    assert!(keys.iter().all(|k| winners.contains(&k.kid)), "{keys:?}");
    let count = |status| keys.iter().filter(|k| k.status == status).count();
    assert_eq!(count(KeyStatus::Next), 1, "{keys:?}");
    assert_eq!(count(KeyStatus::Active), winners.len() - 1, "{keys:?}");

    if winners.len() == 1 {
        let now = t0() + Duration::days(2);
        let promote = key("promote", RS256, KeyStatus::Next);
        assert!(
            fx.db
                .rotate_signing_keys(RS256, None, now, &promote, now)
                .unwrap()
        );
    }
    // Once a key is active, expecting none never matches again.
    assert!(race(&fx.db, None, 4, "second").is_empty());
}

#[test]
fn only_retired_keys_past_their_publication_are_deleted() {
    let fx = fixture();
    let now = t0() + Duration::days(10);
    let retired = |kid: &str, until: Option<DateTime<Utc>>| StoredSigningKey {
        published_until: until,
        ..key(kid, RS256, KeyStatus::Retired)
    };
    let mut expired_active = key("active", RS256, KeyStatus::Active);
    expired_active.published_until = Some(now - Duration::days(1));
    for k in [
        retired("expired", Some(now - Duration::seconds(1))),
        retired("long-expired", Some(now - Duration::days(5))),
        retired("until-now", Some(now)),
        retired("still-published", Some(now + Duration::days(1))),
        retired("no-deadline", None),
        expired_active,
        key("next", RS256, KeyStatus::Next),
    ] {
        assert!(fx.db.insert_signing_key(&k).unwrap(), "{}", k.kid);
    }

    assert_eq!(fx.db.delete_unpublished_signing_keys(now).unwrap(), 2);
    let mut left: Vec<String> = fx
        .db
        .list_signing_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "active",
            "next",
            "no-deadline",
            "still-published",
            "until-now"
        ]
    );
    assert_eq!(fx.db.delete_unpublished_signing_keys(now).unwrap(), 0);
}
