//! The second factor's lifecycle on an account (RFC 6238 TOTP with recovery codes): status,
//! enrolment behind a re-authentication window, confirmation, new recovery codes, switching it
//! off with the password, and an operator's reset. Each change is audited here; the credential
//! rules themselves (sealing, replay, hashing) live in `gatehouse_identity::two_factor`.

use chrono::{DateTime, Utc};
use gatehouse_identity::{
    AuditAction, IdentityError, RecoveryCodes, RequestContext, SecondFactorMethod, TotpEnrolment,
    TotpError, TotpStatus,
};
use gatehouse_sessions::SessionHandle;
use uuid::Uuid;

use crate::sign_in::SecondFactorFailure;
use crate::{AppError, Gatehouse, SessionEnd};

/// How a sensitive change proves the user is present.
#[derive(Debug, Clone, Copy)]
pub enum Reauthentication<'a> {
    /// The sign-in behind the request (a session's or an access token's `auth_time`, Unix
    /// seconds); enough if it lies within the re-authentication window.
    SignedInAt(i64),
    /// The password, typed again; checked like a sign-in (a wrong one counts toward lockout).
    Password(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    /// The sign-in is older than the re-authentication window: ask for the password.
    #[error("sign in again (or enter your password) to change your second factor")]
    ReauthenticationRequired,
    /// The password typed again was wrong (or the account is locked: the same answer).
    #[error("the password is not correct")]
    WrongPassword,
    /// A second factor is already on: switch it off first.
    #[error("two-factor authentication is already on")]
    AlreadyEnabled,
    /// No enrolment is waiting for a code.
    #[error("there is no enrolment to confirm; start again")]
    NothingToConfirm,
    /// The code does not match (or was already used).
    #[error("the code is not correct")]
    InvalidCode,
    /// There is no second factor to act on.
    #[error("two-factor authentication is not on")]
    NotEnabled,
    #[error("no such user")]
    UnknownUser,
    #[error(transparent)]
    Backend(#[from] AppError),
}

impl From<IdentityError> for TwoFactorError {
    fn from(err: IdentityError) -> Self {
        TwoFactorError::Backend(err.into())
    }
}

impl From<TotpError> for TwoFactorError {
    fn from(err: TotpError) -> Self {
        match err {
            TotpError::UnknownUser => TwoFactorError::UnknownUser,
            TotpError::NoCredential => TwoFactorError::NotEnabled,
            TotpError::NotPending => TwoFactorError::NothingToConfirm,
            TotpError::AlreadyEnabled => TwoFactorError::AlreadyEnabled,
            TotpError::InvalidCode | TotpError::ReplayedCode => TwoFactorError::InvalidCode,
            TotpError::Internal(err) => err.into(),
        }
    }
}

impl Gatehouse {
    pub async fn totp_status(&self, user_id: Uuid) -> Result<TotpStatus, AppError> {
        Ok(self.with_db(move |db| db.totp_status(user_id)).await?)
    }

    /// Whether `auth_time` is recent enough for a sensitive change without the password.
    pub fn within_reauthentication_window(&self, auth_time: i64, now: DateTime<Utc>) -> bool {
        now.timestamp().saturating_sub(auth_time)
            <= self.settings.reauthentication_window.num_seconds()
    }

    /// Starts (or restarts) a TOTP enrolment: a new secret, pending until a code from it is
    /// confirmed. Needs a recent sign-in or the password.
    pub async fn begin_totp_enrolment(
        &self,
        user_id: Uuid,
        reauthentication: Reauthentication<'_>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<TotpEnrolment, TwoFactorError> {
        self.reauthenticate(user_id, reauthentication, ctx, now)
            .await?;
        let settings = self.settings.totp.clone();
        let enrolment = self
            .with_db(move |db| db.begin_totp_enrolment(user_id, &settings, now))
            .await?;
        self.audit_as_user(AuditAction::TotpEnrol, user_id, ctx, now)
            .await;
        Ok(enrolment)
    }

    /// Confirms the pending enrolment with a code from the new authenticator; returns the
    /// recovery codes, to show once. The code counts as used (RFC 6238 §5.2). When confirmed
    /// from a browser session, that session now carries the second factor too (the user just
    /// proved it), which is how a step-up for a user without one completes.
    pub async fn confirm_totp_enrolment(
        &self,
        user_id: Uuid,
        code: &str,
        session: Option<&SessionHandle>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<RecoveryCodes, TwoFactorError> {
        let settings = self.settings.totp.clone();
        let code = code.trim().to_owned();
        let codes = match self
            .with_db(move |db| db.confirm_totp_enrolment(user_id, &code, &settings, now))
            .await
        {
            Ok(codes) => codes,
            Err(TotpError::NoCredential) => return Err(TwoFactorError::NothingToConfirm),
            Err(err) => return Err(err.into()),
        };
        self.audit_as_user(AuditAction::TotpEnable, user_id, ctx, now)
            .await;
        if let Some(handle) = session {
            let user = self
                .with_db(move |db| db.find_user_by_id(user_id))
                .await?
                .ok_or(TwoFactorError::UnknownUser)?;
            match self
                .step_up_session(handle, &user, SecondFactorMethod::Totp, ctx, now)
                .await
            {
                Ok(()) | Err(SecondFactorFailure::Expired) => {}
                Err(SecondFactorFailure::Backend(err)) => return Err(err.into()),
                Err(
                    SecondFactorFailure::InvalidCode { .. } | SecondFactorFailure::Throttled { .. },
                ) => {}
            }
        }
        Ok(codes)
    }

    /// Switches the second factor off (confirmed or pending); needs the password.
    pub async fn disable_totp(
        &self,
        user_id: Uuid,
        password: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), TwoFactorError> {
        self.reauthenticate(user_id, Reauthentication::Password(password), ctx, now)
            .await?;
        if !self.with_db(move |db| db.disable_totp(user_id)).await? {
            return Err(TwoFactorError::NotEnabled);
        }
        self.audit_as_user(AuditAction::TotpDisable, user_id, ctx, now)
            .await;
        Ok(())
    }

    /// A new set of recovery codes, the old set void; needs the password and a second factor.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: Uuid,
        password: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<RecoveryCodes, TwoFactorError> {
        self.reauthenticate(user_id, Reauthentication::Password(password), ctx, now)
            .await?;
        if !self.totp_status(user_id).await?.enabled {
            return Err(TwoFactorError::NotEnabled);
        }
        let settings = self.settings.totp.clone();
        let codes = self
            .with_db(move |db| db.regenerate_recovery_codes(user_id, &settings, now))
            .await?;
        self.audit_as_user(AuditAction::RecoveryCodesRegenerate, user_id, ctx, now)
            .await;
        Ok(codes)
    }

    /// An operator's reset (`gatehouse user reset-2fa USERNAME`): removes the user's TOTP
    /// credential and recovery codes and ends every session of the user, as "sign out
    /// everywhere" does (offline grants included). `Ok(None)` for an unknown user; otherwise
    /// whether there was a second factor to remove.
    pub async fn reset_second_factor(
        &self,
        username: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>, AppError> {
        let login = username.to_owned();
        let Some(user) = self
            .with_db(move |db| db.find_user_by_typed_login(&login))
            .await?
        else {
            return Ok(None);
        };
        let user_id = user.id;
        let removed = self.with_db(move |db| db.reset_2fa(user_id)).await?;
        self.audit(
            AuditAction::TotpReset,
            user_id.to_string(),
            serde_json::json!({ "removed": removed }),
            ctx,
            now,
        )
        .await;
        self.end_all_sessions(user_id, SessionEnd::Everywhere, ctx, now)
            .await?;
        Ok(Some(removed))
    }

    async fn reauthenticate(
        &self,
        user_id: Uuid,
        reauthentication: Reauthentication<'_>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), TwoFactorError> {
        match reauthentication {
            Reauthentication::SignedInAt(auth_time) => {
                if self.within_reauthentication_window(auth_time, now) {
                    Ok(())
                } else {
                    Err(TwoFactorError::ReauthenticationRequired)
                }
            }
            Reauthentication::Password(password) => {
                if self
                    .accounts
                    .reauthenticate(user_id, password, ctx, now)
                    .await?
                {
                    Ok(())
                } else {
                    Err(TwoFactorError::WrongPassword)
                }
            }
        }
    }

    async fn audit_as_user(
        &self,
        action: AuditAction,
        user_id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) {
        let mut ctx = ctx.clone();
        ctx.actor = Some(user_id.to_string());
        self.audit_success(action, user_id.to_string(), &ctx, now)
            .await;
    }
}
