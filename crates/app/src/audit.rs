//! Audit events the application layer writes (identity writes its own for registration and
//! sign-in attempts).

use chrono::{DateTime, Utc};
use gatehouse_identity::{AuditOutcome, NewAuditEvent, RequestContext};

use crate::Gatehouse;

impl Gatehouse {
    /// Records a successful action by `ctx`'s actor. A failed audit write is logged, not
    /// returned: the action itself already happened.
    pub(crate) async fn audit_success(
        &self,
        action: &'static str,
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
        action: &'static str,
        target: String,
        details: serde_json::Value,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) {
        let event = NewAuditEvent {
            occurred_at: now,
            actor: ctx.actor.clone(),
            action: action.to_owned(),
            target: Some(target),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            outcome: AuditOutcome::Success,
            details,
        };
        let db = self.accounts.database().clone();
        match tokio::task::spawn_blocking(move || db.append_audit(&event)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, action, "could not write audit event"),
            Err(err) => tracing::error!(error = %err, action, "audit task failed"),
        }
    }
}
