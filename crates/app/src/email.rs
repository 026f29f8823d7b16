//! Sign-up and the account's address: registration (with its verification mail), verification
//! by link or code, resending, changing the address, and the `registration.require_verified_email`
//! policy.
//!
//! With the policy on, sign-up does not reveal which addresses have accounts: a sign-up with a
//! registered address (and a free username) answers exactly as a new one does (same shape, a
//! password hash computed either way) and mails the address's owner instead. Usernames stay
//! public by nature: a taken username is still refused.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatehouse_identity::{
    AccountMails, EmailChangeError, EmailStatus, EmailVerified, IdentityError, IssuedToken,
    OutboxMail, RegisterError, Registration, RequestContext, ResentVerification, TokenMail, User,
    UserStatus, VerifyEmailError,
};
use gatehouse_mail::{AccountMailer, MailError, RenderedMail};
use uuid::Uuid;

use crate::sign_in::{PASSWORD_ONLY, SignedIn};
use crate::{AppError, Gatehouse};

/// What account mails say and how long their links live.
#[derive(Debug, Clone)]
pub struct AccountMailSettings {
    pub mailer: AccountMailer,
    /// Verification links and codes (24 hours unless configured otherwise).
    pub verification_ttl: chrono::Duration,
    /// Password reset links (30 minutes unless configured otherwise).
    pub reset_ttl: chrono::Duration,
    /// `registration.require_verified_email`: an unverified user may sign in only to verify.
    pub require_verified_email: bool,
}

/// The verification link's lifetime unless configured otherwise: a day, so that greylisted
/// mail still arrives in time.
pub const DEFAULT_VERIFICATION_TTL_SECS: i64 = 24 * 60 * 60;
/// The reset link's lifetime unless configured otherwise.
pub const DEFAULT_RESET_TTL_SECS: i64 = 30 * 60;

/// The identity layer's view of our mail templates.
struct Templates {
    mailer: AccountMailer,
    verification_ttl: chrono::Duration,
    reset_ttl: chrono::Duration,
}

fn outbox(mail: Result<RenderedMail, MailError>) -> Result<OutboxMail, IdentityError> {
    let mail = mail.map_err(|err| IdentityError::Mail(err.to_string()))?;
    Ok(OutboxMail {
        to: mail.to,
        subject: mail.subject,
        text_body: mail.text_body,
        html_body: mail.html_body,
        message_id: mail.message_id,
    })
}

impl AccountMails for Templates {
    fn verification(&self, to: &str, token: &IssuedToken) -> Result<OutboxMail, IdentityError> {
        let code = token.code.as_deref().unwrap_or_default();
        outbox(
            self.mailer
                .verification(to, &token.token, code, self.verification_ttl),
        )
    }

    fn password_reset(&self, to: &str, token: &IssuedToken) -> Result<OutboxMail, IdentityError> {
        outbox(self.mailer.password_reset(to, &token.token, self.reset_ttl))
    }

    fn password_changed(&self, to: &str) -> Result<OutboxMail, IdentityError> {
        outbox(self.mailer.password_changed(to))
    }

    fn account_exists(&self, to: &str) -> Result<OutboxMail, IdentityError> {
        outbox(self.mailer.account_exists(to))
    }

    fn email_change_notice(
        &self,
        to: &str,
        new_address: &str,
    ) -> Result<OutboxMail, IdentityError> {
        outbox(self.mailer.email_change_notice(to, new_address))
    }
}

/// The mails of account changes, with the lifetimes of their tokens.
pub(crate) struct AccountMail {
    templates: Arc<Templates>,
}

impl AccountMail {
    pub(crate) fn new(settings: &AccountMailSettings) -> Self {
        Self {
            templates: Arc::new(Templates {
                mailer: settings.mailer.clone(),
                verification_ttl: settings.verification_ttl,
                reset_ttl: settings.reset_ttl,
            }),
        }
    }

    pub(crate) fn verification(&self) -> TokenMail {
        TokenMail {
            mails: self.templates.clone(),
            ttl: self.templates.verification_ttl,
        }
    }

    pub(crate) fn reset(&self) -> TokenMail {
        TokenMail {
            mails: self.templates.clone(),
            ttl: self.templates.reset_ttl,
        }
    }

    pub(crate) fn account_exists(&self, to: &str) -> Result<OutboxMail, IdentityError> {
        self.templates.account_exists(to)
    }
}

/// A sign-up that went through.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The new account. With `require_verified_email` on and an address that already had an
    /// account, a stand-in that looks like one (nothing was created; the owner was mailed).
    pub user: User,
    /// The browser's new session, when one was asked for and the policy allows it (off: the
    /// new user is signed in at once; on: only after verifying).
    pub signed_in: Option<SignedIn>,
}

/// Whether a sign-up should open a browser session.
#[derive(Debug, Clone, Copy)]
pub enum AfterSignUp<'a> {
    /// The REST API: no session.
    NoSession,
    /// The sign-up page: sign the browser in, replacing its previous session (cookie value).
    SignIn { previous_cookie: Option<&'a str> },
}

impl Gatehouse {
    /// Whether `registration.require_verified_email` is on.
    pub fn requires_verified_email(&self) -> bool {
        self.settings.mail.require_verified_email
    }

    /// Self-service sign-up (no roles): creates the account and queues its verification mail
    /// in one transaction, then, for the sign-up page, signs the browser in (unless the policy
    /// requires a verified address first). See the module comment for a registered address.
    pub async fn register(
        &self,
        input: Registration,
        after: AfterSignUp<'_>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Registered, RegisterError> {
        let email = input.email.clone();
        let username = input.username.clone();
        let result = self
            .accounts
            .register_and_verify(input, &[], Some(self.mail.verification()), ctx, now)
            .await;
        let user = match result {
            Ok(user) => user,
            Err(RegisterError::Duplicate { field: "email" }) if self.requires_verified_email() => {
                return self.answer_as_new(&username, &email, ctx, now).await;
            }
            Err(err) => return Err(err),
        };
        let signed_in = match after {
            AfterSignUp::SignIn { previous_cookie } if !self.requires_verified_email() => Some(
                self.open_session(&user, &PASSWORD_ONLY, previous_cookie, ctx, now)
                    .await
                    .map_err(|err| match err {
                        crate::SignInError::Backend(AppError::Identity(err)) => {
                            RegisterError::Internal(err)
                        }
                        other => RegisterError::Internal(IdentityError::Corrupt(other.to_string())),
                    })?,
            ),
            _ => None,
        };
        Ok(Registered { user, signed_in })
    }

    /// The answer to a sign-up with a registered address under `require_verified_email`: the
    /// owner is mailed, the caller sees what a new sign-up would show.
    async fn answer_as_new(
        &self,
        username: &str,
        email: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Registered, RegisterError> {
        let notice = self.mail.account_exists(email)?;
        self.with_db(move |db| db.enqueue_mail(&notice, now))
            .await?;
        self.audit_failure(
            gatehouse_identity::AuditAction::UserRegister,
            email.to_owned(),
            serde_json::json!({ "reason": "email_taken", "owner_mailed": true }),
            ctx,
            now,
        )
        .await;
        Ok(Registered {
            user: User {
                id: Uuid::new_v4(),
                username: username.trim().to_owned(),
                email: email.to_owned(),
                email_verified: false,
                password_hash: String::new(),
                status: UserStatus::Active,
                failed_logins: 0,
                locked_until: None,
                created_at: now,
                updated_at: now,
            },
            signed_in: None,
        })
    }

    /// The account's address, its verification state and a pending new address.
    pub async fn email_status(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<EmailStatus>, AppError> {
        Ok(self.accounts.email_status(user_id, now).await?)
    }

    /// Whether this user must verify their address before going on (the policy is on and the
    /// address is not verified). Costs no database read while the policy is off.
    pub async fn must_verify_email(&self, user_id: Uuid) -> Result<bool, AppError> {
        if !self.requires_verified_email() {
            return Ok(false);
        }
        let user = self.with_db(move |db| db.find_user_by_id(user_id)).await?;
        Ok(user.is_some_and(|user| !user.email_verified))
    }

    /// Sends a fresh verification link (and code), killing the previous one. `None` for an
    /// unknown user.
    pub async fn resend_email_verification(
        &self,
        user_id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Option<ResentVerification>, AppError> {
        let ctx = acting_as(ctx, user_id);
        Ok(self
            .accounts
            .resend_email_verification(user_id, self.mail.verification(), &ctx, now)
            .await?)
    }

    /// Starts a change of address (the new one is pending until verified; the old one is told).
    pub async fn request_email_change(
        &self,
        user_id: Uuid,
        new_email: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), EmailChangeError> {
        let ctx = acting_as(ctx, user_id);
        self.accounts
            .request_email_change(user_id, new_email, self.mail.verification(), &ctx, now)
            .await
    }

    /// Uses a verification link.
    pub async fn verify_email_link(
        &self,
        token: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<EmailVerified, VerifyEmailError> {
        let verified = self.accounts.verify_email_link(token, ctx, now).await?;
        self.authz.forget_user(verified.user_id);
        Ok(verified)
    }

    /// Checks the short code of the signed-in user's verification mail.
    pub async fn verify_email_code(
        &self,
        user_id: Uuid,
        code: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<EmailVerified, VerifyEmailError> {
        let ctx = acting_as(ctx, user_id);
        let verified = self
            .accounts
            .verify_email_code(user_id, code, &ctx, now)
            .await?;
        self.authz.forget_user(verified.user_id);
        Ok(verified)
    }
}

/// `ctx` with the user as the actor: the change is the account owner's own.
pub(crate) fn acting_as(ctx: &RequestContext, user_id: Uuid) -> RequestContext {
    let mut ctx = ctx.clone();
    if ctx.actor.is_none() {
        ctx.actor = Some(user_id.to_string());
    }
    ctx
}
