//! The user's side of the device authorization grant (RFC 8628 §3.3): a signed-in user looks a
//! user code up, then allows or denies the request, and each decision and each wrong code is
//! audited. The protocol rules (which codes count, the second factor a client requires, the
//! consent an approval records) are `gatehouse_authz::device`'s; the rate limits on wrong
//! codes are the server's, which counts every [`DeviceOutcome::Refused`].

use chrono::{DateTime, Utc};
use gatehouse_authz::{AuthSession, DeviceAction, DeviceCodeRefusal, DeviceOutcome, OAuthError};
use gatehouse_identity::{AuditAction, RequestContext};
use serde_json::json;

use crate::Gatehouse;

fn refusal_reason(refusal: DeviceCodeRefusal) -> &'static str {
    match refusal {
        DeviceCodeRefusal::Unknown => "unknown",
        DeviceCodeRefusal::Expired => "expired",
        DeviceCodeRefusal::Decided => "already_decided",
    }
}

impl Gatehouse {
    /// Shows, allows or denies the device request `entered` names, for `session`'s user.
    pub async fn verify_device_code(
        &self,
        entered: &str,
        session: &AuthSession,
        action: DeviceAction,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<DeviceOutcome, OAuthError> {
        let outcome = self
            .authz
            .verify_device_in_context(entered, session, action, ctx, now)
            .await?;
        let mut ctx = ctx.clone();
        ctx.actor = Some(session.user_id.to_string());
        match &outcome {
            DeviceOutcome::Approved(request) => {
                let details = json!({ "scopes": request.scopes, "user_code": request.user_code });
                self.audit(
                    AuditAction::DeviceApprove,
                    request.client_id.clone(),
                    details,
                    &ctx,
                    now,
                )
                .await;
            }
            DeviceOutcome::Denied(request) => {
                let details = json!({ "scopes": request.scopes, "user_code": request.user_code });
                self.audit(
                    AuditAction::DeviceDeny,
                    request.client_id.clone(),
                    details,
                    &ctx,
                    now,
                )
                .await;
            }
            DeviceOutcome::Refused(refusal) => {
                // The entered text is not recorded: it may be a near miss of a live code.
                let details = json!({ "reason": refusal_reason(*refusal) });
                self.audit_failure(
                    AuditAction::DeviceCodeInvalid,
                    session.user_id.to_string(),
                    details,
                    &ctx,
                    now,
                )
                .await;
            }
            DeviceOutcome::Confirm(_)
            | DeviceOutcome::SecondFactorRequired
            | DeviceOutcome::LoginRequired => {}
        }
        Ok(outcome)
    }
}
