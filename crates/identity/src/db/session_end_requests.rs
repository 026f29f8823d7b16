//! `Database` entry points of the session-end outbox (`crate::session_end_requests`), and the
//! operator's second-factor reset that writes to it: the removal, its audit event and the
//! request to end the user's sessions commit together or not at all.

use chrono::{DateTime, Utc};

use super::Database;
use crate::accounts::RequestContext;
use crate::audit::{self, AuditAction, AuditOutcome, NewAuditEvent};
use crate::error::IdentityError;
use crate::session_end_requests::{self, SessionEndReason, SessionEndRequest};
use crate::users;

impl Database {
    /// Asks the server instances to end every session of the user (see
    /// [`Database::claim_session_end_requests`]); `requested_by` becomes the actor of the audit
    /// event they write.
    pub fn request_session_end(
        &self,
        user_id: uuid::Uuid,
        reason: SessionEndReason,
        requested_by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        self.write_statement(|conn| {
            session_end_requests::enqueue(conn, user_id, reason, requested_by, now)?;
            Ok(())
        })
    }

    /// Claims at most `limit` requests, oldest first, for `lease` (positive): none of them is
    /// handed to another claimer before `now + lease`, however many instances claim at once. A
    /// request not completed by then is claimed again (at least once delivery).
    #[tracing::instrument(skip(self))]
    pub fn claim_session_end_requests(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<SessionEndRequest>, IdentityError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(|conn| session_end_requests::claim(conn, now, lease, limit))
    }

    /// The request's sessions have ended: deletes it. Whether it was still there.
    pub fn complete_session_end_request(&self, request_id: i64) -> Result<bool, IdentityError> {
        self.write_statement(|conn| Ok(session_end_requests::complete(conn, request_id)?))
    }

    /// Requests not yet completed, claimed or not.
    pub fn count_session_end_requests(&self) -> Result<i64, IdentityError> {
        self.read(|conn| Ok(session_end_requests::count(conn)?))
    }

    /// An operator's second-factor reset (`gatehouse user reset-2fa USERNAME`) from a process
    /// that cannot reach the sessions: in one transaction removes the user's TOTP credential
    /// (pending or confirmed) and every recovery code, audits `totp.reset` as `ctx`'s actor, and
    /// requests the end of every session of the user ([`SessionEndReason::SecondFactorReset`]),
    /// which a server instance then carries out. `None` (and nothing written) if there is no
    /// such user; otherwise whether there was a credential to remove.
    #[tracing::instrument(skip(self, ctx))]
    pub fn reset_second_factor_and_request_session_end(
        &self,
        user_id: uuid::Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>, IdentityError> {
        let reset = self.write(|conn| {
            // Orders this after the user's other second-factor flows, as theirs do.
            if !users::queries::lock_row(conn, user_id)? {
                return Ok(None);
            }
            let removed = crate::two_factor::delete_all(conn, user_id)?;
            audit::append(
                conn,
                &NewAuditEvent::in_context(
                    ctx,
                    now,
                    AuditAction::TotpReset,
                    AuditOutcome::Success,
                    Some(user_id.to_string()),
                    serde_json::json!({ "removed": removed }),
                ),
            )?;
            session_end_requests::enqueue(
                conn,
                user_id,
                SessionEndReason::SecondFactorReset,
                ctx.actor.as_deref(),
                now,
            )?;
            Ok::<_, IdentityError>(Some(removed))
        })?;
        if let Some(removed) = reset {
            tracing::warn!(
                removed,
                "second factor reset by an administrator; the user's sessions end next"
            );
        }
        Ok(reset)
    }
}
