//! Rotation on one instance: which kid moves where, what stays verifiable, and when a retired
//! key finally leaves the JWKS.

use chrono::Duration;
use gatehouse_identity::KeyStatus;
use gatehouse_tokens::{Algorithm, KeyState, TokenError};

use crate::support::*;

#[test]
fn rotate_moves_next_to_active_and_active_to_retired() {
    let db = TestDb::create();
    let manager = open(&db, t0());
    let rotated_at = t0() + Duration::days(1);
    for alg in ALGORITHMS {
        let old_active = active_kid(&manager, alg);
        let old_next = only_kid(&db, alg, KeyStatus::Next);
        let other = other_alg(alg);
        let other_active = active_kid(&manager, other);
        let token = mint(&manager.current(), alg, rotated_at);

        manager.rotate(alg, rotated_at).unwrap();

        assert_eq!(
            active_kid(&manager, alg),
            old_next,
            "{alg}: next became active"
        );
        assert_eq!(only_kid(&db, alg, KeyStatus::Active), old_next);
        let new_next = only_kid(&db, alg, KeyStatus::Next);
        assert!(
            new_next != old_active && new_next != old_next,
            "{alg}: a fresh next"
        );
        let retired = rows_of(&db, alg, KeyStatus::Retired);
        let retired = retired.iter().find(|row| row.kid == old_active).unwrap();
        let until = rotated_at + Duration::minutes(TOKEN_LIFETIME_MINUTES);
        assert_eq!(retired.published_until, Some(until));
        let keys = manager.current();
        let state = keys
            .keys()
            .find(|(key, _)| key.kid() == old_active)
            .unwrap()
            .1;
        assert_eq!(
            state,
            KeyState::Retired {
                until: until.timestamp()
            }
        );
        assert_eq!(
            active_kid(&manager, other),
            other_active,
            "{other} untouched"
        );

        let published = jwks_kids(&manager);
        for kid in [&old_active, &old_next, &new_next] {
            assert!(published.contains(kid), "{alg}: {kid} published");
        }

        // The retired key still verifies what it signed, until the token expires.
        let later = rotated_at + Duration::minutes(TOKEN_LIFETIME_MINUTES - 1);
        verify(&token, &keys, later).unwrap();
        // The new active key signs, with its kid in the header.
        let fresh = mint(&keys, alg, rotated_at);
        assert_eq!(header_kid(&fresh), old_next);
        verify(&fresh, &keys, rotated_at).unwrap();
    }
    assert_eq!(
        jwks_kids(&manager).len(),
        6,
        "two active, two next, two retired"
    );
}

#[test]
fn a_retired_key_leaves_after_its_publication_window() {
    let db = TestDb::create();
    let manager = open(&db, t0());
    let alg = Algorithm::ES256;
    let first_active = active_kid(&manager, alg);
    let token = mint(&manager.current(), alg, t0());
    manager.rotate(alg, t0()).unwrap();
    let until = t0() + Duration::minutes(TOKEN_LIFETIME_MINUTES);

    // At the deadline it is still published; a reload does not drop it early.
    manager.reload(until).unwrap();
    assert!(jwks_kids(&manager).contains(&first_active));

    // Past it, the next rotation deletes it and it leaves the JWKS and the key set.
    let past = until + Duration::seconds(1);
    manager.rotate(alg, past).unwrap();
    assert!(!jwks_kids(&manager).contains(&first_active));
    assert!(manager.current().find(&first_active).is_none());
    assert!(
        !rows(&db).iter().any(|row| row.kid == first_active),
        "deleted"
    );
    assert!(matches!(
        verify(&token, &manager.current(), past),
        Err(TokenError::UnknownKey(kid)) if kid == first_active
    ));
    // The key retired by the second rotation is still within its window.
    assert_eq!(rows_of(&db, alg, KeyStatus::Retired).len(), 1);
}

#[test]
fn reload_alone_drops_an_expired_retired_key_from_the_jwks() {
    let db = TestDb::create();
    let manager = open(&db, t0());
    let retired = active_kid(&manager, Algorithm::RS256);
    manager.rotate(Algorithm::RS256, t0()).unwrap();

    manager
        .reload(t0() + Duration::minutes(TOKEN_LIFETIME_MINUTES) + Duration::seconds(1))
        .unwrap();

    assert!(!jwks_kids(&manager).contains(&retired));
    assert_eq!(jwks_kids(&manager).len(), 4);
}

#[test]
fn rotate_due_rotates_only_keys_older_than_the_interval() {
    let db = TestDb::create();
    let manager = open(&db, t0());
    let interval = Duration::days(ROTATION_DAYS);

    assert_eq!(manager.rotate_due(t0()).unwrap(), vec![]);
    assert_eq!(
        manager
            .rotate_due(t0() + interval - Duration::seconds(1))
            .unwrap(),
        vec![]
    );
    assert_eq!(
        manager.rotate_due(t0() + interval).unwrap(),
        vec![],
        "not more than"
    );

    let due = t0() + interval + Duration::seconds(1);
    let before: Vec<String> = ALGORITHMS
        .iter()
        .map(|&alg| active_kid(&manager, alg))
        .collect();
    assert_eq!(manager.rotate_due(due).unwrap(), ALGORITHMS.to_vec());
    for (alg, old) in ALGORITHMS.into_iter().zip(&before) {
        assert_ne!(&active_kid(&manager, alg), old);
        assert_eq!(
            rows_of(&db, alg, KeyStatus::Active)[0].activated_at,
            Some(due),
            "{alg}: activation time restarts the interval"
        );
    }

    // Just rotated: nothing is due until another full interval has passed.
    assert_eq!(manager.rotate_due(due + Duration::days(1)).unwrap(), vec![]);
    assert_eq!(
        manager
            .rotate_due(due + interval + Duration::seconds(1))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn rotate_due_rotates_each_algorithm_on_its_own_schedule() {
    let db = TestDb::create();
    let manager = open(&db, t0());
    let interval = Duration::days(ROTATION_DAYS);
    manager
        .rotate(Algorithm::RS256, t0() + Duration::days(10))
        .unwrap();

    let rotated = manager
        .rotate_due(t0() + interval + Duration::seconds(1))
        .unwrap();

    assert_eq!(rotated, vec![Algorithm::ES256]);
}

fn other_alg(alg: Algorithm) -> Algorithm {
    match alg {
        Algorithm::ES256 => Algorithm::RS256,
        Algorithm::RS256 => Algorithm::ES256,
    }
}

fn header_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
