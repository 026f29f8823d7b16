//! Administration of audit, behind the permission gate (`crate::admin`): the audit log read
//! back with filters (`ReadAudit`) and exported page by page, the signing keys listed
//! (`ReadKeys`) and rotated (`RotateKeys`, audited as `admin.keys_rotate`), the dashboard's
//! counts and series (`ReadStats`), and the retention of the audit log (a background job, not
//! an operator's request: no gate).
//!
//! Reads are not audited (the trail would fill with its own readers), except an export, which
//! takes the log away in bulk (`admin.audit_export`); a refused read is audited by the gate
//! (`admin.denied`).
//!
//! An organisation admin ([`Actor::OrgAdmin`]) reads only the events recorded in its
//! organisation's scope (`audit_events.org_id`: its filter is forced, whatever the request
//! asks) and a dashboard of its organisation: its members by status and its scoped sign-in
//! events. Live sessions cannot be told apart by organisation: it gets none
//! (`active_sessions` is `None`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_identity::admin::audit::{self as queries, AuditEventPage, AuditFilter, UserCounts};
use gatehouse_identity::{AuditAction, AuditEvent, AuditOutcome, IdentityError, RequestContext};
use gatehouse_sessions::{KvStore, StoreError};
use gatehouse_tokens::{Algorithm, KeyManager, KeyStoreError};

use crate::admin::{Actor, AdminDenied, AdminOperation, judge};
use crate::{AppError, Gatehouse};

/// Why an operation of this module did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminAuditError {
    /// The permission gate refused (already audited).
    #[error(transparent)]
    Denied(#[from] AdminDenied),
    #[error(transparent)]
    Backend(#[from] AppError),
    /// The key store failed (database down, or a key that cannot be generated or sealed).
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
}

impl From<IdentityError> for AdminAuditError {
    fn from(err: IdentityError) -> Self {
        AdminAuditError::Backend(AppError::Identity(err))
    }
}

impl AdminAuditError {
    /// A backend that is down: retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            AdminAuditError::Denied(_) => false,
            AdminAuditError::Backend(err) => err.is_unavailable(),
            AdminAuditError::Keys(KeyStoreError::Storage(err)) => err.is_unavailable(),
            AdminAuditError::Keys(_) => false,
        }
    }
}

/// A page request on the audit log: the filter, at most `limit` events (already capped by the
/// surface), below the event `before` (the previous page's last id).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub limit: u32,
    pub before: Option<i64>,
}

/// A signing key as an administrator sees it: never the private key, sealed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyView {
    pub kid: String,
    pub alg: String,
    /// `next`, `active` or `retired`.
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    /// A retired key's end of publication in the JWKS.
    pub published_until: Option<DateTime<Utc>>,
}

/// What a rotation did: the algorithms this call rotated (not those another rotation won
/// first), the keys now, and the JWKS document now served.
#[derive(Debug, Clone)]
pub struct KeyRotation {
    pub rotated: Vec<Algorithm>,
    pub keys: Vec<SigningKeyView>,
    pub jwks: serde_json::Value,
}

/// The dashboard's counts. Sign-ins are `login.success` events, failures `login.failure`,
/// lockouts `account.lockout`, read from the audit log (so bounded by its retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminStats {
    pub users: UserCounts,
    /// Live browser sessions, as on the dashboard ([`Dashboard::active_sessions`]); `None`
    /// for an organisation admin (sessions are not counted by organisation).
    pub active_sessions: Option<i64>,
    pub sign_ins_24h: i64,
    pub sign_ins_7d: i64,
    pub sign_in_failures_24h: i64,
    pub sign_in_failures_7d: i64,
    pub lockouts_24h: i64,
}

/// Hours in the dashboard's longest series (seven days).
const WEEK_HOURS: u32 = 7 * 24;

/// How many administrators' events the dashboard lists.
const RECENT_ADMIN_EVENTS: i64 = 10;

/// One action's events over the last seven days, from one grouped query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The last 24 hours, hour by hour, the latest first: `hourly[h]` counts the events
    /// between `h + 1` and `h` hours before the dashboard's `now`.
    pub hourly: Vec<i64>,
    /// The last seven days as 24-hour periods ending at `now`, the latest first.
    pub daily: Vec<i64>,
}

impl Activity {
    fn from_hours(hours: &[i64]) -> Self {
        Self {
            hourly: hours.iter().take(24).copied().collect(),
            daily: hours.chunks(24).map(|day| day.iter().sum()).collect(),
        }
    }

    pub fn last_24_hours(&self) -> i64 {
        self.hourly.iter().sum()
    }

    pub fn last_7_days(&self) -> i64 {
        self.daily.iter().sum()
    }
}

/// What the console's dashboard shows, at `now`.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub now: DateTime<Utc>,
    pub users: UserCounts,
    /// Live browser sessions (the session expiry index's count: a session expired in the last
    /// few minutes may still be counted until the expiry sweep ends it).
    pub active_sessions: Option<i64>,
    /// `login.success` events.
    pub sign_ins: Activity,
    /// `login.failure` events.
    pub failures: Activity,
    /// `account.lockout` events.
    pub lockouts: Activity,
    /// The latest `admin.*` events, newest first; `None` when the actor's roles do not permit
    /// reading the audit log (a `client_admin` or `user_admin` sees the counts only).
    pub recent_admin_events: Option<Vec<AuditEvent>>,
}

/// Rows an export writes at most; the rest of a larger selection is left out and the export
/// says so.
pub const EXPORT_MAX_ROWS: usize = 100_000;

/// Rows an export reads from the database at a time: its memory stays bounded by one page.
const EXPORT_PAGE_ROWS: i64 = 500;

/// An export under way: the filter, where the next page starts, and how many rows remain
/// within [`EXPORT_MAX_ROWS`]. Made by [`Gatehouse::admin_audit_export`], which passed the
/// gate; read with [`Gatehouse::next_export_page`].
#[derive(Debug, Clone)]
pub struct AuditExport {
    filter: AuditFilter,
    before: Option<i64>,
    remaining: usize,
    finished: bool,
    /// How many events matched the filter when the export began.
    pub total: i64,
    /// Whether the export leaves events out (`total` is above [`EXPORT_MAX_ROWS`]).
    pub truncated: bool,
}

impl Gatehouse {
    /// The console's dashboard: users by status, sign-ins, failures and lockouts over the last
    /// 24 hours and 7 days (one query per action), and, for those who may read the audit log,
    /// the latest administrators' actions.
    pub async fn admin_dashboard(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Dashboard, AdminAuditError> {
        self.admit(actor, AdminOperation::ReadStats, None, ctx, now)
            .await?;
        // Asked without the gate's audit: the dashboard only leaves the list out.
        let may_read_audit = judge(actor, AdminOperation::ReadAudit, None).is_ok();
        let org = actor.organization().map(|org| org.id);
        let active_sessions = match org {
            None => Some(self.live_session_count(now).await?),
            Some(_) => None,
        };
        self.with_db(move |db| {
            let activity = |action| {
                queries::count_audit_events_per_hour_in(db, action, now, WEEK_HOURS, org)
                    .map(|hours| Activity::from_hours(&hours))
            };
            Ok(Dashboard {
                now,
                users: user_counts(db, org, now)?,
                active_sessions,
                sign_ins: activity(AuditAction::LoginSuccess)?,
                failures: activity(AuditAction::LoginFailure)?,
                lockouts: activity(AuditAction::AccountLockout)?,
                recent_admin_events: if may_read_audit {
                    Some(queries::recent_admin_events_in(
                        db,
                        RECENT_ADMIN_EVENTS,
                        org,
                    )?)
                } else {
                    None
                },
            })
        })
        .await
    }

    /// Starts an export of the events matching `filter` (newest first, at most
    /// [`EXPORT_MAX_ROWS`]) in `format`, a name the audit trail records. Audited as
    /// `admin.audit_export` with the filter.
    pub async fn admin_audit_export(
        &self,
        actor: &Actor,
        mut filter: AuditFilter,
        format: &'static str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<AuditExport, AdminAuditError> {
        self.admit(actor, AdminOperation::ReadAudit, None, ctx, now)
            .await?;
        if let Some(org) = actor.organization() {
            filter.org_id = Some(org.id);
        }
        let counted = filter.clone();
        let total = self
            .with_db(move |db| queries::count_audit_events(db, &counted))
            .await?;
        let cap = i64::try_from(EXPORT_MAX_ROWS).unwrap_or(i64::MAX);
        let ctx = actor.context(ctx);
        self.audit(
            AuditAction::AdminAuditExport,
            "audit_events".to_owned(),
            serde_json::json!({
                "format": format,
                "filter": filter_details(&filter),
                "total": total,
                "rows": total.min(cap),
            }),
            &ctx,
            now,
        )
        .await;
        Ok(AuditExport {
            filter,
            before: None,
            remaining: EXPORT_MAX_ROWS,
            finished: false,
            total,
            truncated: total > cap,
        })
    }

    /// The export's next page (at most a few hundred events); empty once it is complete.
    pub async fn next_export_page(
        &self,
        export: &mut AuditExport,
    ) -> Result<Vec<AuditEvent>, AdminAuditError> {
        if export.finished || export.remaining == 0 {
            export.finished = true;
            return Ok(Vec::new());
        }
        let filter = export.filter.clone();
        let before = export.before;
        let limit = EXPORT_PAGE_ROWS.min(i64::try_from(export.remaining).unwrap_or(i64::MAX));
        let (events, next) = self
            .with_db(move |db| queries::audit_events_page(db, &filter, before, limit))
            .await?;
        export.remaining = export.remaining.saturating_sub(events.len());
        export.before = next;
        export.finished = next.is_none();
        Ok(events)
    }

    /// A page of the audit log, newest first, with the exact number of matching events.
    pub async fn admin_audit_events(
        &self,
        actor: &Actor,
        query: AuditQuery,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<AuditEventPage, AdminAuditError> {
        self.admit(actor, AdminOperation::ReadAudit, None, ctx, now)
            .await?;
        let mut query = query;
        if let Some(org) = actor.organization() {
            query.filter.org_id = Some(org.id);
        }
        self.with_db(move |db| {
            queries::list_audit_events(
                db,
                &query.filter,
                query.before,
                i64::from(query.limit.max(1)),
            )
        })
        .await
        .map_err(AdminAuditError::from)
    }

    /// Every stored signing key, by algorithm and then newest first.
    pub async fn admin_signing_keys(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyView>, AdminAuditError> {
        self.admit(actor, AdminOperation::ReadKeys, None, ctx, now)
            .await?;
        Ok(self.with_db(signing_key_views).await?)
    }

    /// Rotates `algs` (both when empty) as `gatehouse keys rotate` does: active → retired,
    /// next → active, a new next. Audited as `admin.keys_rotate` with what was rotated.
    pub async fn admin_rotate_keys(
        &self,
        actor: &Actor,
        keys: Arc<KeyManager>,
        algs: Vec<Algorithm>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<KeyRotation, AdminAuditError> {
        self.admit(actor, AdminOperation::RotateKeys, None, ctx, now)
            .await?;
        let algs = if algs.is_empty() {
            vec![Algorithm::ES256, Algorithm::RS256]
        } else {
            algs
        };
        let manager = keys.clone();
        let rotated = self
            .with_db(move |_| -> Result<Vec<Algorithm>, AdminAuditError> {
                // The manager reports a lost race (another rotation first) in its log; the
                // active key changed either way.
                for alg in &algs {
                    manager.rotate(*alg, now)?;
                }
                Ok(algs)
            })
            .await?;
        let ctx = actor.context(ctx);
        let names: Vec<&str> = rotated.iter().map(|alg| alg.name()).collect();
        self.audit(
            AuditAction::AdminKeysRotate,
            "signing_keys".to_owned(),
            serde_json::json!({ "algorithms": names }),
            &ctx,
            now,
        )
        .await;
        let views = self.with_db(signing_key_views).await?;
        let jwks = serde_json::from_str(&keys.jwks_json())
            .unwrap_or_else(|_| serde_json::json!({ "keys": [] }));
        Ok(KeyRotation {
            rotated,
            keys: views,
            jwks,
        })
    }

    /// The dashboard's counts at `now`.
    pub async fn admin_stats(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<AdminStats, AdminAuditError> {
        self.admit(actor, AdminOperation::ReadStats, None, ctx, now)
            .await?;
        let org = actor.organization().map(|org| org.id);
        let active_sessions = match org {
            None => Some(self.live_session_count(now).await?),
            Some(_) => None,
        };
        self.with_db(move |db| {
            let day = now - chrono::Duration::hours(24);
            let week = now - chrono::Duration::days(7);
            let count =
                |action, since| queries::count_audit_events_since_in(db, action, None, since, org);
            Ok(AdminStats {
                users: user_counts(db, org, now)?,
                active_sessions,
                sign_ins_24h: count(AuditAction::LoginSuccess, day)?,
                sign_ins_7d: count(AuditAction::LoginSuccess, week)?,
                sign_in_failures_24h: count(AuditAction::LoginFailure, day)?,
                sign_in_failures_7d: count(AuditAction::LoginFailure, week)?,
                lockouts_24h: count(AuditAction::AccountLockout, day)?,
            })
        })
        .await
    }

    async fn live_session_count(&self, now: DateTime<Utc>) -> Result<i64, AppError> {
        let count = self.sessions.count_live(now.timestamp()).await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// One round of audit retention: when `lease` is this instance's (or free), deletes at
    /// most `batch` events older than `retention` before `now`; returns how many (0 when
    /// another instance holds the lease).
    pub async fn enforce_audit_retention(
        &self,
        lease: &RetentionLease,
        retention: chrono::Duration,
        batch: usize,
        now: DateTime<Utc>,
    ) -> Result<usize, AppError> {
        if !lease.acquire().await? {
            return Ok(0);
        }
        let cutoff = now - retention;
        let deleted = self
            .with_db(move |db| queries::delete_audit_events_before(db, cutoff, batch))
            .await?;
        if deleted > 0 {
            tracing::info!(deleted, %cutoff, "audit retention: deleted old events");
        }
        Ok(deleted)
    }
}

/// Users by status: every account, or the members of `org`.
fn user_counts(
    db: &gatehouse_identity::Database,
    org: Option<uuid::Uuid>,
    now: DateTime<Utc>,
) -> Result<UserCounts, IdentityError> {
    match org {
        None => queries::count_users_by_status(db, now),
        Some(org) => queries::count_org_users_by_status(db, org, now),
    }
}

fn signing_key_views(
    db: &gatehouse_identity::Database,
) -> Result<Vec<SigningKeyView>, IdentityError> {
    let mut keys: Vec<SigningKeyView> = db
        .list_signing_keys()?
        .into_iter()
        .map(|key| SigningKeyView {
            status: key.status.as_str(),
            kid: key.kid,
            alg: key.alg,
            created_at: key.created_at,
            activated_at: key.activated_at,
            published_until: key.published_until,
        })
        .collect();
    keys.sort_by(|a, b| {
        a.alg
            .cmp(&b.alg)
            .then(b.created_at.cmp(&a.created_at))
            .then(a.kid.cmp(&b.kid))
    });
    Ok(keys)
}

/// One instance at a time runs retention: a lease in the session store (set-if-absent with a
/// TTL, renewed by compare-and-swap while held). The delete itself is safe to run on several
/// instances at once (each statement deletes what is still there); the lease only spares the
/// database the duplicate work. An instance that dies holding it frees it after `ttl`.
pub struct RetentionLease {
    store: Arc<dyn KvStore>,
    holder: String,
    ttl: Duration,
}

/// The session-store key of the lease.
pub const RETENTION_LEASE_KEY: &str = "lease:audit-retention";

impl RetentionLease {
    /// A lease for this instance (a fresh random holder id).
    pub fn new(store: Arc<dyn KvStore>, ttl: Duration) -> Self {
        Self {
            store,
            holder: uuid::Uuid::new_v4().to_string(),
            ttl,
        }
    }

    /// Takes the lease if it is free, or renews it if this instance holds it.
    pub async fn acquire(&self) -> Result<bool, StoreError> {
        let me = self.holder.as_bytes();
        if self
            .store
            .put_if_absent(RETENTION_LEASE_KEY, me, self.ttl)
            .await?
        {
            return Ok(true);
        }
        self.store
            .replace_if(RETENTION_LEASE_KEY, me, me, self.ttl)
            .await
    }
}

/// The filter as the export's audit event records it (only the fields given).
fn filter_details(filter: &AuditFilter) -> serde_json::Value {
    let mut details = serde_json::Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            details.insert(name.to_owned(), serde_json::Value::String(value));
        }
    };
    put("actor", filter.actor.clone());
    put("target", filter.target.clone());
    put("action", filter.action.clone());
    put("outcome", filter.outcome.map(|o| o.as_str().to_owned()));
    put("since", filter.since.map(|t| t.to_rfc3339()));
    put("until", filter.until.map(|t| t.to_rfc3339()));
    put("org_id", filter.org_id.map(|id| id.to_string()));
    serde_json::Value::Object(details)
}

/// `outcome` parsed from its stored name (`success`, `failure`).
pub fn parse_outcome(text: &str) -> Option<AuditOutcome> {
    match text {
        "success" => Some(AuditOutcome::Success),
        "failure" => Some(AuditOutcome::Failure),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_of_hours_gives_the_last_day_by_hour_and_the_week_by_day() {
        // Hour h holds h (0 to 167): the latest hour 0, the oldest 167.
        let hours: Vec<i64> = (0..i64::from(WEEK_HOURS)).collect();
        let activity = Activity::from_hours(&hours);
        assert_eq!(activity.hourly, (0..24).collect::<Vec<i64>>());
        assert_eq!(activity.daily.len(), 7);
        // Day d sums hours 24d to 24d + 23.
        for (d, total) in activity.daily.iter().enumerate() {
            let d = i64::try_from(d).unwrap_or(0);
            assert_eq!(*total, (24 * d..24 * d + 24).sum::<i64>());
        }
        assert_eq!(activity.last_24_hours(), (0..24).sum::<i64>());
        assert_eq!(activity.last_7_days(), hours.iter().sum::<i64>());
    }

    #[test]
    fn an_export_records_only_the_filters_given() {
        let filter = AuditFilter {
            action: Some("login.failure".to_owned()),
            outcome: Some(AuditOutcome::Failure),
            ..AuditFilter::default()
        };
        assert_eq!(
            filter_details(&filter),
            serde_json::json!({ "action": "login.failure", "outcome": "failure" })
        );
    }
}
