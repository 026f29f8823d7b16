//! Recording a refused attempt (a wrong password, a wrong second-factor code, a password typed
//! again for a sensitive change), inside the transaction that judged it: every kind counts
//! toward the same lockout and leaves the same audit trail.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::lockout::Verdict;
use super::{RequestContext, audit_event};
use crate::audit::{self, AuditAction, AuditOutcome};
use crate::db::DbConnection;
use crate::error::IdentityError;
use crate::users::{id_text, queries};

/// Writes what `verdict` says about a refused attempt on `user_id`: for a refusal whatever the
/// secret (locked, disabled) a `login.failure` naming it; for a failure that counts, the new
/// counters, a `login.failure` naming `failure_reason`, and `account.lockout` when this one
/// locks. `extra` (a JSON object) adds to the failure's details. A success writes nothing.
pub(super) fn record(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    verdict: &Verdict,
    failure_reason: &str,
    extra: Value,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    let target = Some(id_text(user_id));
    let event =
        |action, outcome, details| audit_event(ctx, now, action, outcome, target.clone(), details);
    let mut details = match extra {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    match verdict {
        Verdict::Success { .. } => return Ok(()),
        Verdict::Refused { reason } => {
            details.insert("reason".to_owned(), json!(reason.as_str()));
        }
        Verdict::Failed { next, .. } => {
            queries::save_login_state(conn, user_id, next, now)?;
            details.insert("reason".to_owned(), json!(failure_reason));
            details.insert("failed_logins".to_owned(), json!(next.failed_logins));
        }
    }
    audit::append(
        conn,
        &event(
            AuditAction::LoginFailure,
            AuditOutcome::Failure,
            Value::Object(details),
        ),
    )?;
    if let Verdict::Failed { next, locks: true } = verdict {
        let details = json!({
            "failed_logins": next.failed_logins,
            "locked_until": next.locked_until,
        });
        audit::append(
            conn,
            &event(AuditAction::AccountLockout, AuditOutcome::Success, details),
        )?;
        tracing::warn!(%user_id, reason = failure_reason, "account locked after repeated failures");
        metrics::counter!("gatehouse_lockouts_total").increment(1);
    }
    Ok(())
}
