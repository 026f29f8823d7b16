//! The append-only audit trail: who (of which kind) did what to whom, from where, in which
//! request, and whether it worked. `details` is free-form JSON, stored as text so the schema is
//! the same on both backends.

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

/// What kind of party an event's actor is, stored in `audit_events.actor_kind`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ActorKind {
    /// A person's account: an administrator (`user:ID`) or the user acting on their own
    /// account (the bare user id).
    User,
    /// A client's service account (`client:ID`).
    ServiceAccount,
    /// The deployment itself: the bootstrap, the CLI, a background job.
    System,
    /// Nobody signed in: a sign-in attempt, a sign-up, a mail link.
    Anonymous,
}

impl ActorKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind of a stored actor name: `user:ID` or a bare user id is a user, `client:ID` a
    /// service account, no actor anonymous, any other name (`bootstrap`, `cli`) the system.
    /// Migration `2026-11-30-000011_audit_context` classifies older events by the same rule.
    pub fn of_actor(actor: Option<&str>) -> Self {
        match actor {
            None => ActorKind::Anonymous,
            Some(name) if name.starts_with(USER_ACTOR_PREFIX) => ActorKind::User,
            Some(name) if name.starts_with(CLIENT_ACTOR_PREFIX) => ActorKind::ServiceAccount,
            Some(name) if name.len() == 36 && uuid::Uuid::parse_str(name).is_ok() => {
                ActorKind::User
            }
            Some(_) => ActorKind::System,
        }
    }

    pub(crate) fn parse(stored: &str) -> Result<Self, IdentityError> {
        stored
            .parse()
            .map_err(|_| IdentityError::Corrupt(format!("unknown audit actor kind `{stored}`")))
    }
}

/// How an administrator acting as a user is named in `actor`.
pub const USER_ACTOR_PREFIX: &str = "user:";
/// How a service account is named in `actor`.
pub const CLIENT_ACTOR_PREFIX: &str = "client:";

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
    /// A source must wait before its next sign-in attempt (`docs/brute-force.md`); target: the
    /// login as typed, or the client address for a delay of every login from it.
    #[strum(serialize = "login.delay")]
    LoginDelay,
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
    /// A user allowed a device authorization request (RFC 8628 §3.3); target: the client.
    #[strum(serialize = "device.approve")]
    DeviceApprove,
    /// A user denied a device authorization request; target: the client.
    #[strum(serialize = "device.deny")]
    DeviceDeny,
    /// A user code that names no request the user can decide (unknown, expired, decided);
    /// counted against the per-address and per-session limits.
    #[strum(serialize = "device.code_invalid")]
    DeviceCodeInvalid,
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
    /// `gatehouse keys rewrap` re-sealed the master key's material and the signing keys under a
    /// new master key (details: how many of each).
    #[strum(serialize = "keys.rewrap")]
    KeysRewrap,
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
    /// An administrator downloaded the audit log (details: format, filters, rows written).
    #[strum(serialize = "admin.audit_export")]
    AdminAuditExport,
    /// A platform administrator created an organisation.
    #[strum(serialize = "admin.org_create")]
    AdminOrgCreate,
    /// A platform administrator renamed, enabled or disabled an organisation.
    #[strum(serialize = "admin.org_update")]
    AdminOrgUpdate,
    #[strum(serialize = "admin.org_delete")]
    AdminOrgDelete,
    /// A user was added to an organisation or their role in it changed (details: role).
    #[strum(serialize = "admin.org_member_add")]
    AdminOrgMemberAdd,
    #[strum(serialize = "admin.org_member_remove")]
    AdminOrgMemberRemove,
    /// A sign-in to an organisation's client refused: the user is not a member, or the
    /// organisation is disabled.
    #[strum(serialize = "org.sign_in_refused")]
    OrgSignInRefused,
    /// RFC 8693 token exchange (details: client, subject, actor, audience, outcome reason).
    #[strum(serialize = "token.exchange")]
    TokenExchange,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// An administrator's action (or the gate's refusal of one): the name starts `admin.`.
    pub fn is_admin(self) -> bool {
        self.as_str().starts_with("admin.")
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub actor_kind: ActorKind,
    pub action: AuditAction,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    pub details: serde_json::Value,
    /// The `x-request-id` of the request that caused the event, if a request did.
    pub request_id: Option<String>,
    /// The organisation the event happened in ([`crate::RequestContext::org_id`]).
    pub org_id: Option<uuid::Uuid>,
}

impl NewAuditEvent {
    /// An event of `ctx`'s request: its actor (and the actor's kind), address, user agent and
    /// request id.
    pub fn in_context(
        ctx: &crate::RequestContext,
        occurred_at: DateTime<Utc>,
        action: AuditAction,
        outcome: AuditOutcome,
        target: Option<String>,
        details: serde_json::Value,
    ) -> Self {
        NewAuditEvent {
            occurred_at,
            actor: ctx.actor.clone(),
            actor_kind: ctx.actor_kind(),
            action,
            target,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            outcome,
            details,
            request_id: ctx.request_id.clone(),
            org_id: ctx.org_id,
        }
    }
}

/// A recorded event; `id` grows with insertion order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub actor_kind: ActorKind,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    pub org_id: Option<uuid::Uuid>,
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
    actor_kind: &'static str,
    request_id: Option<&'a str>,
    org_id: Option<String>,
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
    actor_kind: String,
    request_id: Option<String>,
    org_id: Option<String>,
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
            actor_kind: ActorKind::parse(&row.actor_kind)?,
            action: row.action,
            target: row.target,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: AuditOutcome::parse(&row.outcome)?,
            details,
            request_id: row.request_id,
            org_id: row
                .org_id
                .as_deref()
                .map(crate::users::parse_id)
                .transpose()?,
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
    let request_id = event.request_id.as_deref().map(storable);
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
            actor_kind: event.actor_kind.as_str(),
            request_id: request_id.as_deref(),
            org_id: event.org_id.map(crate::users::id_text),
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

    use super::{ActorKind, AuditAction};

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

    #[test]
    fn actor_kinds_are_told_from_the_stored_actor() {
        let id = "0b8e3c52-8f5e-4f7a-9d6e-2f4c1a7b9e10";
        for (actor, kind) in [
            (None, ActorKind::Anonymous),
            (Some(format!("user:{id}")), ActorKind::User),
            (Some(id.to_owned()), ActorKind::User),
            (
                Some("client:reporting".to_owned()),
                ActorKind::ServiceAccount,
            ),
            (Some("bootstrap".to_owned()), ActorKind::System),
            (Some("cli".to_owned()), ActorKind::System),
            (Some(format!("{id}x")), ActorKind::System),
        ] {
            assert_eq!(ActorKind::of_actor(actor.as_deref()), kind, "{actor:?}");
        }
        for kind in ActorKind::iter() {
            assert_eq!(ActorKind::parse(kind.as_str()).ok(), Some(kind));
        }
        assert_eq!(ActorKind::ServiceAccount.as_str(), "service_account");
    }
}
