//! Administration of audit, behind the permission gate (`crate::admin`): the audit log read
//! back with filters (`ReadAudit`), the signing keys listed (`ReadKeys`) and rotated
//! (`RotateKeys`, audited as `admin.keys_rotate`), the dashboard's counts (`ReadStats`), and
//! the retention of the audit log (a background job, not an operator's request: no gate).
//!
//! Reads are not audited (the trail would fill with its own readers); a refused read is, by the
//! gate (`admin.denied`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_identity::admin::audit::{self as queries, AuditEventPage, AuditFilter, UserCounts};
use gatehouse_identity::{AuditAction, AuditOutcome, IdentityError, RequestContext};
use gatehouse_sessions::{KvStore, StoreError};
use gatehouse_tokens::{Algorithm, KeyManager, KeyStoreError};

use crate::admin::{Actor, AdminDenied, AdminOperation};
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
    pub sign_ins_24h: i64,
    pub sign_ins_7d: i64,
    pub sign_in_failures_24h: i64,
    pub sign_in_failures_7d: i64,
    pub lockouts_24h: i64,
}

impl Gatehouse {
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
        let mut ctx = ctx.clone();
        ctx.actor = Some(actor.audit_name());
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
        self.with_db(move |db| {
            let day = now - chrono::Duration::hours(24);
            let week = now - chrono::Duration::days(7);
            let count = |action, since| queries::count_audit_events_since(db, action, None, since);
            Ok(AdminStats {
                users: queries::count_users_by_status(db, now)?,
                sign_ins_24h: count(AuditAction::LoginSuccess, day)?,
                sign_ins_7d: count(AuditAction::LoginSuccess, week)?,
                sign_in_failures_24h: count(AuditAction::LoginFailure, day)?,
                sign_in_failures_7d: count(AuditAction::LoginFailure, week)?,
                lockouts_24h: count(AuditAction::AccountLockout, day)?,
            })
        })
        .await
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

/// `outcome` parsed from its stored name (`success`, `failure`).
pub fn parse_outcome(text: &str) -> Option<AuditOutcome> {
    match text {
        "success" => Some(AuditOutcome::Success),
        "failure" => Some(AuditOutcome::Failure),
        _ => None,
    }
}
