//! The account's address: verification by link or code, resending, and changing it.
//!
//! Every mail is queued in the transaction of the change that causes it (the outbox), so it
//! goes out if and only if the change committed. A change of address is only a pending token
//! until the new address is verified: the account keeps using, and signing in with, its current
//! address, which is told of the request.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Accounts, RequestContext, audit_event};
use crate::audit::{self, AuditAction, AuditOutcome};
use crate::db::{DbConnection, stored};
use crate::email_tokens::{self, CodeCheck, EmailTokenPurpose, IssuedToken, TokenState};
use crate::error::IdentityError;
use crate::mail_outbox::{self, OutboxMail};
use crate::users::{User, id_text, queries};
use crate::validation::{Email, FieldError};

/// The mails account changes send, rendered by the caller's templates. Identity decides when a
/// mail goes out and to whom; the implementation decides what it says.
pub trait AccountMails: Send + Sync {
    /// The link (and short code) that verifies `to`.
    fn verification(&self, to: &str, token: &IssuedToken) -> Result<OutboxMail, IdentityError>;
    /// The link that resets the password of the account at `to`.
    fn password_reset(&self, to: &str, token: &IssuedToken) -> Result<OutboxMail, IdentityError>;
    /// "Your password was changed" (by a reset or by the user).
    fn password_changed(&self, to: &str) -> Result<OutboxMail, IdentityError>;
    /// To an address that already has an account, when someone signs up (or asks to move
    /// another account) to it: what to do if it was them.
    fn account_exists(&self, to: &str) -> Result<OutboxMail, IdentityError>;
    /// To the current address when a change to `new_address` is requested.
    fn email_change_notice(&self, to: &str, new_address: &str)
    -> Result<OutboxMail, IdentityError>;
}

/// Mails with a token: who renders them and how long the token lives.
#[derive(Clone)]
pub struct TokenMail {
    pub mails: Arc<dyn AccountMails>,
    pub ttl: chrono::Duration,
}

impl std::fmt::Debug for TokenMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMail").field("ttl", &self.ttl).finish()
    }
}

/// The account's address as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailStatus {
    pub email: String,
    pub verified: bool,
    /// A new address waiting for its verification link (the account still uses `email`).
    pub pending: Option<String>,
}

/// What a resend did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResentVerification {
    /// A new link went to this address; older links are dead.
    Sent { to: String },
    /// Nothing to verify: the address is verified and no change is pending.
    AlreadyVerified,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailChangeError {
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    /// The new address is the current one.
    #[error("that is already the account's address")]
    Unchanged,
    #[error("no such account")]
    UnknownUser,
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

/// An address that was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailVerified {
    pub user_id: uuid::Uuid,
    pub email: String,
    /// The address the account had before, when this verification changed it.
    pub replaced: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyEmailError {
    /// The link was used already (a second click): the address is verified.
    #[error("this link was used already")]
    AlreadyUsed,
    /// Unknown, expired or replaced by a newer link.
    #[error("this link is not valid (expired or replaced by a newer one)")]
    Invalid,
    /// A wrong code; `remaining` attempts are left on the link (0: it is dead, resend).
    #[error("wrong code")]
    WrongCode { remaining: i32 },
    /// No verification is pending for the account.
    #[error("no verification is pending")]
    NothingPending,
    /// The new address was taken by another account meanwhile.
    #[error("the address now belongs to another account")]
    AddressTaken,
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

impl From<diesel::result::Error> for VerifyEmailError {
    fn from(err: diesel::result::Error) -> Self {
        VerifyEmailError::Internal(err.into())
    }
}

impl From<diesel::result::Error> for EmailChangeError {
    fn from(err: diesel::result::Error) -> Self {
        EmailChangeError::Internal(err.into())
    }
}

/// Issues a verification token for `to` and queues its mail, in the caller's transaction.
pub(crate) fn send_verification(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    to: &str,
    mail: &TokenMail,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    let token = email_tokens::issue(
        conn,
        user_id,
        EmailTokenPurpose::VerifyEmail,
        to,
        mail.ttl,
        now,
    )?;
    mail_outbox::enqueue(conn, &mail.mails.verification(to, &token)?, now)?;
    audit::append(
        conn,
        &audit_event(
            ctx,
            now,
            AuditAction::EmailVerificationSent,
            AuditOutcome::Success,
            Some(id_text(user_id)),
            json!({ "expires_at": token.expires_at }),
        ),
    )?;
    Ok(())
}

impl Accounts {
    /// The account's address, whether it is verified, and a pending new one.
    pub async fn email_status(
        &self,
        user_id: uuid::Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<EmailStatus>, IdentityError> {
        self.db
            .run(move |db| {
                db.read(|conn| {
                    let Some(user) = queries::find_by_id(conn, user_id)? else {
                        return Ok(None);
                    };
                    let pending = pending_change(conn, &user, now)?;
                    Ok(Some(EmailStatus {
                        email: user.email,
                        verified: user.email_verified,
                        pending,
                    }))
                })
            })
            .await
    }

    /// Sends a new verification link (killing the previous one): to the pending new address if
    /// a change is pending, else to the account's address unless it is verified already.
    /// `None` for an unknown account.
    pub async fn resend_email_verification(
        &self,
        user_id: uuid::Uuid,
        mail: TokenMail,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Option<ResentVerification>, IdentityError> {
        let (now, ctx) = (stored(now), ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    if !queries::lock_row(conn, user_id)? {
                        return Ok(None);
                    }
                    let Some(user) = queries::find_by_id(conn, user_id)? else {
                        return Ok(None);
                    };
                    let to = match pending_change(conn, &user, now)? {
                        Some(pending) => pending,
                        None if !user.email_verified => user.email.clone(),
                        None => return Ok(Some(ResentVerification::AlreadyVerified)),
                    };
                    send_verification(conn, user_id, &to, &mail, &ctx, now)?;
                    Ok(Some(ResentVerification::Sent { to }))
                })
            })
            .await
    }

    /// Starts a change of address: a verification link goes to the new address and a notice to
    /// the current one; nothing else changes until the link (or code) is used. If the new
    /// address belongs to another account, that account's owner is told instead and the answer
    /// is the same, so this cannot be used to find out which addresses are registered.
    pub async fn request_email_change(
        &self,
        user_id: uuid::Uuid,
        new_email: &str,
        mail: TokenMail,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), EmailChangeError> {
        let email = Email::parse(new_email).map_err(EmailChangeError::Invalid)?;
        let (now, ctx) = (stored(now), ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    if !queries::lock_row(conn, user_id)? {
                        return Err(EmailChangeError::UnknownUser);
                    }
                    let user =
                        queries::find_by_id(conn, user_id)?.ok_or(EmailChangeError::UnknownUser)?;
                    if user.email.to_lowercase() == email.as_str().to_lowercase() {
                        return Err(EmailChangeError::Unchanged);
                    }
                    let taken = queries::email_taken(conn, &email)?;
                    if taken {
                        let notice = mail.mails.account_exists(email.as_str())?;
                        mail_outbox::enqueue(conn, &notice, now)?;
                    } else {
                        send_verification(conn, user_id, email.as_str(), &mail, &ctx, now)?;
                        let notice = mail
                            .mails
                            .email_change_notice(&user.email, email.as_str())?;
                        mail_outbox::enqueue(conn, &notice, now)?;
                    }
                    audit::append(
                        conn,
                        &audit_event(
                            &ctx,
                            now,
                            AuditAction::EmailChangeRequest,
                            AuditOutcome::Success,
                            Some(id_text(user_id)),
                            json!({ "address_taken": taken }),
                        ),
                    )?;
                    Ok(())
                })
            })
            .await
    }

    /// Uses a verification link: the address it was sent to becomes the account's, verified.
    pub async fn verify_email_link(
        &self,
        token: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<EmailVerified, VerifyEmailError> {
        let (token, now, ctx) = (token.to_owned(), stored(now), ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    let stored = email_tokens::find(conn, EmailTokenPurpose::VerifyEmail, &token)?
                        .ok_or(VerifyEmailError::Invalid)?;
                    match stored.state(now) {
                        TokenState::Live => {}
                        TokenState::Used => return Err(VerifyEmailError::AlreadyUsed),
                        TokenState::Expired | TokenState::Revoked => {
                            return Err(VerifyEmailError::Invalid);
                        }
                    }
                    apply_verification(conn, &stored, "link", &ctx, now)
                })
            })
            .await
    }

    /// Checks the short code of the user's live verification mail (typed while signed in).
    /// Wrong codes count against the link, which dies after a few.
    pub async fn verify_email_code(
        &self,
        user_id: uuid::Uuid,
        code: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<EmailVerified, VerifyEmailError> {
        let (code, now, ctx) = (code.to_owned(), stored(now), ctx.clone());
        // The wrong attempt is counted in a transaction that commits; the refusal is returned
        // after it.
        self.db
            .run(move |db| {
                db.write(|conn| {
                    if !queries::lock_row(conn, user_id)? {
                        return Err(VerifyEmailError::NothingPending);
                    }
                    match email_tokens::check_code(conn, user_id, &code, now)? {
                        CodeCheck::NoneLive => Ok(Err(VerifyEmailError::NothingPending)),
                        CodeCheck::Wrong { remaining } => {
                            audit::append(
                                conn,
                                &audit_event(
                                    &ctx,
                                    now,
                                    AuditAction::EmailVerify,
                                    AuditOutcome::Failure,
                                    Some(id_text(user_id)),
                                    json!({ "method": "code", "reason": "wrong_code",
                                            "remaining": remaining }),
                                ),
                            )?;
                            Ok(Err(VerifyEmailError::WrongCode { remaining }))
                        }
                        CodeCheck::Matches(stored) => {
                            apply_verification(conn, &stored, "code", &ctx, now).map(Ok)
                        }
                    }
                })
            })
            .await?
    }
}

/// A new address waiting for verification: the address of the user's live verification token,
/// when it is not the account's own.
fn pending_change(
    conn: &mut DbConnection,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Option<String>, IdentityError> {
    Ok(
        email_tokens::live_for_user(conn, user.id, EmailTokenPurpose::VerifyEmail, now)?
            .map(|token| token.email)
            .filter(|email| email.to_lowercase() != user.email.to_lowercase()),
    )
}

/// Spends a live verification token and marks its address verified, moving the account to it
/// when it is a new one.
fn apply_verification(
    conn: &mut DbConnection,
    token: &email_tokens::StoredToken,
    method: &str,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> Result<EmailVerified, VerifyEmailError> {
    if !queries::lock_row(conn, token.user_id)? {
        return Err(VerifyEmailError::Invalid);
    }
    let user = queries::find_by_id(conn, token.user_id)?.ok_or(VerifyEmailError::Invalid)?;
    let replaced = (user.email.to_lowercase() != token.email.to_lowercase()).then_some(user.email);
    if replaced.is_some() {
        let email = Email::parse(&token.email).map_err(|err| {
            IdentityError::Corrupt(format!("email token {}: {}", token.id, err.message))
        })?;
        if queries::email_taken(conn, &email)? {
            return Err(VerifyEmailError::AddressTaken);
        }
    }
    if !email_tokens::use_token(conn, token.id, now)? {
        return Err(VerifyEmailError::Invalid);
    }
    queries::set_email(conn, token.user_id, &token.email, now)?;
    audit::append(
        conn,
        &audit_event(
            ctx,
            now,
            AuditAction::EmailVerify,
            AuditOutcome::Success,
            Some(id_text(token.user_id)),
            json!({ "method": method, "changed": replaced.is_some() }),
        ),
    )?;
    Ok(EmailVerified {
        user_id: token.user_id,
        email: token.email.clone(),
        replaced,
    })
}
