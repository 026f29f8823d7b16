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
use super::{Accounts, LockoutPolicy, LoginError, RequestContext, audit_event, blocking};
use crate::audit::{self, AuditOutcome};
use crate::db::{DbConnection, stored};
use crate::error::IdentityError;
use crate::users::{User, id_text, queries};
use crate::validation::login_lookup_key;

impl Accounts {
    /// Logs in with a username or email (case-insensitive, in any Unicode normalisation form)
    /// and password. Every refusal is `InvalidCredentials`; the audit trail says why.
    #[tracing::instrument(skip(self, password, ctx))]
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<User, LoginError> {
        let now = stored(now);
        // A login that cannot name an account (a NUL, another control character) is an unknown
        // user that costs no query: same answer, same Argon2 verification, its own audit reason.
        let (user, reason) = match login_lookup_key(login) {
            Some(key) => {
                let db = self.db.clone();
                let user = blocking(move || db.find_user_by_login(&key)).await?;
                (user, "unknown_user")
            }
            None => (None, "malformed_login"),
        };

        let Some(user) = user else {
            self.hasher.verify(None, password.to_owned()).await?;
            let event = audit_event(
                ctx,
                now,
                "login.failure",
                AuditOutcome::Failure,
                Some(login.to_owned()),
                json!({ "reason": reason }),
            );
            let db = self.db.clone();
            blocking(move || db.append_audit(&event)).await?;
            return Err(LoginError::InvalidCredentials);
        };

        let password_ok = self
            .hasher
            .verify(Some(user.password_hash.clone()), password.to_owned())
            .await?;
        let db = self.db.clone();
        let (policy, ctx) = (self.lockout, ctx.clone());
        let user =
            blocking(move || db.write(|conn| settle(conn, &policy, &user, password_ok, &ctx, now)))
                .await?;
        user.ok_or(LoginError::InvalidCredentials)
    }
}

/// Applies the lockout verdict for one attempt; returns the up-to-date user if it may log in.
fn settle(
    conn: &mut DbConnection,
    policy: &LockoutPolicy,
    user: &User,
    password_ok: bool,
    ctx: &RequestContext,
    now: DateTime<Utc>,
) -> Result<Option<User>, IdentityError> {
    let target = Some(id_text(user.id));
    let event = |action: &str, outcome, details| {
        audit_event(ctx, now, action, outcome, target.clone(), details)
    };

    // The account was deleted while the password was being checked.
    if !queries::lock_row(conn, user.id)? {
        audit::append(
            conn,
            &event(
                "login.failure",
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
            if let Some(cleared) = reset {
                queries::save_login_state(conn, user.id, &cleared, now)?;
            }
            audit::append(
                conn,
                &event("login.success", AuditOutcome::Success, json!({})),
            )?;
            queries::find_by_id(conn, user.id)
        }
        Verdict::Refused { reason } => {
            let details = json!({ "reason": reason.as_str() });
            audit::append(
                conn,
                &event("login.failure", AuditOutcome::Failure, details),
            )?;
            Ok(None)
        }
        Verdict::Failed { next, locks } => {
            queries::save_login_state(conn, user.id, &next, now)?;
            let details = json!({ "reason": "bad_password", "failed_logins": next.failed_logins });
            audit::append(
                conn,
                &event("login.failure", AuditOutcome::Failure, details),
            )?;
            if locks {
                let details = json!({
                    "failed_logins": next.failed_logins,
                    "locked_until": next.locked_until,
                });
                audit::append(
                    conn,
                    &event("account.lockout", AuditOutcome::Success, details),
                )?;
                tracing::warn!(user_id = %user.id, "account locked after repeated failed logins");
            }
            Ok(None)
        }
    }
}
