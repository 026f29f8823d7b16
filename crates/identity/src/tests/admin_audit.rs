//! The admin API's reads of the audit log (filters, exact totals, keyset pages), retention in
//! bounded batches against an injected clock, and the dashboard's counts.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::{fixture, registration, t0};
use crate::admin::audit::{
    AuditFilter, UserCounts, count_audit_events_since, count_users_by_status,
    delete_audit_events_before, list_audit_events,
};
use crate::schema::users;
use crate::{AuditAction, AuditOutcome, Database, NewAuditEvent, RequestContext};

fn record(
    db: &Database,
    at: DateTime<Utc>,
    actor: &str,
    action: AuditAction,
    outcome: AuditOutcome,
) {
    db.append_audit(&NewAuditEvent {
        occurred_at: at,
        actor: Some(actor.to_owned()),
        action,
        target: Some(format!("target-of-{actor}")),
        ip: None,
        user_agent: None,
        outcome,
        details: serde_json::json!({}),
    })
    .unwrap();
}

fn all_ids(db: &Database) -> Vec<i64> {
    let page = list_audit_events(db, &AuditFilter::default(), None, 10_000).unwrap();
    page.events.iter().map(|event| event.id).collect()
}

/// Ten events a minute apart: alice's successes and bob's failures alternate.
fn ten_events(db: &Database) {
    for i in 0..10 {
        let (actor, action, outcome) = if i % 2 == 0 {
            ("alice", AuditAction::LoginSuccess, AuditOutcome::Success)
        } else {
            ("bob", AuditAction::LoginFailure, AuditOutcome::Failure)
        };
        record(db, t0() + Duration::minutes(i), actor, action, outcome);
    }
}

#[test]
fn lists_are_newest_first_with_exact_totals_and_keyset_pages() {
    let fx = fixture();
    ten_events(&fx.db);
    let ids = all_ids(&fx.db);
    assert_eq!(ids.len(), 10);
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "{ids:?}");

    // Pages of 4: 4 + 4 + 2, each continuing below the last id, each with the full total.
    let mut seen = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let page = list_audit_events(&fx.db, &AuditFilter::default(), before, 4).unwrap();
        assert_eq!(page.total, 10);
        pages += 1;
        seen.extend(page.events.iter().map(|event| event.id));
        match page.next_before {
            Some(next) => {
                assert_eq!(Some(next), page.events.last().map(|event| event.id));
                before = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // A cursor past the end: nothing, no next page, the same total.
    let end = list_audit_events(&fx.db, &AuditFilter::default(), Some(ids[9]), 4).unwrap();
    assert!(end.events.is_empty());
    assert_eq!(end.next_before, None);
    assert_eq!(end.total, 10);
}

#[test]
fn every_filter_narrows_the_events_and_their_total() {
    let fx = fixture();
    ten_events(&fx.db);
    let list = |filter: AuditFilter| list_audit_events(&fx.db, &filter, None, 50).unwrap();

    let bob = list(AuditFilter {
        actor: Some("bob".into()),
        ..AuditFilter::default()
    });
    assert_eq!(bob.total, 5);
    assert!(bob.events.iter().all(|e| e.actor.as_deref() == Some("bob")));

    let successes = list(AuditFilter {
        action: Some("login.success".into()),
        ..AuditFilter::default()
    });
    assert_eq!(successes.total, 5);
    assert!(successes.events.iter().all(|e| e.action == "login.success"));

    let failures = list(AuditFilter {
        outcome: Some(AuditOutcome::Failure),
        ..AuditFilter::default()
    });
    assert_eq!(failures.total, 5);
    assert!(
        failures
            .events
            .iter()
            .all(|e| e.outcome == AuditOutcome::Failure)
    );

    let target = list(AuditFilter {
        target: Some("target-of-alice".into()),
        ..AuditFilter::default()
    });
    assert_eq!(target.total, 5);

    // since is inclusive, until exclusive: minutes 3, 4, 5, 6.
    let window = list(AuditFilter {
        since: Some(t0() + Duration::minutes(3)),
        until: Some(t0() + Duration::minutes(7)),
        ..AuditFilter::default()
    });
    assert_eq!(window.total, 4);
    let times: Vec<_> = window.events.iter().map(|e| e.occurred_at).collect();
    assert_eq!(
        times,
        [6, 5, 4, 3].map(|m| t0() + Duration::minutes(m)).to_vec()
    );

    // Filters combine; a combination nothing matches has total 0.
    let none = list(AuditFilter {
        actor: Some("alice".into()),
        outcome: Some(AuditOutcome::Failure),
        ..AuditFilter::default()
    });
    assert_eq!(none.total, 0);
    assert!(none.events.is_empty());
    let combined = list(AuditFilter {
        actor: Some("bob".into()),
        action: Some("login.failure".into()),
        since: Some(t0() + Duration::minutes(5)),
        ..AuditFilter::default()
    });
    assert_eq!(combined.total, 3, "minutes 5, 7, 9");
}

#[test]
fn retention_deletes_only_old_events_in_bounded_batches() {
    let fx = fixture();
    let now = t0() + Duration::days(365);
    let retention = Duration::days(90);
    // Seven events older than the retention (interleaved in time with the kept ones, so the
    // batches cannot simply take the lowest ids), three within it.
    let ages = [200, 5, 120, 95, 91, 1, 100, 89, 300, 90 * 24 * 60 + 1];
    for (i, age) in ages.into_iter().enumerate() {
        // The last one is a minute older than 90 days; the rest are in days.
        let at = if i == 9 {
            now - Duration::minutes(age)
        } else {
            now - Duration::days(age)
        };
        record(
            &fx.db,
            at,
            "alice",
            AuditAction::Logout,
            AuditOutcome::Success,
        );
    }
    let cutoff = now - retention;
    let old: Vec<i64> = list_audit_events(&fx.db, &AuditFilter::default(), None, 100)
        .unwrap()
        .events
        .iter()
        .filter(|event| event.occurred_at < cutoff)
        .map(|event| event.id)
        .collect();
    assert_eq!(old.len(), 7);

    let mut rounds = Vec::new();
    loop {
        let deleted = delete_audit_events_before(&fx.db, cutoff, 3).unwrap();
        rounds.push(deleted);
        if deleted < 3 {
            break;
        }
    }
    assert_eq!(rounds, vec![3, 3, 1], "several bounded rounds");
    let kept = list_audit_events(&fx.db, &AuditFilter::default(), None, 100).unwrap();
    assert_eq!(kept.total, 3);
    assert!(kept.events.iter().all(|event| event.occurred_at >= cutoff));
    assert!(kept.events.iter().all(|event| !old.contains(&event.id)));
    // Nothing left to do: a further round deletes nothing.
    assert_eq!(delete_audit_events_before(&fx.db, cutoff, 3).unwrap(), 0);
    // A day later, the event 89 days old is still kept, and the next cutoff takes nothing
    // newer than it.
    let later = cutoff + Duration::days(1);
    assert_eq!(delete_audit_events_before(&fx.db, later, 3).unwrap(), 0);
    assert_eq!(
        delete_audit_events_before(&fx.db, cutoff + Duration::days(2), 3).unwrap(),
        1
    );
}

#[tokio::test]
async fn the_dashboard_counts_users_by_status_and_recent_sign_ins() {
    let fx = fixture();
    let ctx = RequestContext::default();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        fx.accounts
            .register(registration(name), &[], &ctx, t0())
            .await
            .unwrap();
    }
    let set = |name: &str, status: &str, until: Option<DateTime<Utc>>| {
        diesel::update(users::table.filter(users::username.eq(name)))
            .set((
                users::status.eq(status),
                users::locked_until.eq(until.map(crate::db::to_db)),
            ))
            .execute(&mut *fx.db.conn().unwrap())
            .unwrap();
    };
    set("ben", "locked", Some(t0() + Duration::hours(1)));
    set("cat", "locked", Some(t0() - Duration::hours(1)));
    set("dan", "disabled", None);
    assert_eq!(
        count_users_by_status(&fx.db, t0()).unwrap(),
        UserCounts {
            total: 5,
            active: 3,
            locked: 1,
            disabled: 1
        }
    );

    let now = t0() + Duration::days(30);
    for hours in [1, 2, 30, 24 * 8] {
        record(
            &fx.db,
            now - Duration::hours(hours),
            "x",
            AuditAction::LoginFailure,
            AuditOutcome::Failure,
        );
    }
    let failures =
        |since| count_audit_events_since(&fx.db, AuditAction::LoginFailure, None, since).unwrap();
    assert_eq!(failures(now - Duration::hours(24)), 2);
    assert_eq!(failures(now - Duration::days(7)), 3);
    assert_eq!(
        count_audit_events_since(
            &fx.db,
            AuditAction::LoginFailure,
            Some(AuditOutcome::Success),
            now - Duration::days(7)
        )
        .unwrap(),
        0
    );
}
