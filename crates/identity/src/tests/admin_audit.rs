//! The admin API's reads of the audit log (filters, exact totals, keyset pages), retention in
//! bounded batches against an injected clock, and the dashboard's counts.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::{fixture, registration, t0};
use crate::admin::audit::{
    AuditFilter, UserCounts, audit_events_page, count_audit_events, count_audit_events_per_hour,
    count_audit_events_since, count_users_by_status, delete_audit_events_before, list_audit_events,
    recent_admin_events,
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
        org_id: None,
        occurred_at: at,
        actor: Some(actor.to_owned()),
        actor_kind: crate::ActorKind::of_actor(Some(actor)),
        action,
        target: Some(format!("target-of-{actor}")),
        ip: None,
        user_agent: None,
        outcome,
        details: serde_json::json!({}),
        request_id: None,
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

#[test]
fn a_time_window_finds_events_stamped_a_little_out_of_order_and_pages_within_it() {
    let fx = fixture();
    // An hour of events a minute apart, except that each fifth one was written with a time two
    // minutes earlier than its neighbours (a request that waited before its event was written).
    for i in 0..60 {
        let at = t0() + Duration::minutes(i) - Duration::minutes(if i % 5 == 0 { 2 } else { 0 });
        record(
            &fx.db,
            at,
            "alice",
            AuditAction::Logout,
            AuditOutcome::Success,
        );
    }
    let window = AuditFilter {
        since: Some(t0() + Duration::minutes(20)),
        until: Some(t0() + Duration::minutes(40)),
        ..AuditFilter::default()
    };
    let everything = list_audit_events(&fx.db, &AuditFilter::default(), None, 1000).unwrap();
    let expected: Vec<i64> = everything
        .events
        .iter()
        .filter(|e| e.occurred_at >= t0() + Duration::minutes(20))
        .filter(|e| e.occurred_at < t0() + Duration::minutes(40))
        .map(|e| e.id)
        .collect();
    assert_eq!(expected.len(), 20);
    let found = list_audit_events(&fx.db, &window, None, 1000).unwrap();
    assert_eq!(found.total, 20);
    assert_eq!(
        found.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(count_audit_events(&fx.db, &window).unwrap(), 20);

    // Walked in pages of 7 without totals, as an export does.
    let (mut seen, mut before) = (Vec::new(), None);
    loop {
        let (events, next) = audit_events_page(&fx.db, &window, before, 7).unwrap();
        assert!(events.len() <= 7);
        seen.extend(events.iter().map(|e| e.id));
        match next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    // Only `until`, far back: the events before it, and nothing newer.
    let early = AuditFilter {
        until: Some(t0() + Duration::minutes(3)),
        ..AuditFilter::default()
    };
    let early = list_audit_events(&fx.db, &early, None, 1000).unwrap();
    assert!(
        early
            .events
            .iter()
            .all(|e| e.occurred_at < t0() + Duration::minutes(3))
    );
    // Minutes -2 (the first, written early), 1 and 2.
    assert_eq!(early.total, 3);
}

#[test]
fn the_dashboard_series_counts_one_action_per_hour_back_from_now() {
    let fx = fixture();
    let now = t0() + Duration::days(10);
    let at = |minutes: i64| now - Duration::minutes(minutes);
    // Hour 0: now itself and 59 minutes ago; hour 1: 61 and 119 minutes; hour 30: one;
    // hour 167 (the last of the week): one; outside the week: one; another action: ignored.
    for minutes in [0, 59, 61, 119, 30 * 60 + 5, 167 * 60 + 30, 168 * 60 + 1] {
        record(
            &fx.db,
            at(minutes),
            "x",
            AuditAction::LoginFailure,
            AuditOutcome::Failure,
        );
    }
    record(
        &fx.db,
        at(10),
        "x",
        AuditAction::LoginSuccess,
        AuditOutcome::Success,
    );
    // Not yet (a clock behind another instance's): not in any hour.
    record(
        &fx.db,
        now + Duration::minutes(1),
        "x",
        AuditAction::LoginFailure,
        AuditOutcome::Failure,
    );

    let hours = count_audit_events_per_hour(&fx.db, AuditAction::LoginFailure, now, 168).unwrap();
    assert_eq!(hours.len(), 168);
    assert_eq!(hours[0], 2);
    assert_eq!(hours[1], 2);
    assert_eq!(hours[30], 1);
    assert_eq!(hours[167], 1);
    assert_eq!(hours.iter().sum::<i64>(), 6);
    let day = count_audit_events_per_hour(&fx.db, AuditAction::LoginSuccess, now, 24).unwrap();
    assert_eq!(day.len(), 24);
    assert_eq!(day[0], 1);
    assert_eq!(day.iter().sum::<i64>(), 1);
}

#[test]
fn recent_admin_events_are_the_latest_administrators_actions_only() {
    let fx = fixture();
    for (i, action) in [
        AuditAction::AdminUserLock,
        AuditAction::LoginSuccess,
        AuditAction::AdminDenied,
        AuditAction::Logout,
        AuditAction::AdminKeysRotate,
    ]
    .into_iter()
    .enumerate()
    {
        let minutes = i64::try_from(i).unwrap();
        record(
            &fx.db,
            t0() + Duration::minutes(minutes),
            "root",
            action,
            AuditOutcome::Success,
        );
    }
    let recent = recent_admin_events(&fx.db, 2).unwrap();
    let actions: Vec<&str> = recent.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["admin.keys_rotate", "admin.denied"]);
    assert_eq!(recent_admin_events(&fx.db, 10).unwrap().len(), 3);
}

/// An organisation's reads see only the events recorded in its scope: the list and its total,
/// the counts since an instant, the hourly series and the administrators' latest actions.
#[test]
fn an_organisation_reads_only_the_events_recorded_in_its_scope() {
    use crate::admin::audit::{
        count_audit_events_per_hour_in, count_audit_events_since_in, recent_admin_events_in,
    };
    let fx = fixture();
    let org = uuid::Uuid::new_v4();
    let other = uuid::Uuid::new_v4();
    let now = t0() + Duration::hours(2);
    for (i, (scope, action)) in [
        (Some(org), AuditAction::LoginSuccess),
        (Some(org), AuditAction::AdminUserLock),
        (Some(other), AuditAction::LoginSuccess),
        (Some(other), AuditAction::AdminUserLock),
        (None, AuditAction::LoginSuccess),
    ]
    .into_iter()
    .enumerate()
    {
        fx.db
            .append_audit(&NewAuditEvent {
                org_id: scope,
                occurred_at: t0() + Duration::minutes(i64::try_from(i).unwrap()),
                actor: Some("user:x".to_owned()),
                actor_kind: crate::ActorKind::of_actor(Some("user:x")),
                action,
                target: Some(format!("t{i}")),
                ip: None,
                user_agent: None,
                outcome: AuditOutcome::Success,
                details: serde_json::json!({}),
                request_id: None,
            })
            .unwrap();
    }
    let in_org = AuditFilter {
        org_id: Some(org),
        ..AuditFilter::default()
    };
    let page = list_audit_events(&fx.db, &in_org, None, 100).unwrap();
    assert_eq!(page.total, 2);
    assert!(page.events.iter().all(|event| event.org_id == Some(org)));
    assert_eq!(count_audit_events(&fx.db, &in_org).unwrap(), 2);
    assert_eq!(
        count_audit_events_since_in(&fx.db, AuditAction::LoginSuccess, None, t0(), Some(org))
            .unwrap(),
        1
    );
    let hours =
        count_audit_events_per_hour_in(&fx.db, AuditAction::LoginSuccess, now, 24, Some(org))
            .unwrap();
    assert_eq!(hours.iter().sum::<i64>(), 1);
    let everyone =
        count_audit_events_per_hour_in(&fx.db, AuditAction::LoginSuccess, now, 24, None).unwrap();
    assert_eq!(everyone.iter().sum::<i64>(), 3);
    let recent = recent_admin_events_in(&fx.db, 10, Some(org)).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].target.as_deref(), Some("t1"));
}
