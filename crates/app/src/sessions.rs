//! The one end-session path: whatever ends a browser session goes through
//! [`Gatehouse::end_session`] (or, for sessions the per-user limit pushes out at sign-in,
//! through the same consequences in [`Gatehouse::session_ended`]).

use chrono::{DateTime, Utc};
use gatehouse_identity::{AuditAction, RequestContext};
use gatehouse_sessions::SessionHandle;
use uuid::Uuid;

use crate::{AppError, Gatehouse};

/// Why a browser session ends. Each reason is audited under its own stable action name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Sign-out in this browser (the account page's button, RP-initiated logout).
    SignOut,
    /// "Sign out" on another session in the user's session list.
    SignedOutFromList,
    /// A newer sign-in of the user went over the per-user session limit.
    OverLimit,
    /// A new sign-in in the same browser replaced it.
    Replaced,
    /// The account no longer exists.
    AccountGone,
    /// Its lifetime ran out (found by the expiry sweep, up to a sweep interval late).
    Expired,
    /// Every session of the user ends at once ([`Gatehouse::end_all_sessions`]): one audit
    /// event for all of them.
    Everywhere,
}

impl SessionEnd {
    /// The audit action; `None` where the event that caused it is audited already (a sign-in
    /// replacing the browser's previous session is the sign-in).
    fn audit_action(self) -> Option<AuditAction> {
        match self {
            SessionEnd::SignOut => Some(AuditAction::Logout),
            SessionEnd::SignedOutFromList => Some(AuditAction::SessionEnd),
            SessionEnd::Expired => Some(AuditAction::SessionExpire),
            SessionEnd::Replaced | SessionEnd::AccountGone | SessionEnd::Everywhere => None,
            // One event per sign-in however many it ends, written by the sign-in.
            SessionEnd::OverLimit => None,
        }
    }
}

/// Which session to end.
#[derive(Debug, Clone, Copy)]
pub enum SessionRef<'a> {
    /// The session behind this browser's cookie.
    Cookie(&'a str),
    /// One of this user's sessions, by its public id (a session of another user is left alone).
    OfUser(Uuid, &'a SessionHandle),
}

impl Gatehouse {
    /// Ends one browser session: deletes it (its cookie is refused from now on), revokes the
    /// grants issued in it except `offline_access` ones, and audits. false if there was no such
    /// session (already ended, expired, another user's), in which case nothing changes.
    pub async fn end_session(
        &self,
        which: SessionRef<'_>,
        reason: SessionEnd,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let ended = match which {
            SessionRef::Cookie(secret) => self
                .sessions
                .end_by_cookie(secret)
                .await?
                .map(|(handle, session)| (handle, session.user_id)),
            SessionRef::OfUser(user_id, handle) => self
                .sessions
                .destroy_handle(user_id, handle)
                .await?
                .then(|| (handle.clone(), user_id)),
        };
        let Some((handle, user_id)) = ended else {
            return Ok(false);
        };
        self.session_ended(&handle, user_id, reason, ctx, now)
            .await?;
        Ok(true)
    }

    /// Ends every session of the user but `keep` (the browser asking): "sign out all other
    /// sessions". Each goes through [`Gatehouse::end_session`]; returns how many ended.
    pub async fn end_other_sessions(
        &self,
        user_id: Uuid,
        keep: &SessionHandle,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<usize, AppError> {
        let mut ended = 0;
        for (handle, _) in self.sessions.list_for_user(user_id).await? {
            if &handle != keep
                && self
                    .end_session(
                        SessionRef::OfUser(user_id, &handle),
                        SessionEnd::SignedOutFromList,
                        ctx,
                        now,
                    )
                    .await?
            {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Ends every session of the user and revokes every grant the user holds, offline ones
    /// included: "sign out everywhere", and what a second-factor reset (later also a password
    /// reset, lock or disable) does. Each session's relying parties get a back-channel logout
    /// with its `sid`; those holding only offline grants get one naming the user. One audit
    /// event. Returns how many sessions ended.
    pub async fn end_all_sessions(
        &self,
        user_id: Uuid,
        reason: SessionEnd,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<usize, AppError> {
        let mut ended = 0;
        for (handle, _) in self.sessions.list_for_user(user_id).await? {
            if self.sessions.destroy_handle(user_id, &handle).await? {
                self.session_ended(&handle, user_id, reason, ctx, now)
                    .await?;
                ended += 1;
            }
        }
        let rest = self.authz.end_user_grants(user_id, now.timestamp()).await?;
        self.queue_user_logouts(user_id, &rest.clients, now).await;
        self.audit(
            AuditAction::SessionEndAll,
            user_id.to_string(),
            serde_json::json!({ "sessions": ended, "grants_revoked": rest.revoked }),
            ctx,
            now,
        )
        .await;
        Ok(ended)
    }

    /// The expiry sweep: sessions whose lifetime ran out by `now` get the consequences of any
    /// other session end (grants revoked, back-channel logout, audit). Several instances may
    /// sweep at once: each expired session is handled by one. Returns how many it handled;
    /// at most `limit` per call.
    pub async fn sweep_expired_sessions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, AppError> {
        let expired = self.sessions.claim_expired(now.timestamp(), limit).await?;
        let ctx = RequestContext::system("session-expiry");
        for (handle, user_id) in &expired {
            self.session_ended(handle, *user_id, SessionEnd::Expired, &ctx, now)
                .await?;
        }
        Ok(expired.len())
    }

    /// Tells each client whose grants of the user were revoked outside any session (offline
    /// grants) by a back-channel logout naming the user only. A failure to queue one is logged.
    pub(crate) async fn queue_user_logouts(
        &self,
        user_id: Uuid,
        clients: &[String],
        now: DateTime<Utc>,
    ) {
        let sub = user_id.to_string();
        for client_id in clients {
            if let Err(err) = self
                .authz
                .queue_backchannel_logout(client_id, Some(&sub), None, now)
                .await
            {
                tracing::error!(%client_id, error = %err, "could not queue a back-channel logout");
            }
        }
    }

    /// What follows a session's end, whoever deleted it: its grants, then the audit trail.
    pub(crate) async fn session_ended(
        &self,
        handle: &SessionHandle,
        user_id: Uuid,
        reason: SessionEnd,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let grants = self
            .authz
            .end_session_grants(handle.as_str(), now.timestamp())
            .await?;
        tracing::debug!(
            %user_id,
            ?reason,
            revoked = grants.revoked,
            clients = grants.clients.len(),
            "browser session ended"
        );
        // Back-Channel Logout 1.0 §2.7: every client that received tokens in the session is
        // told, through the durable queue (the worker sends; nothing is sent from here). The
        // session is already gone, so a failure to queue one notification is logged and does
        // not undo the sign-out.
        let sub = user_id.to_string();
        for client_id in &grants.clients {
            if let Err(err) = self
                .authz
                .queue_backchannel_logout(client_id, Some(&sub), Some(handle.as_str()), now)
                .await
            {
                tracing::error!(%client_id, error = %err, "could not queue a back-channel logout");
            }
        }
        if let Some(action) = reason.audit_action() {
            let mut ctx = ctx.clone();
            ctx.actor = Some(user_id.to_string());
            self.audit_success(action, user_id.to_string(), &ctx, now)
                .await;
        }
        Ok(())
    }
}
