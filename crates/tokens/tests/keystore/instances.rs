//! Several instances sharing one table: a rotation happens once however many instances try,
//! and the others see it on reload.

use std::sync::Barrier;

use chrono::Duration;
use gatehouse_identity::KeyStatus;
use gatehouse_tokens::{Algorithm, KeyManager};

use crate::support::*;

/// Runs `f` on both managers at once, released together by a barrier.
fn race<T: Send>(managers: &[KeyManager; 2], f: impl Fn(&KeyManager) -> T + Sync) -> [T; 2] {
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        let handles = managers.each_ref().map(|manager| {
            let (barrier, f) = (&barrier, &f);
            scope.spawn(move || {
                barrier.wait();
                f(manager)
            })
        });
        handles.map(|handle| handle.join().unwrap())
    })
}

#[test]
fn two_instances_rotating_due_keys_together_rotate_once() {
    let db = TestDb::create();
    let managers = [open(&db, t0()), open(&db, t0())];
    let old_next: Vec<String> = ALGORITHMS
        .iter()
        .map(|&alg| only_kid(&db, alg, KeyStatus::Next))
        .collect();
    let due = t0() + Duration::days(ROTATION_DAYS) + Duration::seconds(1);

    let [a, b] = race(&managers, |manager| manager.rotate_due(due).unwrap());

    for (alg, next) in ALGORITHMS.into_iter().zip(&old_next) {
        let rotations = a.contains(&alg) as usize + b.contains(&alg) as usize;
        assert_eq!(
            rotations, 1,
            "{alg}: rotated by exactly one instance ({a:?}, {b:?})"
        );
        assert_eq!(rows_of(&db, alg, KeyStatus::Retired).len(), 1, "{alg}");
        assert_eq!(&only_kid(&db, alg, KeyStatus::Active), next, "{alg}");
        only_kid(&db, alg, KeyStatus::Next);
        for manager in &managers {
            assert_eq!(
                &active_kid(manager, alg),
                next,
                "{alg}: both instances reloaded"
            );
        }
    }
    assert_eq!(rows(&db).len(), 6);
}

#[test]
fn two_instances_rotating_one_algorithm_together_rotate_once() {
    let db = TestDb::create();
    let managers = [open(&db, t0()), open(&db, t0())];
    let alg = Algorithm::RS256;
    let next = only_kid(&db, alg, KeyStatus::Next);

    race(&managers, |manager| manager.rotate(alg, t0()).unwrap());

    assert_eq!(rows_of(&db, alg, KeyStatus::Retired).len(), 1);
    assert_eq!(only_kid(&db, alg, KeyStatus::Active), next);
    for manager in &managers {
        assert_eq!(active_kid(manager, alg), next);
        assert_eq!(*manager.jwks_json(), *managers[0].jwks_json());
    }
}

#[test]
fn an_instance_sees_another_instances_rotation_on_reload() {
    let db = TestDb::create();
    let [rotator, follower] = [open(&db, t0()), open(&db, t0())];
    let alg = Algorithm::ES256;
    let old_active = active_kid(&follower, alg);
    let at = t0() + Duration::hours(1);

    rotator.rotate(alg, at).unwrap();
    let token = mint(&rotator.current(), alg, at);

    assert_eq!(active_kid(&follower, alg), old_active, "no reload yet");
    // The follower already publishes the new active key: it was `Next` when it loaded.
    verify(&token, &follower.current(), at).unwrap();

    follower.reload(at).unwrap();
    assert_eq!(active_kid(&follower, alg), active_kid(&rotator, alg));
    assert_eq!(*follower.jwks_json(), *rotator.jwks_json());
}

#[test]
fn a_stale_instance_does_not_rotate_again() {
    let db = TestDb::create();
    let [fresh, stale] = [open(&db, t0()), open(&db, t0())];
    let alg = Algorithm::ES256;
    let due = t0() + Duration::days(ROTATION_DAYS) + Duration::seconds(1);

    assert_eq!(fresh.rotate_due(due).unwrap(), ALGORITHMS.to_vec());
    // `stale` still believes the old keys are active and due: its swap fails and it reloads.
    assert_eq!(
        stale.rotate_due(due + Duration::minutes(1)).unwrap(),
        vec![]
    );

    assert_eq!(rows_of(&db, alg, KeyStatus::Retired).len(), 1);
    assert_eq!(active_kid(&stale, alg), active_kid(&fresh, alg));
}
