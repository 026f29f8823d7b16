//! Setting a new password: by a reset link from the mailbox, or by the signed-in user who knows
//! the current one. Both check the new password against the sign-up rules, hash it, and commit
//! the change with its notice mail and audit event in one transaction. What the change does to
//! sessions and grants is the application layer's decision; a reset also writes a session-end
//! request in its transaction, so every session ends even if this process dies right after.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::email::TokenMail;
use super::{Accounts, RequestContext, audit_event};
use crate::audit::{self, AuditAction, AuditOutcome};
use crate::db::stored;
use crate::email_tokens::{self, EmailTokenPurpose, TokenState};
use crate::error::IdentityError;
use crate::mail_outbox;
use crate::session_end_requests::{self, SessionEndReason};
use crate::two_factor;
use crate::users::{LoginState, UserStatus, id_text, queries};
use crate::validation::{Email, FieldError, validate_password};

/// The account a live reset link is for, as its form needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetTarget {
    pub user_id: uuid::Uuid,
    pub username: String,
    /// The account has a confirmed second factor, which the reset must pass too.
    pub second_factor: bool,
}

/// A completed reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordResetDone {
    pub user_id: uuid::Uuid,
    /// The session-end request written with it; complete it once the sessions have ended.
    pub session_end_request: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordResetError {
    /// Unknown, expired, used or replaced link, or an account that can no longer sign in.
    #[error("this reset link is not valid (expired, used or replaced by a newer one)")]
    InvalidToken,
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    /// The current password is wrong (counted toward lockout), or the account is locked.
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

impl From<diesel::result::Error> for PasswordResetError {
    fn from(err: diesel::result::Error) -> Self {
        PasswordResetError::Internal(err.into())
    }
}

impl Accounts {
    /// Queues a reset link for the active account at `email`, killing its older links. An
    /// unknown or malformed address, or a disabled account, gets nothing and the same `Ok`:
    /// the caller answers identically either way. Returns the account that was mailed.
    pub async fn request_password_reset(
        &self,
        email: &str,
        mail: TokenMail,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Option<uuid::Uuid>, IdentityError> {
        let Ok(email) = Email::parse(email.trim()) else {
            return Ok(None);
        };
        let (now, ctx) = (stored(now), ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    let Some(user) = queries::find_by_email(conn, &email)? else {
                        return Ok(None);
                    };
                    if user.status == UserStatus::Disabled {
                        return Ok(None);
                    }
                    let token = email_tokens::issue(
                        conn,
                        user.id,
                        EmailTokenPurpose::PasswordReset,
                        &user.email,
                        mail.ttl,
                        now,
                    )?;
                    let message = mail.mails.password_reset(&user.email, &token)?;
                    mail_outbox::enqueue(conn, &message, now)?;
                    audit::append(
                        conn,
                        &audit_event(
                            &ctx,
                            now,
                            AuditAction::PasswordResetRequest,
                            AuditOutcome::Success,
                            Some(id_text(user.id)),
                            json!({ "expires_at": token.expires_at }),
                        ),
                    )?;
                    Ok(Some(user.id))
                })
            })
            .await
    }

    /// The account behind a live reset link, for its form. Reads only: a mail scanner that
    /// fetches the link spends nothing.
    pub async fn password_reset_target(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ResetTarget>, IdentityError> {
        let token = token.to_owned();
        self.db
            .run(move |db| {
                db.read(|conn| {
                    let Some(stored) =
                        email_tokens::find(conn, EmailTokenPurpose::PasswordReset, &token)?
                    else {
                        return Ok(None);
                    };
                    if stored.state(now) != TokenState::Live {
                        return Ok(None);
                    }
                    let Some(user) = queries::find_by_id(conn, stored.user_id)? else {
                        return Ok(None);
                    };
                    if user.status == UserStatus::Disabled {
                        return Ok(None);
                    }
                    let second_factor = two_factor::has_confirmed_credential(conn, user.id)?;
                    Ok(Some(ResetTarget {
                        user_id: user.id,
                        username: user.username,
                        second_factor,
                    }))
                })
            })
            .await
    }

    /// Counts a wrong second-factor code against a reset link (it dies after a few), audited.
    /// The attempts left.
    pub async fn spend_password_reset_attempt(
        &self,
        token: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<i32, IdentityError> {
        let (token, now, ctx) = (token.to_owned(), stored(now), ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    let Some(stored) =
                        email_tokens::find(conn, EmailTokenPurpose::PasswordReset, &token)?
                    else {
                        return Ok(0);
                    };
                    if stored.state(now) != TokenState::Live {
                        return Ok(0);
                    }
                    let remaining = email_tokens::spend_attempt(conn, &stored, now)?;
                    audit::append(
                        conn,
                        &audit_event(
                            &ctx,
                            now,
                            AuditAction::PasswordReset,
                            AuditOutcome::Failure,
                            Some(id_text(stored.user_id)),
                            json!({ "reason": "second_factor", "remaining": remaining }),
                        ),
                    )?;
                    Ok(remaining)
                })
            })
            .await
    }

    /// Sets the password from a live reset link (whose second factor, if any, the caller has
    /// checked). In one transaction: spends the link, replaces the hash, clears the lockout
    /// counters (an administrator's disable stays), marks the address verified when the link
    /// went to the account's own address (the reset proved the mailbox), queues the notice mail,
    /// requests the end of every session, audits.
    pub async fn complete_password_reset(
        &self,
        token: &str,
        new_password: &str,
        mails: TokenMail,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<PasswordResetDone, PasswordResetError> {
        validate_password(new_password).map_err(|err| {
            PasswordResetError::Invalid(FieldError::new("new_password", err.message))
        })?;
        let password_hash = self.hasher.hash(new_password.to_owned()).await?;
        let (token, now, ctx) = (token.to_owned(), stored(now), ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    let stored =
                        email_tokens::find(conn, EmailTokenPurpose::PasswordReset, &token)?
                            .ok_or(PasswordResetError::InvalidToken)?;
                    let user_id = stored.user_id;
                    if !queries::lock_row(conn, user_id)? {
                        return Err(PasswordResetError::InvalidToken);
                    }
                    let user = queries::find_by_id(conn, user_id)?
                        .ok_or(PasswordResetError::InvalidToken)?;
                    if user.status == UserStatus::Disabled
                        || !email_tokens::use_token(conn, stored.id, now)?
                    {
                        return Err(PasswordResetError::InvalidToken);
                    }
                    queries::set_password_hash(conn, user_id, &password_hash, now)?;
                    queries::save_login_state(conn, user_id, &LoginState::clear(), now)?;
                    if user.email.to_lowercase() == stored.email.to_lowercase()
                        && !user.email_verified
                    {
                        queries::set_email(conn, user_id, &user.email, now)?;
                    }
                    // Older reset links die with this one.
                    email_tokens::revoke_live(
                        conn,
                        user_id,
                        EmailTokenPurpose::PasswordReset,
                        now,
                    )?;
                    mail_outbox::enqueue(conn, &mails.mails.password_changed(&user.email)?, now)?;
                    let request = session_end_requests::enqueue(
                        conn,
                        user_id,
                        SessionEndReason::PasswordReset,
                        ctx.actor.as_deref(),
                        now,
                    )?;
                    audit::append(
                        conn,
                        &audit_event(
                            &ctx,
                            now,
                            AuditAction::PasswordReset,
                            AuditOutcome::Success,
                            Some(id_text(user_id)),
                            json!({ "email_verified": true }),
                        ),
                    )?;
                    Ok(PasswordResetDone {
                        user_id,
                        session_end_request: request,
                    })
                })
            })
            .await
    }

    /// A signed-in user's change of password: the current one is checked like a sign-in's
    /// (a wrong one counts toward lockout), the new one against the sign-up rules. Commits the
    /// new hash, the notice mail and the audit event together.
    pub async fn change_password(
        &self,
        user_id: uuid::Uuid,
        current_password: &str,
        new_password: &str,
        mails: TokenMail,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), PasswordChangeError> {
        validate_password(new_password).map_err(|err| {
            PasswordChangeError::Invalid(FieldError::new("new_password", err.message))
        })?;
        if !self
            .reauthenticate(user_id, current_password, ctx, now)
            .await?
        {
            return Err(PasswordChangeError::WrongPassword);
        }
        let password_hash = self.hasher.hash(new_password.to_owned()).await?;
        let (now, ctx) = (stored(now), ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    if !queries::lock_row(conn, user_id)? {
                        return Err(PasswordChangeError::WrongPassword);
                    }
                    let user = queries::find_by_id(conn, user_id)?
                        .ok_or(PasswordChangeError::WrongPassword)?;
                    queries::set_password_hash(conn, user_id, &password_hash, now)
                        .map_err(IdentityError::from)?;
                    mail_outbox::enqueue(conn, &mails.mails.password_changed(&user.email)?, now)
                        .map_err(IdentityError::from)?;
                    audit::append(
                        conn,
                        &audit_event(
                            &ctx,
                            now,
                            AuditAction::PasswordChange,
                            AuditOutcome::Success,
                            Some(id_text(user_id)),
                            json!({}),
                        ),
                    )
                    .map_err(IdentityError::from)?;
                    Ok(())
                })
            })
            .await
    }
}

impl From<diesel::result::Error> for PasswordChangeError {
    fn from(err: diesel::result::Error) -> Self {
        PasswordChangeError::Internal(err.into())
    }
}
