//! Withdrawing a consent: the next authorization by that client asks the user again.

use chrono::{DateTime, Utc};
use gatehouse_identity::{AuditAction, RequestContext};
use uuid::Uuid;

use crate::{AppError, Gatehouse};

impl Gatehouse {
    /// Withdraws `user_id`'s consent to `client_id` and audits it. false if there was none.
    pub async fn revoke_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let id = client_id.to_owned();
        let revoked = self
            .with_db(move |db| db.revoke_consent(user_id, &id))
            .await?;
        if revoked {
            let mut ctx = ctx.clone();
            ctx.actor = Some(user_id.to_string());
            self.audit_success(AuditAction::ConsentRevoke, client_id.to_owned(), &ctx, now)
                .await;
        }
        Ok(revoked)
    }
}
