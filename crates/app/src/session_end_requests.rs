//! Carrying out the session-end outbox (`gatehouse_identity`'s `session_end_requests`): requests
//! to end every session of a user, written by processes that cannot reach the sessions (the
//! command line's `user reset-2fa` against an embedded server). Every instance runs
//! [`Gatehouse::process_session_end_requests`] periodically; each request goes to one of them
//! at a time and is deleted once its sessions have ended.

use chrono::{DateTime, Utc};
use gatehouse_identity::RequestContext;

use crate::{AppError, Gatehouse, SessionEnd};

impl Gatehouse {
    /// Claims at most `limit` due requests for `lease` and ends every session of each one's
    /// user, as "sign out everywhere" does ([`Gatehouse::end_all_sessions`]: grants revoked,
    /// back-channel logouts queued, `session.end_all` audited with the requester as actor),
    /// then completes the request. A request that fails is logged and left to be claimed again
    /// when its lease runs out. Returns how many requests were completed; `Err` only when the
    /// claim itself failed.
    pub async fn process_session_end_requests(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<usize, AppError> {
        let requests = self
            .with_db(move |db| db.claim_session_end_requests(now, lease, limit))
            .await?;
        let mut completed = 0;
        for request in requests {
            let ctx = RequestContext {
                actor: request.requested_by.clone(),
                ..RequestContext::default()
            };
            let ended = match self
                .end_all_sessions(request.user_id, SessionEnd::Everywhere, &ctx, now)
                .await
            {
                Ok(ended) => ended,
                Err(err) => {
                    tracing::error!(
                        request_id = request.id,
                        user_id = %request.user_id,
                        error = %err,
                        "cannot end the sessions of a session end request; it is retried when \
                         its lease runs out"
                    );
                    continue;
                }
            };
            let request_id = request.id;
            tracing::info!(
                request_id,
                user_id = %request.user_id,
                reason = %request.reason,
                requested_by = request.requested_by.as_deref().unwrap_or("-"),
                sessions = ended,
                "ended every session of a user on request"
            );
            match self
                .with_db(move |db| db.complete_session_end_request(request_id))
                .await
            {
                Ok(_) => completed += 1,
                // Ending the sessions again after the lease is harmless.
                Err(err) => tracing::error!(
                    request_id,
                    error = %err,
                    "sessions ended, but the session end request could not be completed"
                ),
            }
        }
        Ok(completed)
    }
}
