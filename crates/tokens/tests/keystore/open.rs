//! `KeyManager::open`: a complete key table on first start, the same keys on every later
//! start, and a hard stop under the wrong master key.

use std::collections::HashSet;

use gatehouse_identity::KeyStatus;
use gatehouse_tokens::{KeyManager, KeyPolicy, KeyState, KeyStoreError};
use serde_json::json;

use crate::support::*;

/// RFC 7517 §6.3.2 / §6.2.2 private members: none may ever be published.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

#[test]
fn first_start_creates_an_active_and_a_next_key_per_algorithm() {
    let db = TestDb::create();
    let manager = open(&db, t0());

    for alg in ALGORITHMS {
        let active = only_kid(&db, alg, KeyStatus::Active);
        let next = only_kid(&db, alg, KeyStatus::Next);
        assert_ne!(active, next);
        assert_eq!(
            active_kid(&manager, alg),
            active,
            "{alg} signs with the active key"
        );
        let keys = manager.current();
        let states: Vec<_> = keys
            .keys()
            .filter(|(key, _)| key.algorithm() == alg)
            .map(|(key, state)| (key.kid().to_owned(), state))
            .collect();
        assert_eq!(
            states,
            vec![(active, KeyState::Active), (next, KeyState::Next)]
        );
    }
    assert_eq!(rows(&db).len(), 4);
    let active_row = &rows_of(&db, ALGORITHMS[0], KeyStatus::Active)[0];
    assert_eq!(active_row.activated_at, Some(t0()));
    assert_eq!(active_row.published_until, None);
    assert!(
        !active_row.sealed_private_key.contains("PRIVATE KEY"),
        "stored sealed, not as PEM"
    );
}

#[test]
fn jwks_publishes_four_public_keys_with_distinct_kids() {
    let db = TestDb::create();
    let manager = open(&db, t0());

    let jwks = jwks(&manager);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    let kids: HashSet<_> = keys
        .iter()
        .map(|jwk| jwk["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 4);
    let stored: HashSet<_> = rows(&db).into_iter().map(|row| row.kid).collect();
    assert_eq!(kids, stored.iter().map(String::as_str).collect());
    for jwk in keys {
        let jwk = jwk.as_object().unwrap();
        for member in PRIVATE_MEMBERS {
            assert!(!jwk.contains_key(member), "{member} published in {jwk:?}");
        }
        assert_eq!(jwk["use"], json!("sig"));
        let expected_kty = if jwk["alg"] == json!("ES256") {
            "EC"
        } else {
            "RSA"
        };
        assert_eq!(jwk["kty"], json!(expected_kty));
    }
}

#[test]
fn jwks_document_is_cached_between_reloads() {
    let db = TestDb::create();
    let manager = open(&db, t0());
    let first = manager.jwks_json();
    assert!(std::sync::Arc::ptr_eq(&first, &manager.jwks_json()));
    manager.rotate(ALGORITHMS[0], t0()).unwrap();
    assert_ne!(*first, *manager.jwks_json());
}

#[test]
fn a_second_instance_loads_the_same_keys_and_creates_none() {
    let db = TestDb::create();
    let first = open(&db, t0());
    let stored_before = kids_of(&rows(&db))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();

    let second = open(&db, t0() + chrono::Duration::minutes(5));

    assert_eq!(jwks_kids(&second), jwks_kids(&first));
    assert_eq!(*second.jwks_json(), *first.jwks_json());
    for alg in ALGORITHMS {
        assert_eq!(active_kid(&second, alg), active_kid(&first, alg));
    }
    let stored_after = kids_of(&rows(&db))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert_eq!(stored_after, stored_before);
}

#[test]
fn instances_starting_together_on_an_empty_table_agree() {
    let db = TestDb::create();
    let barrier = std::sync::Barrier::new(2);
    let managers: Vec<KeyManager> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let database = db.connect();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    KeyManager::open(database, &master(), policy(), t0())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap().unwrap())
            .collect()
    });

    assert_eq!(rows(&db).len(), 4);
    assert_eq!(*managers[0].jwks_json(), *managers[1].jwks_json());
    for alg in ALGORITHMS {
        assert_eq!(active_kid(&managers[0], alg), active_kid(&managers[1], alg));
    }
}

#[test]
fn the_wrong_master_key_is_refused_before_anything_is_written() {
    let db = TestDb::create();
    drop(open(&db, t0()));

    let err = KeyManager::open(db.connect(), &other_master(), policy(), t0()).unwrap_err();

    assert!(
        matches!(err, KeyStoreError::MasterKeyMismatch { .. }),
        "expected MasterKeyMismatch, got {err:?}"
    );
    assert!(err.to_string().contains("master key"), "{err}");
    assert_eq!(
        rows(&db).len(),
        4,
        "nothing was written under the wrong key"
    );
}

#[test]
fn the_wrong_master_key_on_a_partial_table_writes_nothing() {
    let db = TestDb::create();
    drop(open(&db, t0()));
    // Leave only the ES256 keys, as if RS256 support had just been added.
    let database = db.connect();
    let kept: Vec<_> = database
        .list_signing_keys()
        .unwrap()
        .into_iter()
        .filter(|row| row.alg == "ES256")
        .collect();
    let fresh = TestDb::create();
    let fresh_db = fresh.connect();
    for row in &kept {
        assert!(fresh_db.insert_signing_key(row).unwrap());
    }

    assert!(KeyManager::open(fresh.connect(), &other_master(), policy(), t0()).is_err());
    assert_eq!(rows(&fresh).len(), 2);
    let manager = open(&fresh, t0());
    assert_eq!(rows(&fresh).len(), 4, "the right key completes the table");
    assert_eq!(
        active_kid(&manager, ALGORITHMS[0]),
        only_kid(&fresh, ALGORITHMS[0], KeyStatus::Active)
    );
}

#[test]
fn a_policy_that_would_rotate_constantly_is_refused() {
    let db = TestDb::create();
    let bad = KeyPolicy {
        rotation_interval: chrono::Duration::zero(),
        ..policy()
    };
    let err = KeyManager::open(db.connect(), &master(), bad, t0()).unwrap_err();
    assert!(matches!(err, KeyStoreError::Policy(_)), "{err:?}");
}

#[test]
fn key_manager_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KeyManager>();
}
