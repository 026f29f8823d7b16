//! Audit events the application layer writes (identity writes its own for registration and
//! sign-in attempts).

use chrono::{DateTime, Utc};
use gatehouse_identity::{AuditAction, AuditOutcome, NewAuditEvent, RequestContext};

use crate::Gatehouse;

impl Gatehouse {
    /// Records a successful action by `ctx`'s actor. A failed audit write is logged, not
    /// returned: the action itself already happened.
    pub(crate) async fn audit_success(
        &self,
        action: AuditAction,
        target: String,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) {
        self.audit(action, target, serde_json::json!({}), ctx, now)
            .await;
    }

    /// [`Gatehouse::audit_success`] with details.
    pub(crate) async fn audit(
        &self,
        action: AuditAction,
        target: String,
        details: serde_json::Value,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) {
        self.audit_with_outcome(action, AuditOutcome::Success, target, details, ctx, now)
            .await;
    }

    /// Records a refused action by `ctx`'s actor.
    pub(crate) async fn audit_failure(
        &self,
        action: AuditAction,
        target: String,
        details: serde_json::Value,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) {
        self.audit_with_outcome(action, AuditOutcome::Failure, target, details, ctx, now)
            .await;
    }

    async fn audit_with_outcome(
        &self,
        action: AuditAction,
        outcome: AuditOutcome,
        target: String,
        details: serde_json::Value,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) {
        let event = NewAuditEvent::in_context(ctx, now, action, outcome, Some(target), details);
        if let Err(err) = self.with_db(move |db| db.append_audit(&event)).await {
            tracing::error!(error = %err, action = action.as_str(), "could not write audit event");
        }
    }
}
