//! Recovery codes against a real database: single use (also under concurrent use), what a
//! person may type, regeneration killing the old set, and hashed storage.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;

use super::fixture;
use super::totp::{at_step, enrol, settings, user};
use crate::schema::recovery_codes;
use crate::{RECOVERY_CODE_COUNT, TotpError};

#[tokio::test]
async fn a_recovery_code_works_once() {
    let fx = fixture();
    let alice = user(&fx, "alice").await;
    let (_, codes) = enrol(&fx, alice, &settings());
    let first = &codes.codes()[0];

    fx.db
        .use_recovery_code(alice, first, &settings(), at_step(1))
        .unwrap();
    assert!(matches!(
        fx.db
            .use_recovery_code(alice, first, &settings(), at_step(2)),
        Err(TotpError::ReplayedCode)
    ));
    assert_eq!(
        fx.db.remaining_recovery_codes(alice).unwrap(),
        i64::try_from(RECOVERY_CODE_COUNT - 1).unwrap()
    );
    assert_eq!(
        fx.db.totp_status(alice).unwrap().recovery_codes_remaining,
        i64::try_from(RECOVERY_CODE_COUNT - 1).unwrap()
    );

    // As typed from a printout: upper case, spaces for dashes.
    let typed = codes.codes()[1].to_uppercase().replace('-', " ");
    fx.db
        .use_recovery_code(alice, &typed, &settings(), at_step(3))
        .unwrap();
    assert!(matches!(
        fx.db
            .use_recovery_code(alice, &codes.codes()[1], &settings(), at_step(4)),
        Err(TotpError::ReplayedCode)
    ));
}

#[tokio::test]
async fn codes_that_are_not_this_users_are_invalid() {
    let fx = fixture();
    let (bob, carol) = (user(&fx, "bob").await, user(&fx, "carol").await);
    let (_, bobs) = enrol(&fx, bob, &settings());
    enrol(&fx, carol, &settings());

    for wrong in ["", "not a code", "0000-0000-0000", bobs.codes()[0].as_str()] {
        assert!(
            matches!(
                fx.db
                    .use_recovery_code(carol, wrong, &settings(), at_step(1)),
                Err(TotpError::InvalidCode)
            ),
            "{wrong:?}"
        );
    }
    // Bob's code still works for Bob.
    fx.db
        .use_recovery_code(bob, &bobs.codes()[0], &settings(), at_step(1))
        .unwrap();
}

#[test]
fn concurrent_uses_of_one_recovery_code_yield_exactly_one_success() {
    let fx = fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dave = runtime.block_on(user(&fx, "dave"));
    let (_, codes) = enrol(&fx, dave, &settings());
    let shared = codes.codes()[0].clone();

    let contenders = 20;
    let barrier = Arc::new(Barrier::new(contenders));
    let threads: Vec<_> = (0..contenders)
        .map(|_| {
            let (db, barrier, shared) = (fx.db.clone(), barrier.clone(), shared.clone());
            std::thread::spawn(move || {
                barrier.wait();
                db.use_recovery_code(dave, &shared, &settings(), at_step(1))
            })
        })
        .collect();
    let results: Vec<Result<(), TotpError>> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();

    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for result in &results {
        assert!(
            matches!(result, Ok(()) | Err(TotpError::ReplayedCode)),
            "{result:?}"
        );
    }
    assert_eq!(
        fx.db.remaining_recovery_codes(dave).unwrap(),
        i64::try_from(RECOVERY_CODE_COUNT - 1).unwrap()
    );
}

#[tokio::test]
async fn regenerating_kills_the_old_set() {
    let fx = fixture();
    let erin = user(&fx, "erin").await;
    let (_, old) = enrol(&fx, erin, &settings());
    fx.db
        .use_recovery_code(erin, &old.codes()[0], &settings(), at_step(1))
        .unwrap();

    let new = fx
        .db
        .regenerate_recovery_codes(erin, &settings(), at_step(2))
        .unwrap();
    assert_eq!(new.codes().len(), RECOVERY_CODE_COUNT);
    assert_eq!(
        fx.db.remaining_recovery_codes(erin).unwrap(),
        i64::try_from(RECOVERY_CODE_COUNT).unwrap()
    );
    for code in old.codes() {
        assert!(!new.codes().contains(code));
        assert!(
            matches!(
                fx.db.use_recovery_code(erin, code, &settings(), at_step(3)),
                Err(TotpError::InvalidCode)
            ),
            "{code}"
        );
    }
    for code in new.codes() {
        fx.db
            .use_recovery_code(erin, code, &settings(), at_step(3))
            .unwrap();
    }
    assert_eq!(fx.db.remaining_recovery_codes(erin).unwrap(), 0);
}

#[tokio::test]
async fn a_pending_enrolment_has_no_recovery_codes() {
    let fx = fixture();
    let frank = user(&fx, "frank").await;
    fx.db
        .begin_totp_enrolment(frank, &settings(), at_step(0))
        .unwrap();
    assert!(matches!(
        fx.db
            .regenerate_recovery_codes(frank, &settings(), at_step(0)),
        Err(TotpError::NoCredential)
    ));
    assert_eq!(fx.db.remaining_recovery_codes(frank).unwrap(), 0);
}

#[tokio::test]
async fn codes_are_stored_only_as_keyed_hashes() {
    let fx = fixture();
    let grace = user(&fx, "grace").await;
    let (_, codes) = enrol(&fx, grace, &settings());

    let stored: Vec<String> = recovery_codes::table
        .filter(recovery_codes::user_id.eq(grace.to_string()))
        .select(recovery_codes::code_hash)
        .load(&mut *fx.db.conn().unwrap())
        .unwrap();
    assert_eq!(stored.len(), RECOVERY_CODE_COUNT);
    for hash in &stored {
        assert!(hash.starts_with("hmac-sha256$"), "{hash}");
        for code in codes.codes() {
            assert!(!hash.contains(code.as_str()));
            assert!(!hash.contains(&code.replace('-', "")));
        }
    }
}
