//! The session-end outbox against a real database: enqueue, claim, complete; each request to
//! exactly one of several concurrent claimers; a lease that runs out hands the request out
//! again; and the operator's second-factor reset that writes to it in one transaction.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use chrono::{DateTime, Duration, Utc};

use super::totp::{enrol, settings, user};
use super::{actions, audit_log, fixture, t0};
use crate::db::revert_all;
use crate::testing::TestDatabase;
use crate::{Database, RequestContext, SessionEndReason, SessionEndRequest, TotpStatus};

const LEASE: Duration = Duration::seconds(30);

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn claim(db: &Database, now: DateTime<Utc>, limit: usize) -> Vec<SessionEndRequest> {
    db.claim_session_end_requests(now, LEASE, limit).unwrap()
}

fn ids(requests: &[SessionEndRequest]) -> Vec<i64> {
    requests.iter().map(|request| request.id).collect()
}

fn cli() -> RequestContext {
    RequestContext {
        actor: Some("cli".to_owned()),
        ..RequestContext::default()
    }
}

#[test]
fn the_outbox_table_comes_and_goes_with_its_migration() {
    let test_db = TestDatabase::create().unwrap();
    let db = test_db.connect().unwrap();
    assert_eq!(db.count_session_end_requests().unwrap(), 0);

    let reverted = revert_all(&mut db.conn().unwrap()).unwrap();
    assert!(
        reverted.iter().any(|version| version == "20261130000003"),
        "{reverted:?}"
    );
    assert!(
        db.count_session_end_requests().is_err(),
        "the down migration drops the table"
    );
    let applied = db.run_migrations().unwrap();
    assert!(
        applied
            .iter()
            .any(|name| name == "2026-11-30-000003_session_end_requests"),
        "{applied:?}"
    );
    db.request_session_end(
        uuid::Uuid::new_v4(),
        SessionEndReason::SecondFactorReset,
        None,
        at(0),
    )
    .unwrap();
    assert_eq!(db.count_session_end_requests().unwrap(), 1);
}

#[test]
fn requests_are_claimed_oldest_first_once_and_gone_when_completed() {
    let fx = fixture();
    let (ann, ben) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    fx.db
        .request_session_end(ann, SessionEndReason::SecondFactorReset, Some("cli"), at(0))
        .unwrap();
    fx.db
        .request_session_end(ben, SessionEndReason::SecondFactorReset, None, at(1))
        .unwrap();
    assert_eq!(fx.db.count_session_end_requests().unwrap(), 2);

    let first = claim(&fx.db, at(2), 1);
    assert_eq!(first.len(), 1, "the limit holds");
    assert_eq!(
        (
            first[0].user_id,
            first[0].reason.as_str(),
            first[0].requested_by.as_deref(),
            first[0].requested_at,
            first[0].claimed_at,
        ),
        (ann, "second_factor_reset", Some("cli"), at(0), at(2))
    );
    let second = claim(&fx.db, at(2), 10);
    assert_eq!(
        second.iter().map(|r| r.user_id).collect::<Vec<_>>(),
        [ben],
        "a claimed request is not handed out again while its lease runs"
    );
    assert_eq!(second[0].requested_by, None);
    assert!(claim(&fx.db, at(3), 10).is_empty());

    assert!(fx.db.complete_session_end_request(first[0].id).unwrap());
    assert!(
        !fx.db.complete_session_end_request(first[0].id).unwrap(),
        "already gone"
    );
    assert_eq!(fx.db.count_session_end_requests().unwrap(), 1);
    assert!(fx.db.complete_session_end_request(second[0].id).unwrap());
    assert_eq!(fx.db.count_session_end_requests().unwrap(), 0);
    // Completed requests never come back, however late.
    assert!(claim(&fx.db, at(3600), 10).is_empty());
}

#[test]
fn a_claim_whose_lease_ran_out_is_claimed_again() {
    let fx = fixture();
    let user_id = uuid::Uuid::new_v4();
    fx.db
        .request_session_end(user_id, SessionEndReason::SecondFactorReset, None, at(0))
        .unwrap();
    let claimed = claim(&fx.db, at(10), 10);
    assert_eq!(claimed.len(), 1);

    let just_before = at(10) + LEASE - Duration::seconds(1);
    assert!(claim(&fx.db, just_before, 10).is_empty());
    let after = at(10) + LEASE + Duration::seconds(1);
    let again = claim(&fx.db, after, 10);
    assert_eq!(ids(&again), ids(&claimed));
    assert_eq!(again[0].claimed_at, after, "a new lease from the new claim");
    assert!(
        claim(&fx.db, after + Duration::seconds(1), 10).is_empty(),
        "and that lease holds too"
    );
    // The first claimer finishing late still completes it; the second then finds it gone.
    assert!(fx.db.complete_session_end_request(claimed[0].id).unwrap());
    assert!(!fx.db.complete_session_end_request(again[0].id).unwrap());
}

#[test]
fn concurrent_claimers_get_each_request_once() {
    let fx = fixture();
    let requests = 60;
    for n in 0..requests {
        fx.db
            .request_session_end(
                uuid::Uuid::new_v4(),
                SessionEndReason::SecondFactorReset,
                None,
                at(n),
            )
            .unwrap();
    }

    let claimers = 6;
    let barrier = Arc::new(Barrier::new(claimers));
    let threads: Vec<_> = (0..claimers)
        .map(|_| {
            let (db, barrier) = (fx.db.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut got = Vec::new();
                // Small batches, all at one instant: no lease runs out, claims overlap.
                loop {
                    let batch = claim(&db, at(1000), 3);
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(ids(&batch));
                }
            })
        })
        .collect();
    let mut times_claimed: HashMap<i64, usize> = HashMap::new();
    for thread in threads {
        for id in thread.join().unwrap() {
            *times_claimed.entry(id).or_default() += 1;
        }
    }
    // A claimer that lost a race may stop early; whatever it left is still there to claim.
    for id in ids(&claim(&fx.db, at(1000), requests as usize)) {
        *times_claimed.entry(id).or_default() += 1;
    }

    let twice: Vec<_> = times_claimed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    assert_eq!(times_claimed.len(), requests as usize);
}

#[tokio::test]
async fn an_operator_reset_removes_the_second_factor_audits_and_requests_the_session_end() {
    let fx = fixture();
    let ada = user(&fx, "ada").await;
    enrol(&fx, ada, &settings());
    assert!(fx.db.totp_status(ada).unwrap().enabled);

    let reset = fx
        .db
        .reset_second_factor_and_request_session_end(ada, &cli(), at(60))
        .unwrap();
    assert_eq!(reset, Some(true));
    assert_eq!(
        fx.db.totp_status(ada).unwrap(),
        TotpStatus {
            enabled: false,
            pending: false,
            recovery_codes_remaining: 0,
        }
    );
    let event = audit_log(&fx.db).pop().unwrap();
    assert_eq!(
        (
            event.action.as_str(),
            event.actor.as_deref(),
            event.target.clone(),
            event.occurred_at,
        ),
        ("totp.reset", Some("cli"), Some(ada.to_string()), at(60))
    );
    assert_eq!(event.details, serde_json::json!({ "removed": true }));
    let requests = claim(&fx.db, at(61), 10);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (
            requests[0].user_id,
            requests[0].reason.as_str(),
            requests[0].requested_by.as_deref(),
            requests[0].requested_at,
        ),
        (
            ada,
            SessionEndReason::SecondFactorReset.as_str(),
            Some("cli"),
            at(60)
        )
    );

    // Without a second factor there is nothing to remove, but the sessions still end.
    let again = fx
        .db
        .reset_second_factor_and_request_session_end(ada, &cli(), at(70))
        .unwrap();
    assert_eq!(again, Some(false));
    assert_eq!(fx.db.count_session_end_requests().unwrap(), 2);
}

#[tokio::test]
async fn a_reset_of_an_unknown_user_writes_nothing() {
    let fx = fixture();
    let ada = user(&fx, "ada").await;
    enrol(&fx, ada, &settings());
    let before = actions(&fx.db);

    let reset = fx
        .db
        .reset_second_factor_and_request_session_end(uuid::Uuid::new_v4(), &cli(), at(60))
        .unwrap();
    assert_eq!(reset, None);
    assert_eq!(actions(&fx.db), before, "no audit event");
    assert_eq!(fx.db.count_session_end_requests().unwrap(), 0);
    assert!(
        fx.db.totp_status(ada).unwrap().enabled,
        "nobody else's changes"
    );
}
