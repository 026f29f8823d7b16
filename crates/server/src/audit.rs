//! Audit events written by the web layer (the identity services write their own).

use gatehouse_identity::{AuditOutcome, NewAuditEvent, RequestContext};

use crate::app::AppState;

/// Records a successful action. A failed audit write is logged, not shown to the user: the action
/// itself already happened.
pub async fn record_success(
    state: &AppState,
    action: &str,
    target: Option<String>,
    ctx: &RequestContext,
) {
    let event = NewAuditEvent {
        occurred_at: state.clock.now(),
        actor: ctx.actor.clone(),
        action: action.to_owned(),
        target,
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        outcome: AuditOutcome::Success,
        details: serde_json::json!({}),
    };
    let db = state.accounts.database().clone();
    match tokio::task::spawn_blocking(move || db.append_audit(&event)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, action, "could not write audit event"),
        Err(err) => tracing::error!(error = %err, action, "audit task failed"),
    }
}
