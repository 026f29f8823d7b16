//! Password reset from a mailed link, and a signed-in user's change of password.
//!
//! A reset is what Keycloak's users keep asking for and not getting (keycloak#8920, #38850):
//! whoever held the old password is out. Its transaction writes a session-end request next to
//! the new hash, and this layer then ends every browser session of the user and revokes every
//! grant, offline ones included, through the one end-session path ([`Gatehouse::end_all_sessions`],
//! so back-channel logouts go out), and completes the request. Should this process die in
//! between, any instance's session-end poller finishes the job.
//!
//! A mailbox alone does not get past a second factor (keycloak#40513): for an account with one,
//! the reset asks for a TOTP code or a recovery code, checked like a sign-in's (replay refused,
//! wrong codes counted toward the account's lockout and against the link).

use chrono::{DateTime, Utc};
use gatehouse_identity::{
    PasswordChangeError, PasswordResetError, RequestContext, ResetTarget, SecondFactorError,
};
use gatehouse_sessions::SessionHandle;
use uuid::Uuid;

use crate::email::acting_as;
use crate::{AppError, Gatehouse, SessionEnd};

/// Why a reset did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ResetFailure {
    /// Unknown, expired, used or replaced link.
    #[error("this reset link is not valid (expired, used or replaced by a newer one)")]
    InvalidToken,
    /// The new password breaks a rule (the message says which).
    #[error("{0}")]
    WeakPassword(String),
    /// The account has a second factor and no code was given.
    #[error("enter a code from your authenticator app or a recovery code")]
    SecondFactorRequired,
    /// A wrong, replayed or malformed code; `remaining` tries are left on the link.
    #[error("invalid code")]
    InvalidCode { remaining: i32 },
    #[error(transparent)]
    Backend(#[from] AppError),
}

/// What a change of password does to the user's other sessions.
#[derive(Debug, Clone, Copy)]
pub enum OtherSessions<'a> {
    /// Nothing.
    Keep,
    /// Every session but this one (the browser or bearer token asking) ends, with its grants,
    /// through the one end-session path; offline grants not issued in this session are revoked
    /// too (whoever held the old password may have taken one).
    EndAllBut(&'a SessionHandle),
    /// Every session and grant of the user ends (a caller with no session of its own).
    EndAll,
}

/// A completed reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordWasReset {
    pub user_id: Uuid,
    /// Browser sessions that ended.
    pub sessions_ended: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordFailure {
    /// Wrong current password (counted toward lockout) or a locked account.
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("{0}")]
    WeakPassword(String),
    #[error(transparent)]
    Backend(#[from] AppError),
}

impl From<gatehouse_identity::IdentityError> for ResetFailure {
    fn from(err: gatehouse_identity::IdentityError) -> Self {
        ResetFailure::Backend(err.into())
    }
}

impl Gatehouse {
    /// Queues a reset link for the account at `email`, if there is an active one. Always `Ok`
    /// for an unknown address: the caller answers the same either way.
    pub async fn request_password_reset(
        &self,
        email: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let mailed = self
            .accounts
            .request_password_reset(email, self.mail.reset(), ctx, now)
            .await?;
        tracing::debug!(mailed = mailed.is_some(), "password reset requested");
        Ok(())
    }

    /// The account a live reset link is for (its form asks for a code when it has a second
    /// factor). Consumes nothing.
    pub async fn password_reset_target(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ResetTarget>, AppError> {
        Ok(self.accounts.password_reset_target(token, now).await?)
    }

    /// Sets a new password from a reset link, then ends every session and grant of the user.
    pub async fn complete_password_reset(
        &self,
        token: &str,
        new_password: &str,
        code: Option<&str>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<PasswordWasReset, ResetFailure> {
        let target = self
            .accounts
            .password_reset_target(token, now)
            .await?
            .ok_or(ResetFailure::InvalidToken)?;
        // The rules first, so that a weak password does not cost a code.
        gatehouse_identity::validate_password(new_password)
            .map_err(|err| ResetFailure::WeakPassword(err.message))?;
        let ctx = acting_as(ctx, target.user_id);
        if target.second_factor {
            let code = code
                .map(str::trim)
                .filter(|code| !code.is_empty())
                .ok_or(ResetFailure::SecondFactorRequired)?;
            match self
                .accounts
                .verify_second_factor(target.user_id, code, &self.settings.totp, &ctx, now)
                .await
            {
                Ok(_) => {}
                Err(SecondFactorError::Rejected) => {
                    let remaining = self
                        .accounts
                        .spend_password_reset_attempt(token, &ctx, now)
                        .await?;
                    return Err(ResetFailure::InvalidCode { remaining });
                }
                Err(SecondFactorError::Internal(err)) => return Err(err.into()),
            }
        }
        let done = match self
            .accounts
            .complete_password_reset(token, new_password, self.mail.reset(), &ctx, now)
            .await
        {
            Ok(done) => done,
            Err(PasswordResetError::InvalidToken) => return Err(ResetFailure::InvalidToken),
            Err(PasswordResetError::Invalid(err)) => {
                return Err(ResetFailure::WeakPassword(err.message));
            }
            Err(PasswordResetError::Internal(err)) => return Err(err.into()),
        };
        self.authz.forget_user(done.user_id);
        let sessions_ended = self
            .end_all_sessions(done.user_id, SessionEnd::Everywhere, &ctx, now)
            .await?;
        let request = done.session_end_request;
        if let Err(err) = self
            .with_db(move |db| db.complete_session_end_request(request))
            .await
        {
            // The poller ends the sessions again later: harmless.
            tracing::warn!(error = %err, "could not complete the reset's session end request");
        }
        Ok(PasswordWasReset {
            user_id: done.user_id,
            sessions_ended,
        })
    }

    /// The offline grants that outlived the sessions just ended (and any other grant not issued
    /// in `keep`): revoked, their clients told by back-channel logout naming the user.
    async fn end_grants_outside(
        &self,
        user_id: Uuid,
        keep: &SessionHandle,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let rest = self
            .authz
            .end_user_grants_except_session(user_id, keep.as_str(), now.timestamp())
            .await?;
        self.queue_user_logouts(user_id, &rest.clients, now).await;
        Ok(())
    }

    /// A signed-in user's change of password; `others` says what happens to the user's other
    /// sessions. Returns how many sessions ended.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current_password: &str,
        new_password: &str,
        others: OtherSessions<'_>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<usize, ChangePasswordFailure> {
        let ctx = acting_as(ctx, user_id);
        match self
            .accounts
            .change_password(
                user_id,
                current_password,
                new_password,
                self.mail.reset(),
                &ctx,
                now,
            )
            .await
        {
            Ok(()) => {}
            Err(PasswordChangeError::WrongPassword) => {
                return Err(ChangePasswordFailure::WrongPassword);
            }
            Err(PasswordChangeError::Invalid(err)) => {
                return Err(ChangePasswordFailure::WeakPassword(err.message));
            }
            Err(PasswordChangeError::Internal(err)) => {
                return Err(ChangePasswordFailure::Backend(err.into()));
            }
        }
        let ended = match others {
            OtherSessions::Keep => 0,
            OtherSessions::EndAllBut(keep) => {
                let ended = self.end_other_sessions(user_id, keep, &ctx, now).await?;
                self.end_grants_outside(user_id, keep, now).await?;
                ended
            }
            OtherSessions::EndAll => {
                self.end_all_sessions(user_id, SessionEnd::Everywhere, &ctx, now)
                    .await?
            }
        };
        Ok(ended)
    }
}
