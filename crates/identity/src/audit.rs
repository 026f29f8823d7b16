//! The append-only audit trail: who did what to whom, from where, and whether it worked.
//! `details` is free-form JSON, stored as text so the schema is the same on both backends.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::{DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::audit_events;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    /// The value stored in `audit_events.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    pub(crate) fn parse(stored: &str) -> Result<Self, IdentityError> {
        match stored {
            "success" => Ok(AuditOutcome::Success),
            "failure" => Ok(AuditOutcome::Failure),
            other => Err(IdentityError::Corrupt(format!(
                "unknown audit outcome `{other}`"
            ))),
        }
    }
}

/// What an audit event records, stored as a stable dotted name (`login.failure`): operators'
/// queries and alerts match on these strings, so a variant's name never changes once released.
/// Reading the trail back yields the stored string, so events written by older versions (or
/// names a newer one adds) still read.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
pub enum AuditAction {
    #[strum(serialize = "user.register")]
    UserRegister,
    /// Every factor the sign-in needed has passed; `details.amr` says which.
    #[strum(serialize = "login.success")]
    LoginSuccess,
    /// A refused password or second factor; `details.reason` says why.
    #[strum(serialize = "login.failure")]
    LoginFailure,
    /// The password was right and the account has a second factor: the sign-in is pending.
    #[strum(serialize = "login.second_factor_required")]
    LoginSecondFactorRequired,
    /// A signed-in session proved a second factor it did not have (step-up).
    #[strum(serialize = "login.step_up")]
    LoginStepUp,
    #[strum(serialize = "account.lockout")]
    AccountLockout,
    /// Sign-out in this browser (account page, RP-initiated logout).
    #[strum(serialize = "logout")]
    Logout,
    /// One session ended from the user's session list (page or REST API).
    #[strum(serialize = "session.end")]
    SessionEnd,
    /// Sessions pushed out by the per-user limit at a sign-in.
    #[strum(serialize = "session.evict")]
    SessionEvict,
    /// A session's lifetime ran out (found by the expiry sweep).
    #[strum(serialize = "session.expire")]
    SessionExpire,
    /// Every session of the user ended at once (second-factor reset, later admin actions).
    #[strum(serialize = "session.end_all")]
    SessionEndAll,
    #[strum(serialize = "consent.revoke")]
    ConsentRevoke,
    /// A connected app's offline (refresh-token) access withdrawn by the user.
    #[strum(serialize = "grant.revoke")]
    GrantRevoke,
    #[strum(serialize = "backchannel_logout.delivered")]
    BackchannelLogoutDelivered,
    #[strum(serialize = "backchannel_logout.failed")]
    BackchannelLogoutFailed,
    /// A TOTP enrolment begun (pending until confirmed).
    #[strum(serialize = "totp.enrol")]
    TotpEnrol,
    /// A TOTP enrolment confirmed: the second factor is on.
    #[strum(serialize = "totp.enable")]
    TotpEnable,
    /// Turned off by the user (password checked).
    #[strum(serialize = "totp.disable")]
    TotpDisable,
    /// Removed by an operator (`gatehouse user reset-2fa`).
    #[strum(serialize = "totp.reset")]
    TotpReset,
    #[strum(serialize = "recovery_codes.regenerate")]
    RecoveryCodesRegenerate,
    /// A recovery code was spent at sign-in.
    #[strum(serialize = "recovery_code.use")]
    RecoveryCodeUse,
    /// A verification mail was queued (sign-up, resend, change of address).
    #[strum(serialize = "email.verification_sent")]
    EmailVerificationSent,
    /// An address was verified (by link or code); failures are wrong codes.
    #[strum(serialize = "email.verify")]
    EmailVerify,
    /// The user asked to change their address; the new one is pending until verified.
    #[strum(serialize = "email.change_request")]
    EmailChangeRequest,
    /// A password reset mail was queued for a known, active account.
    #[strum(serialize = "password.reset_request")]
    PasswordResetRequest,
    /// A password was set through a reset link; failures are wrong second-factor codes.
    #[strum(serialize = "password.reset")]
    PasswordReset,
    /// A signed-in user changed their password.
    #[strum(serialize = "password.change")]
    PasswordChange,
    /// The permission gate refused an admin operation (details name it and why).
    #[strum(serialize = "admin.denied")]
    AdminDenied,
    /// An administrator created a user (details: username, roles).
    #[strum(serialize = "admin.user_create")]
    AdminUserCreate,
    /// An administrator changed a user's address, its verification or status (details: changes).
    #[strum(serialize = "admin.user_update")]
    AdminUserUpdate,
    /// An administrator deleted a user (details keep the username and email).
    #[strum(serialize = "admin.user_delete")]
    AdminUserDelete,
    /// An administrator locked a user (details: reason, until).
    #[strum(serialize = "admin.user_lock")]
    AdminUserLock,
    /// An administrator lifted a user's lock and cleared its failure counter.
    #[strum(serialize = "admin.user_unlock")]
    AdminUserUnlock,
    /// An administrator replaced a user's roles (details: before, after).
    #[strum(serialize = "admin.user_roles")]
    AdminUserRoles,
    /// An administrator removed a user's second factor.
    #[strum(serialize = "admin.user_totp_reset")]
    AdminUserTotpReset,
    /// An administrator sent a user a password reset mail.
    #[strum(serialize = "admin.user_password_reset")]
    AdminUserPasswordReset,
    /// An administrator ended every session of a user.
    #[strum(serialize = "admin.user_sessions_end")]
    AdminUserSessionsEnd,
    /// An administrator rotated the signing keys (`POST /api/v1/admin/keys/rotate`).
    #[strum(serialize = "admin.keys_rotate")]
    AdminKeysRotate,
    /// An administrator registered a client (details: name, type, grants, roles; never the
    /// secret).
    #[strum(serialize = "admin.client_create")]
    AdminClientCreate,
    /// An administrator edited a client's registration (details: the fields changed).
    #[strum(serialize = "admin.client_update")]
    AdminClientUpdate,
    /// An administrator deleted a client (details keep its name).
    #[strum(serialize = "admin.client_delete")]
    AdminClientDelete,
    /// An administrator replaced a confidential client's secret.
    #[strum(serialize = "admin.client_secret_rotate")]
    AdminClientSecretRotate,
    /// An administrator replaced the roles of a client's service account (details: before,
    /// after).
    #[strum(serialize = "admin.client_roles")]
    AdminClientRoles,
    /// An administrator disabled a client: refused at `/authorize` and `/token` until enabled.
    #[strum(serialize = "admin.client_disable")]
    AdminClientDisable,
    /// An administrator enabled a disabled client again.
    #[strum(serialize = "admin.client_enable")]
    AdminClientEnable,
    /// An administrator revoked a user's consent to and grants of one client.
    #[strum(serialize = "admin.user_grant_revoke")]
    AdminUserGrantRevoke,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub action: AuditAction,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    pub details: serde_json::Value,
}

/// A recorded event; `id` grows with insertion order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    pub details: serde_json::Value,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditRow<'a> {
    occurred_at: NaiveDateTime,
    actor: Option<&'a str>,
    action: &'a str,
    target: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    outcome: &'static str,
    details: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub(crate) struct AuditRow {
    id: i64,
    occurred_at: NaiveDateTime,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
    details: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = IdentityError;

    fn try_from(row: AuditRow) -> Result<Self, IdentityError> {
        let details = serde_json::from_str(&row.details).map_err(|err| {
            IdentityError::Corrupt(format!("audit event {}: details: {err}", row.id))
        })?;
        Ok(AuditEvent {
            id: row.id,
            occurred_at: from_db(row.occurred_at),
            actor: row.actor,
            action: row.action,
            target: row.target,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: AuditOutcome::parse(&row.outcome)?,
            details,
        })
    }
}

/// Fields are recorded as given, except that a NUL becomes U+FFFD: the trail records what was
/// attempted (a login name is whatever was typed), and Postgres refuses a NUL in text, which
/// would otherwise turn a refused attempt into a failed request. `details` is JSON text, in which
/// serde_json already escapes every control character.
pub(crate) fn append(conn: &mut DbConnection, event: &NewAuditEvent) -> QueryResult<()> {
    let actor = event.actor.as_deref().map(storable);
    let target = event.target.as_deref().map(storable);
    let ip = event.ip.as_deref().map(storable);
    let user_agent = event.user_agent.as_deref().map(storable);
    diesel::insert_into(audit_events::table)
        .values(NewAuditRow {
            occurred_at: to_db(event.occurred_at),
            actor: actor.as_deref(),
            action: event.action.as_str(),
            target: target.as_deref(),
            ip: ip.as_deref(),
            user_agent: user_agent.as_deref(),
            outcome: event.outcome.as_str(),
            details: event.details.to_string(),
        })
        .execute(conn)?;
    Ok(())
}

/// `text` with every NUL replaced by U+FFFD REPLACEMENT CHARACTER, borrowed when there is none.
fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Events share timestamps when the clock is coarse or injected; `id` breaks the tie in
/// insertion order.
pub(crate) fn recent(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<AuditEvent>, IdentityError> {
    audit_events::table
        .select(AuditRow::as_select())
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit.max(0))
        .load(conn)?
        .into_iter()
        .map(AuditEvent::try_from)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::str::FromStr as _;

    use strum::IntoEnumIterator as _;

    use super::AuditAction;

    #[test]
    fn every_action_has_its_own_stored_name_that_reads_back() {
        let mut seen = HashSet::new();
        for action in AuditAction::iter() {
            let name = action.as_str();
            assert!(seen.insert(name), "{name} is used twice");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{name}"
            );
            assert_eq!(AuditAction::from_str(name), Ok(action));
        }
        // Names already in operators' queries stay exactly as released.
        assert_eq!(AuditAction::LoginFailure.as_str(), "login.failure");
        assert_eq!(AuditAction::UserRegister.as_str(), "user.register");
        assert_eq!(AuditAction::Logout.as_str(), "logout");
    }
}
