//! Queries of the admin API: the audit log read back with filters, exact totals and a keyset
//! cursor; retention (deleting old events in bounded batches); the counts of the dashboard.
//!
//! Every list is ordered by `id` descending (newest first: `id` grows with insertion order) and
//! continues below the last `id` of the previous page, so a page costs an index range scan of
//! `limit` rows whatever the depth. Filters on `actor`, `target` and `action` are equalities the
//! `(actor, id)`, `(target, id)` and `(action, id)` indexes answer in this order; `since`/`until`
//! use the `occurred_at` index.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::audit::{AuditAction, AuditEvent, AuditOutcome, AuditRow};
use crate::db::{DbConnection, to_db};
use crate::error::IdentityError;
use crate::schema::{audit_events, users};
use crate::{Database, UserStatus};

type Backend = <DbConnection as diesel::Connection>::Backend;

/// Which events a list shows; every field narrows it (all of them at once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The stored actor, exactly (`user:ID`, `client:ID`, `cli`, a user id…).
    pub actor: Option<String>,
    /// The stored target, exactly.
    pub target: Option<String>,
    /// The stored action name, exactly (`login.failure`).
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// Events at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Events before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// One page of events, newest first.
#[derive(Debug, Clone)]
pub struct AuditEventPage {
    pub events: Vec<AuditEvent>,
    /// The `id` to continue below, when more events match.
    pub next_before: Option<i64>,
    /// How many events match the filter (all pages).
    pub total: i64,
}

fn filtered(filter: &AuditFilter) -> audit_events::BoxedQuery<'_, Backend> {
    let mut query = audit_events::table.into_boxed::<Backend>();
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::actor.eq(actor));
    }
    if let Some(target) = &filter.target {
        query = query.filter(audit_events::target.eq(target));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action));
    }
    if let Some(outcome) = filter.outcome {
        query = query.filter(audit_events::outcome.eq(outcome.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_events::occurred_at.ge(to_db(since)));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(to_db(until)));
    }
    query
}

/// At most `limit` events matching `filter` with an `id` below `before` (all of them without
/// it), newest first, and the exact number matching `filter`.
pub fn list_audit_events(
    db: &Database,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<AuditEventPage, IdentityError> {
    let limit = limit.max(1);
    db.read(|conn| {
        let mut query = filtered(filter);
        if let Some(before) = before {
            query = query.filter(audit_events::id.lt(before));
        }
        // One more than asked says whether another page follows.
        let mut rows: Vec<AuditRow> = query
            .select(AuditRow::as_select())
            .order(audit_events::id.desc())
            .limit(limit + 1)
            .load(conn)?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let events = rows
            .into_iter()
            .map(AuditEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let total = filtered(filter).count().get_result(conn)?;
        Ok(AuditEventPage {
            next_before: if more {
                events.last().map(|event| event.id)
            } else {
                None
            },
            events,
            total,
        })
    })
}

/// Deletes at most `batch` events older than `cutoff`, the oldest first, and says how many it
/// deleted: one indexed read of their ids, then one `DELETE … WHERE id = ANY(ids)` (Postgres;
/// `IN (…)` on SQLite). Each statement touches at most `batch` rows, so retention never holds
/// long locks nor stalls the writers of new events. (A single `DELETE … WHERE id IN (SELECT …
/// LIMIT n)` is planned as a hash semi-join over the whole table on Postgres: 130 ms per
/// batch on 200k events, against 2.4 ms for this.) Safe to run on several instances at once: a
/// row another instance deleted first is simply not deleted again.
pub fn delete_audit_events_before(
    db: &Database,
    cutoff: DateTime<Utc>,
    batch: usize,
) -> Result<usize, IdentityError> {
    let batch = i64::try_from(batch).unwrap_or(i64::MAX).max(1);
    db.write_statement(|conn| {
        let ids: Vec<i64> = audit_events::table
            .select(audit_events::id)
            .filter(audit_events::occurred_at.lt(to_db(cutoff)))
            .order(audit_events::id.asc())
            .limit(batch)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(
            diesel::delete(audit_events::table.filter(audit_events::id.eq_any(ids)))
                .execute(conn)?,
        )
    })
}

/// Users by status, for the dashboard. A lock whose time ran out counts as active (it no
/// longer stops a sign-in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserCounts {
    pub total: i64,
    pub active: i64,
    pub locked: i64,
    pub disabled: i64,
}

/// Counts users by status (one grouped scan, plus the few locks that ran out).
pub fn count_users_by_status(
    db: &Database,
    now: DateTime<Utc>,
) -> Result<UserCounts, IdentityError> {
    db.read(|conn| {
        let groups: Vec<(String, i64)> = users::table
            .group_by(users::status)
            .select((users::status, diesel::dsl::count_star()))
            .load(conn)?;
        let lapsed: i64 = users::table
            .filter(users::status.eq(UserStatus::Locked.as_str()))
            .filter(users::locked_until.le(to_db(now)))
            .count()
            .get_result(conn)?;
        let mut counts = UserCounts::default();
        for (status, count) in groups {
            counts.total += count;
            match status.as_str() {
                "active" => counts.active += count,
                "locked" => counts.locked += count,
                "disabled" => counts.disabled += count,
                _ => {}
            }
        }
        counts.locked -= lapsed;
        counts.active += lapsed;
        Ok(counts)
    })
}

/// How many `action` events with `outcome` happened at or after `since`.
pub fn count_audit_events_since(
    db: &Database,
    action: AuditAction,
    outcome: Option<AuditOutcome>,
    since: DateTime<Utc>,
) -> Result<i64, IdentityError> {
    let filter = AuditFilter {
        action: Some(action.as_str().to_owned()),
        outcome,
        since: Some(since),
        ..AuditFilter::default()
    };
    db.read(|conn| Ok(filtered(&filter).count().get_result(conn)?))
}
