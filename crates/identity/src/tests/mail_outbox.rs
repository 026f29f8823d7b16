//! The mail outbox against a real database: enqueue, claim, mark sent; a failed attempt comes
//! back after the policy's delay and the last one leaves the mail dead; only the current claim
//! marks a mail; each mail to exactly one of several concurrent claimers.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use chrono::{DateTime, Duration, Utc};

use super::{fixture, t0};
use crate::{ClaimedMail, Database, MailFailure, MailRetryPolicy, MailStatus, OutboxMail};

const LEASE: Duration = Duration::minutes(5);

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn mail(n: usize) -> OutboxMail {
    OutboxMail {
        to: format!("user{n}@example.org"),
        subject: format!("Mail {n}"),
        text_body: format!("text {n}"),
        html_body: format!("<p>html {n}</p>"),
        message_id: format!("<m{n}@example.com>"),
    }
}

fn claim(db: &Database, now: DateTime<Utc>) -> Vec<ClaimedMail> {
    db.claim_mail(now, LEASE, 10).unwrap()
}

#[test]
fn a_mail_is_claimed_once_and_marked_sent() {
    let fx = fixture();
    fx.db.enqueue_mail(&mail(1), at(0)).unwrap();
    fx.db.enqueue_mail(&mail(2), at(1)).unwrap();
    assert_eq!(fx.db.count_outbox_mail().unwrap(), (2, 0, 0));

    let claimed = claim(&fx.db, at(2));
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        claimed[0].mail,
        mail(1),
        "the whole rendered mail, oldest first"
    );
    assert_eq!(claimed[1].mail, mail(2));
    assert_eq!(claimed[0].attempts, 0);
    assert!(claim(&fx.db, at(3)).is_empty(), "held by the lease");

    assert!(fx.db.mark_mail_sent(&claimed[0], at(4)).unwrap());
    assert!(
        !fx.db.mark_mail_sent(&claimed[0], at(5)).unwrap(),
        "already sent"
    );
    let entry = fx.db.find_outbox_mail("<m1@example.com>").unwrap().unwrap();
    assert_eq!(entry.status, MailStatus::Sent);
    assert_eq!(entry.sent_at, Some(at(4)));
    assert_eq!(fx.db.count_outbox_mail().unwrap(), (1, 1, 0));

    // The unmarked one comes back once its lease ran out; the sent one never does.
    let again = claim(&fx.db, at(2) + LEASE + Duration::seconds(1));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].mail, mail(2));
    assert_ne!(again[0].claim_token, claimed[1].claim_token);
    assert!(
        !fx.db.mark_mail_sent(&claimed[1], at(400)).unwrap(),
        "the expired claim no longer marks the mail"
    );
    assert!(fx.db.mark_mail_sent(&again[0], at(400)).unwrap());
    assert_eq!(fx.db.count_outbox_mail().unwrap(), (0, 2, 0));
}

#[test]
fn a_mail_enqueued_in_a_rolled_back_transaction_is_not_sent() {
    let fx = fixture();
    let result: Result<(), crate::IdentityError> = fx.db.write(|conn| {
        crate::mail_outbox::enqueue(conn, &mail(1), at(0))?;
        Err(crate::IdentityError::Corrupt(
            "the change failed".to_owned(),
        ))
    });
    assert!(result.is_err());
    fx.db
        .write(|conn| {
            Ok::<_, crate::IdentityError>(crate::mail_outbox::enqueue(conn, &mail(2), at(0))?)
        })
        .unwrap();
    let claimed = claim(&fx.db, at(1));
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].mail, mail(2));
}

#[test]
fn failures_back_off_30s_2min_10min_1h_then_the_mail_is_dead() {
    let fx = fixture();
    let policy = MailRetryPolicy::default();
    assert_eq!(policy.max_attempts(), 5);
    fx.db.enqueue_mail(&mail(1), at(0)).unwrap();

    let mut now = at(0);
    let expected = [30, 120, 600, 3600];
    for (failed, delay) in expected.iter().enumerate() {
        let claimed = claim(&fx.db, now);
        assert_eq!(claimed.len(), 1, "attempt {}", failed + 1);
        assert_eq!(claimed[0].attempts, i32::try_from(failed).unwrap());
        let outcome = fx
            .db
            .mark_mail_failed(&claimed[0], "421 try later", now, &policy)
            .unwrap();
        let retry = now + Duration::seconds(*delay);
        assert_eq!(outcome, MailFailure::Retry { at: retry });
        assert!(
            claim(&fx.db, retry - Duration::seconds(1)).is_empty(),
            "not before its delay"
        );
        let entry = fx.db.find_outbox_mail("<m1@example.com>").unwrap().unwrap();
        assert_eq!(entry.status, MailStatus::Pending);
        assert_eq!(entry.last_error.as_deref(), Some("421 try later"));
        assert_eq!(entry.next_attempt_at, retry);
        now = retry;
    }
    let last = claim(&fx.db, now);
    assert_eq!(last.len(), 1);
    assert_eq!(
        fx.db
            .mark_mail_failed(&last[0], "451 still down", now, &policy)
            .unwrap(),
        MailFailure::Dead
    );
    let entry = fx.db.find_outbox_mail("<m1@example.com>").unwrap().unwrap();
    assert_eq!(entry.status, MailStatus::Dead);
    assert_eq!(entry.attempts, 5);
    assert!(
        claim(&fx.db, now + Duration::days(30)).is_empty(),
        "dead stays dead"
    );
    assert_eq!(fx.db.count_outbox_mail().unwrap(), (0, 0, 1));
}

#[test]
fn a_lost_claim_cannot_mark_a_failure() {
    let fx = fixture();
    fx.db.enqueue_mail(&mail(1), at(0)).unwrap();
    let first = claim(&fx.db, at(0));
    let second = claim(&fx.db, at(0) + LEASE + Duration::seconds(1));
    assert_eq!(second.len(), 1);
    assert_eq!(
        fx.db
            .mark_mail_failed(&first[0], "late", at(400), &MailRetryPolicy::default())
            .unwrap(),
        MailFailure::ClaimLost
    );
    let entry = fx.db.find_outbox_mail("<m1@example.com>").unwrap().unwrap();
    assert_eq!(entry.attempts, 0, "the lost claim's failure is not counted");
}

#[test]
fn concurrent_claimers_get_each_mail_once() {
    let fx = fixture();
    let mails = 60;
    for n in 0..mails {
        fx.db.enqueue_mail(&mail(n), at(0)).unwrap();
    }
    let claimers = 4;
    let barrier = Arc::new(Barrier::new(claimers));
    let threads: Vec<_> = (0..claimers)
        .map(|_| {
            let (db, barrier) = (fx.db.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut got = Vec::new();
                // Small batches, all at one instant: no lease runs out, claims overlap.
                loop {
                    let batch = db.claim_mail(at(1), LEASE, 3).unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    got.extend(batch.into_iter().map(|claimed| claimed.mail.message_id));
                }
                got
            })
        })
        .collect();
    let mut times_claimed: HashMap<String, usize> = HashMap::new();
    for thread in threads {
        for id in thread.join().unwrap() {
            *times_claimed.entry(id).or_default() += 1;
        }
    }
    assert_eq!(times_claimed.len(), mails, "every mail claimed");
    assert!(
        times_claimed.values().all(|&times| times == 1),
        "{times_claimed:?}"
    );
}
