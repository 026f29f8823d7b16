//! Password login with brute-force lockout.
//!
//! The password is verified before any account state is consulted, and unknown accounts verify
//! a dummy hash, so every path costs one Argon2 verification and looks the same from outside.
//! The state change (counters, lock, audit) then happens in one write transaction that re-reads
//! the account under its row lock, so concurrent attempts cannot lose a failure or both decide
//! the account is still open.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::lockout::{Verdict, judge};
use super::{Accounts, LockoutPolicy, LoginError, RequestContext, attempts, audit_event};
use crate::audit::{self, AuditAction, AuditOutcome};
use crate::db::{DbConnection, stored};
use crate::error::IdentityError;
use crate::two_factor;
use crate::users::{User, id_text, queries};
use crate::validation::login_lookup_key;

impl Accounts {
    /// Checks a username or email (case-insensitive, in any Unicode normalisation form) and
    /// password. Every refusal is `InvalidCredentials`; the audit trail says why.
    ///
    /// For an account with a second factor the right password is only the first step: the
    /// failure counters are left as they are (a right password must not wipe the wrong codes
    /// counted against the account, or guessing codes would never lock it) and the result says
    /// a second factor is pending; [`Accounts::verify_second_factor`] completes the sign-in.
    #[tracing::instrument(skip(self, password, ctx))]
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<PasswordVerified, LoginError> {
        let now = stored(now);
        // A login that cannot name an account (a NUL, another control character) is an unknown
        // user that costs no query: same answer, same Argon2 verification, its own audit reason.
        let (user, reason) = match login_lookup_key(login) {
            Some(key) => {
                let user = self.db.run(move |db| db.find_user_by_login(&key)).await?;
                (user, "unknown_user")
            }
            None => (None, "malformed_login"),
        };

        let Some(user) = user else {
            self.hasher.verify(None, password.to_owned()).await?;
            let event = audit_event(
                ctx,
                now,
                AuditAction::LoginFailure,
                AuditOutcome::Failure,
                Some(login.to_owned()),
                json!({ "reason": reason }),
            );
            self.db.run(move |db| db.append_audit(&event)).await?;
            return Err(LoginError::InvalidCredentials);
        };

        let password_ok = self
            .hasher
            .verify(Some(user.password_hash.clone()), password.to_owned())
            .await?;
        let (policy, ctx) = (self.lockout, ctx.clone());
        let verified = self
            .db
            .run(move |db| db.write(|conn| settle(conn, &policy, &user, password_ok, &ctx, now)))
            .await?;
        verified.ok_or(LoginError::InvalidCredentials)
    }
}

/// A right password for an account that may sign in.
#[derive(Debug, Clone)]
pub struct PasswordVerified {
    pub user: User,
    /// The account has a confirmed second factor: the sign-in is not complete until it passes.
    pub second_factor_required: bool,
}

/// Applies the lockout verdict for one attempt; returns the up-to-date user if it may log in.
fn settle(
    conn: &mut DbConnection,
    policy: &LockoutPolicy,
    user: &User,
    password_ok: bool,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> Result<Option<PasswordVerified>, IdentityError> {
    let target = Some(id_text(user.id));
    let event = |action: AuditAction, outcome, details| {
        audit_event(ctx, now, action, outcome, target.clone(), details)
    };

    // The account was deleted while the password was being checked.
    if !queries::lock_row(conn, user.id)? {
        audit::append(
            conn,
            &event(
                AuditAction::LoginFailure,
                AuditOutcome::Failure,
                json!({ "reason": "unknown_user" }),
            ),
        )?;
        return Ok(None);
    }
    let Some(state) = queries::login_state(conn, user.id)? else {
        return Ok(None);
    };

    match judge(policy, &state, password_ok, now) {
        Verdict::Success { reset } => {
            let second_factor = two_factor::has_confirmed_credential(conn, user.id)?;
            if second_factor {
                audit::append(
                    conn,
                    &event(
                        AuditAction::LoginSecondFactorRequired,
                        AuditOutcome::Success,
                        json!({ "amr": ["pwd"] }),
                    ),
                )?;
            } else {
                if let Some(cleared) = reset {
                    queries::save_login_state(conn, user.id, &cleared, now)?;
                }
                audit::append(
                    conn,
                    &event(
                        AuditAction::LoginSuccess,
                        AuditOutcome::Success,
                        json!({ "amr": ["pwd"] }),
                    ),
                )?;
            }
            Ok(
                queries::find_by_id(conn, user.id)?.map(|user| PasswordVerified {
                    user,
                    second_factor_required: second_factor,
                }),
            )
        }
        refused => {
            attempts::record(conn, user.id, &refused, "bad_password", json!({}), ctx, now)?;
            Ok(None)
        }
    }
}

impl Accounts {
    /// Asks a signed-in user for their password again before a sensitive change (turning the
    /// second factor off, new recovery codes, enrolment after the re-authentication window).
    /// A wrong password counts toward the lockout like a failed sign-in, so a borrowed session
    /// cannot be used to guess it; a locked or disabled account is refused. A right password
    /// writes nothing: the caller audits the change it guards.
    #[tracing::instrument(skip(self, password, ctx))]
    pub async fn reauthenticate(
        &self,
        user_id: uuid::Uuid,
        password: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<bool, IdentityError> {
        let now = stored(now);
        let Some(user) = self.db.run(move |db| db.find_user_by_id(user_id)).await? else {
            return Ok(false);
        };
        let password_ok = self
            .hasher
            .verify(Some(user.password_hash.clone()), password.to_owned())
            .await?;
        let (policy, ctx) = (self.lockout, ctx.clone());
        self.db
            .run(move |db| {
                db.write(|conn| {
                    if !queries::lock_row(conn, user_id)? {
                        return Ok(false);
                    }
                    let Some(state) = queries::login_state(conn, user_id)? else {
                        return Ok(false);
                    };
                    let verdict = judge(&policy, &state, password_ok, now);
                    if matches!(verdict, Verdict::Success { .. }) {
                        return Ok(true);
                    }
                    let extra = json!({ "reauthentication": true });
                    attempts::record(conn, user_id, &verdict, "bad_password", extra, &ctx, now)?;
                    Ok(false)
                })
            })
            .await
    }
}
