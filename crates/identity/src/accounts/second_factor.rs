//! The second step of a sign-in: a TOTP code (RFC 6238) or a recovery code, for an account
//! whose password [`Accounts::authenticate`] has just accepted.
//!
//! Wrong codes count toward the same lockout as wrong passwords (the counters the password
//! step left untouched), so a stolen password does not buy unlimited guesses: after
//! `max_failures` wrong codes the account locks, and from then on the password step refuses
//! with the same "invalid username or password" as for a wrong password, revealing nothing
//! about which step failed. A right code completes the sign-in and clears the counters.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::lockout::{Verdict, judge};
use super::{Accounts, RequestContext, attempts, audit_event};
use crate::audit::{self, AuditAction, AuditOutcome};
use crate::db::{DbConnection, stored};
use crate::error::IdentityError;
use crate::two_factor::{TotpError, TotpSettings};
use crate::users::{User, id_text, queries};

/// Which second factor passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorMethod {
    Totp,
    RecoveryCode,
}

impl SecondFactorMethod {
    /// The authentication method references (RFC 8176 §2) of a sign-in with a password and
    /// this factor: `otp` for a code from an authenticator; a recovery code is a one-time
    /// password too, and `mfa` says two factors passed. The recovery case is told apart in
    /// the audit trail, not in tokens.
    pub fn amr(self) -> [&'static str; 3] {
        ["pwd", "otp", "mfa"]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactorMethod::Totp => "totp",
            SecondFactorMethod::RecoveryCode => "recovery_code",
        }
    }
}

/// Why a second factor was not accepted. Every refusal reads the same to the user; the audit
/// trail records the reason.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    /// A wrong, replayed or malformed code, or an account that is locked, disabled or gone.
    #[error("invalid code")]
    Rejected,
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

/// The code's shape decides which kind it is: 6 to 8 digits (spaces ignored) are a TOTP code,
/// anything else is tried as a recovery code (12 symbols of a different alphabet).
fn looks_like_totp(code: &str) -> bool {
    let digits = code.chars().filter(|c| !c.is_whitespace()).count();
    (6..=8).contains(&digits)
        && code
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace())
}

impl Accounts {
    /// Checks the second factor of a pending sign-in and settles the lockout counters. `user_id`
    /// is the account whose password was verified moments ago (the caller keeps that state).
    #[tracing::instrument(skip(self, code, settings, ctx))]
    pub async fn verify_second_factor(
        &self,
        user_id: uuid::Uuid,
        code: &str,
        settings: &TotpSettings,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(User, SecondFactorMethod), SecondFactorError> {
        let now = stored(now);
        let method = if looks_like_totp(code) {
            SecondFactorMethod::Totp
        } else {
            SecondFactorMethod::RecoveryCode
        };
        let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let settings = settings.clone();
        let checked = self
            .db
            .run(move |db| {
                let result = match method {
                    SecondFactorMethod::Totp => db.verify_totp(user_id, &compact, &settings, now),
                    SecondFactorMethod::RecoveryCode => {
                        db.use_recovery_code(user_id, &compact, &settings, now)
                    }
                };
                match result {
                    Ok(()) => Ok(Ok(())),
                    Err(TotpError::Internal(err)) => Err(SecondFactorError::Internal(err)),
                    Err(refused) => Ok(Err(refused)),
                }
            })
            .await?;
        let result = checked.as_ref().map_or_else(refusal_reason, |()| "success");
        metrics::counter!("gatehouse_second_factor_total", "method" => method.as_str(), "result" => result).increment(1);
        let (policy, ctx) = (self.lockout, ctx.clone());
        let settled = self
            .db
            .run(move |db| {
                db.write(|conn| settle(conn, &policy, user_id, method, &checked, &ctx, now))
            })
            .await?;
        settled
            .map(|user| (user, method))
            .ok_or(SecondFactorError::Rejected)
    }
}

/// What the code check found, as the audit trail names it.
fn refusal_reason(refused: &TotpError) -> &'static str {
    match refused {
        TotpError::ReplayedCode => "replayed_code",
        TotpError::NoCredential | TotpError::UnknownUser => "no_second_factor",
        _ => "bad_code",
    }
}

fn settle(
    conn: &mut DbConnection,
    policy: &super::LockoutPolicy,
    user_id: uuid::Uuid,
    method: SecondFactorMethod,
    checked: &Result<(), TotpError>,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> Result<Option<User>, IdentityError> {
    let target = Some(id_text(user_id));
    let event = |action: AuditAction, outcome, details| {
        audit_event(ctx, now, action, outcome, target.clone(), details)
    };
    if !queries::lock_row(conn, user_id)? {
        return Ok(None);
    }
    let Some(state) = queries::login_state(conn, user_id)? else {
        return Ok(None);
    };
    match judge(policy, &state, checked.is_ok(), now) {
        Verdict::Success { reset } => {
            if let Some(cleared) = reset {
                queries::save_login_state(conn, user_id, &cleared, now)?;
            }
            if method == SecondFactorMethod::RecoveryCode {
                audit::append(
                    conn,
                    &event(
                        AuditAction::RecoveryCodeUse,
                        AuditOutcome::Success,
                        json!({}),
                    ),
                )?;
            }
            audit::append(
                conn,
                &event(
                    AuditAction::LoginSuccess,
                    AuditOutcome::Success,
                    json!({ "amr": method.amr(), "second_factor": method.as_str() }),
                ),
            )?;
            queries::find_by_id(conn, user_id)
        }
        refused => {
            let reason = match checked {
                Err(refused) => refusal_reason(refused),
                Ok(()) => "bad_code",
            };
            let extra = json!({ "second_factor": method.as_str() });
            attempts::record(conn, user_id, &refused, reason, extra, ctx, now)?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_totp;

    #[test]
    fn six_to_eight_digits_are_a_totp_code_and_anything_else_a_recovery_code() {
        for totp in ["123456", "123 456", "12345678", " 1234567 "] {
            assert!(looks_like_totp(totp), "{totp}");
        }
        for other in ["12345", "123456789", "abcd-efgh-jkmn", "12345a", ""] {
            assert!(!looks_like_totp(other), "{other}");
        }
    }
}
