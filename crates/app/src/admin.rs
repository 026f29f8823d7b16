//! The one permission gate of administration.
//!
//! Every admin operation, whichever surface asks (the REST API with a user's or a service
//! account's bearer token, the console with a browser session, the CLI), names an [`Actor`] and
//! an [`AdminOperation`] and goes through [`Gatehouse::admit`] before it touches anything. No
//! handler checks roles itself. A refusal is audited here; what an admitted operation changes is
//! audited by the operation.
//!
//! Who may do what (deny by default):
//! - `admin`: everything;
//! - `user_admin`: users, their sessions, grants, credentials and roles other than `admin`;
//!   nothing on an account that holds `admin`;
//! - `client_admin`: clients (not the roles of their service accounts);
//! - `auditor`: every read, including the audit log; no change.
//!
//! Guard rails, whatever the roles: nobody raises their own roles; an admin cannot lock or
//! delete themselves; the last active `admin` cannot lose the role, be locked, disabled or
//! deleted; a service account cannot delete, disable or change the roles of its own client.

use chrono::{DateTime, Utc};
use gatehouse_identity::{AuditAction, RequestContext, Role};
use uuid::Uuid;

use crate::Gatehouse;

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A user, signed in to the console or holding an access token with the `admin` scope.
    User { id: Uuid, roles: Vec<Role> },
    /// A client's service account (a `client_credentials` token with the `admin` scope).
    ServiceAccount { client_id: String, roles: Vec<Role> },
}

impl Actor {
    pub fn roles(&self) -> &[Role] {
        match self {
            Actor::User { roles, .. } | Actor::ServiceAccount { roles, .. } => roles,
        }
    }

    fn holds(&self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// How the audit trail names the actor: `user:ID` or `client:ID`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::ServiceAccount { client_id, .. } => format!("client:{client_id}"),
        }
    }

    /// The user acting, if it is one.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Actor::User { id, .. } => Some(*id),
            Actor::ServiceAccount { .. } => None,
        }
    }
}

/// What an actor asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum AdminOperation {
    ListUsers,
    ReadUser,
    CreateUser,
    UpdateUser,
    DeleteUser,
    LockUser,
    UnlockUser,
    ChangeUserRoles,
    ResetUserSecondFactor,
    SendPasswordReset,
    ReadUserSessions,
    EndUserSessions,
    ReadUserGrants,
    RevokeUserGrant,
    ListClients,
    ReadClient,
    CreateClient,
    UpdateClient,
    DeleteClient,
    RotateClientSecret,
    ChangeClientRoles,
    ReadRoles,
    ReadAudit,
    ReadKeys,
    RotateKeys,
    ReadStats,
    ListOrganizations,
    ReadOrganization,
    CreateOrganization,
    /// Rename, enable or disable.
    UpdateOrganization,
    DeleteOrganization,
    /// Add or remove members, change their role in the organisation.
    ChangeOrganizationMembers,
}

impl AdminOperation {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Changes nothing.
    pub fn is_read(self) -> bool {
        use AdminOperation::*;
        matches!(
            self,
            ListUsers
                | ReadUser
                | ReadUserSessions
                | ReadUserGrants
                | ListClients
                | ReadClient
                | ReadRoles
                | ReadAudit
                | ReadKeys
                | ReadStats
                | ListOrganizations
                | ReadOrganization
        )
    }

    fn on_users(self) -> bool {
        use AdminOperation::*;
        matches!(
            self,
            ListUsers
                | ReadUser
                | CreateUser
                | UpdateUser
                | DeleteUser
                | LockUser
                | UnlockUser
                | ChangeUserRoles
                | ResetUserSecondFactor
                | SendPasswordReset
                | ReadUserSessions
                | EndUserSessions
                | ReadUserGrants
                | RevokeUserGrant
        )
    }

    fn on_clients(self) -> bool {
        use AdminOperation::*;
        matches!(
            self,
            ListClients
                | ReadClient
                | CreateClient
                | UpdateClient
                | DeleteClient
                | RotateClientSecret
        )
    }

    /// Whether `roles` permit this operation at all (before the guard rails on its target).
    pub fn permitted_to(self, roles: &[Role]) -> bool {
        roles.iter().any(|role| match role {
            Role::Admin => true,
            Role::Auditor => self.is_read(),
            Role::UserAdmin => {
                self.on_users()
                    || matches!(self, AdminOperation::ReadRoles | AdminOperation::ReadStats)
            }
            Role::ClientAdmin => {
                self.on_clients()
                    || matches!(self, AdminOperation::ReadRoles | AdminOperation::ReadStats)
            }
        })
    }
}

/// The user an operation is about, as far as the guard rails need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUser {
    pub id: Uuid,
    /// Its roles now.
    pub roles: Vec<Role>,
    /// Its roles after the operation (role changes only).
    pub new_roles: Option<Vec<Role>>,
    /// Whether it is the only active account holding `admin`.
    pub last_admin: bool,
}

/// Why the gate refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminDenied {
    /// The actor's roles do not permit the operation.
    #[error("your roles do not permit {0}")]
    NotPermitted(&'static str),
    /// A guard rail stopped it (the message says which).
    #[error("{0}")]
    GuardRail(&'static str),
}

impl Gatehouse {
    /// The gate: admits `actor` to `operation` (on `target`, for operations on one user), or
    /// says why not and audits the refusal (`admin.denied`).
    pub async fn admit(
        &self,
        actor: &Actor,
        operation: AdminOperation,
        target: Option<&TargetUser>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AdminDenied> {
        let verdict = judge(actor, operation, target);
        let target = target.map_or_else(|| operation.as_str().to_owned(), |t| t.id.to_string());
        self.audit_refusal(actor, operation, target, verdict, ctx, now)
            .await
    }

    /// The gate for an operation on one client: as [`Gatehouse::admit`], and a service account
    /// may not delete, disable or change the roles of its own client (as an admin may not lock
    /// or delete themselves): automation must not be able to cut off or reshape itself.
    pub async fn admit_on_client(
        &self,
        actor: &Actor,
        operation: AdminOperation,
        client: &TargetClient<'_>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AdminDenied> {
        let verdict = judge_on_client(actor, operation, client);
        self.audit_refusal(
            actor,
            operation,
            client.client_id.to_owned(),
            verdict,
            ctx,
            now,
        )
        .await
    }

    async fn audit_refusal(
        &self,
        actor: &Actor,
        operation: AdminOperation,
        target: String,
        verdict: Result<(), AdminDenied>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AdminDenied> {
        if let Err(denied) = &verdict {
            let mut ctx = ctx.clone();
            ctx.actor = Some(actor.audit_name());
            self.audit_failure(
                AuditAction::AdminDenied,
                target,
                serde_json::json!({ "operation": operation.as_str(), "reason": denied.to_string() }),
                &ctx,
                now,
            )
            .await;
        }
        verdict
    }
}

/// The client an operation is about, as far as the guard rails need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetClient<'a> {
    pub client_id: &'a str,
    /// The operation switches the client off (an update setting `enabled` to false).
    pub disables: bool,
}

/// The decision on an operation on one client, without side effects.
pub fn judge_on_client(
    actor: &Actor,
    operation: AdminOperation,
    client: &TargetClient<'_>,
) -> Result<(), AdminDenied> {
    judge(actor, operation, None)?;
    let own =
        matches!(actor, Actor::ServiceAccount { client_id, .. } if client_id == client.client_id);
    let cuts_itself_off = match operation {
        AdminOperation::DeleteClient | AdminOperation::ChangeClientRoles => true,
        AdminOperation::UpdateClient => client.disables,
        _ => false,
    };
    if own && cuts_itself_off {
        return Err(AdminDenied::GuardRail(
            "a service account cannot delete, disable or change the roles of its own client",
        ));
    }
    Ok(())
}

/// The decision, without side effects.
pub fn judge(
    actor: &Actor,
    operation: AdminOperation,
    target: Option<&TargetUser>,
) -> Result<(), AdminDenied> {
    if !operation.permitted_to(actor.roles()) {
        return Err(AdminDenied::NotPermitted(operation.as_str()));
    }
    let Some(target) = target else {
        return Ok(());
    };
    let is_self = actor.user_id() == Some(target.id);
    let target_is_admin = target.roles.contains(&Role::Admin);
    if !operation.is_read() && target_is_admin && !actor.holds(Role::Admin) {
        return Err(AdminDenied::GuardRail(
            "only an admin may change an account that holds the admin role",
        ));
    }
    match operation {
        AdminOperation::ChangeUserRoles => {
            let new_roles = target.new_roles.as_deref().unwrap_or(&target.roles);
            let raises = new_roles.iter().any(|role| !target.roles.contains(role));
            if is_self && raises {
                return Err(AdminDenied::GuardRail("nobody may raise their own roles"));
            }
            let touches_admin = new_roles.contains(&Role::Admin) != target_is_admin;
            if touches_admin && !actor.holds(Role::Admin) {
                return Err(AdminDenied::GuardRail(
                    "only an admin may grant or remove the admin role",
                ));
            }
            if target.last_admin && target_is_admin && !new_roles.contains(&Role::Admin) {
                return Err(AdminDenied::GuardRail(
                    "the last admin cannot lose the admin role",
                ));
            }
        }
        AdminOperation::LockUser | AdminOperation::DeleteUser => {
            if is_self {
                return Err(AdminDenied::GuardRail(
                    "you cannot lock or delete your own account",
                ));
            }
            if target.last_admin && target_is_admin {
                return Err(AdminDenied::GuardRail(
                    "the last admin cannot be locked, disabled or deleted",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    fn user(roles: &[Role]) -> Actor {
        Actor::User {
            id: Uuid::from_u128(1),
            roles: roles.to_vec(),
        }
    }

    fn target(id: u128, roles: &[Role], last_admin: bool) -> TargetUser {
        TargetUser {
            id: Uuid::from_u128(id),
            roles: roles.to_vec(),
            new_roles: None,
            last_admin,
        }
    }

    /// The whole matrix: every role against every operation, without a target.
    #[test]
    fn roles_permit_exactly_their_operations() {
        use AdminOperation::*;
        let user_ops = [
            ListUsers,
            ReadUser,
            CreateUser,
            UpdateUser,
            DeleteUser,
            LockUser,
            UnlockUser,
            ChangeUserRoles,
            ResetUserSecondFactor,
            SendPasswordReset,
            ReadUserSessions,
            EndUserSessions,
            ReadUserGrants,
            RevokeUserGrant,
        ];
        let client_ops = [
            ListClients,
            ReadClient,
            CreateClient,
            UpdateClient,
            DeleteClient,
            RotateClientSecret,
        ];
        for op in AdminOperation::iter() {
            assert!(
                judge(&user(&[Role::Admin]), op, None).is_ok(),
                "admin {op:?}"
            );
            assert!(judge(&user(&[]), op, None).is_err(), "no role {op:?}");
            assert_eq!(
                judge(&user(&[Role::Auditor]), op, None).is_ok(),
                op.is_read(),
                "auditor {op:?}"
            );
            let shared = matches!(op, ReadRoles | ReadStats);
            assert_eq!(
                judge(&user(&[Role::UserAdmin]), op, None).is_ok(),
                user_ops.contains(&op) || shared,
                "user_admin {op:?}"
            );
            assert_eq!(
                judge(&user(&[Role::ClientAdmin]), op, None).is_ok(),
                client_ops.contains(&op) || shared,
                "client_admin {op:?}"
            );
        }
        let service = Actor::ServiceAccount {
            client_id: "svc".into(),
            roles: vec![Role::ClientAdmin],
        };
        assert!(judge(&service, CreateClient, None).is_ok());
        assert!(judge(&service, ChangeClientRoles, None).is_err());
        assert!(judge(&service, LockUser, None).is_err());
    }

    #[test]
    fn nobody_raises_their_own_roles() {
        let me = user(&[Role::UserAdmin]);
        let mut raise = target(1, &[Role::UserAdmin], false);
        raise.new_roles = Some(vec![Role::UserAdmin, Role::ClientAdmin]);
        assert!(matches!(
            judge(&me, AdminOperation::ChangeUserRoles, Some(&raise)),
            Err(AdminDenied::GuardRail(_))
        ));
        let mut lower = target(1, &[Role::UserAdmin], false);
        lower.new_roles = Some(vec![]);
        assert!(judge(&me, AdminOperation::ChangeUserRoles, Some(&lower)).is_ok());
        // Another user's roles: fine, except admin.
        let mut other = target(2, &[], false);
        other.new_roles = Some(vec![Role::ClientAdmin]);
        assert!(judge(&me, AdminOperation::ChangeUserRoles, Some(&other)).is_ok());
        other.new_roles = Some(vec![Role::Admin]);
        assert!(judge(&me, AdminOperation::ChangeUserRoles, Some(&other)).is_err());
    }

    #[test]
    fn a_user_admin_cannot_touch_an_admin() {
        let me = user(&[Role::UserAdmin]);
        let admin = target(2, &[Role::Admin], false);
        for op in [
            AdminOperation::LockUser,
            AdminOperation::DeleteUser,
            AdminOperation::UpdateUser,
        ] {
            assert!(judge(&me, op, Some(&admin)).is_err(), "{op:?}");
        }
        assert!(judge(&me, AdminOperation::ReadUser, Some(&admin)).is_ok());
    }

    #[test]
    fn a_service_account_does_not_cut_itself_off() {
        let bot = Actor::ServiceAccount {
            client_id: "bot".into(),
            roles: vec![Role::Admin],
        };
        let own = |disables| TargetClient {
            client_id: "bot",
            disables,
        };
        let other = TargetClient {
            client_id: "other",
            disables: true,
        };
        for op in [
            AdminOperation::DeleteClient,
            AdminOperation::ChangeClientRoles,
        ] {
            assert!(
                matches!(
                    judge_on_client(&bot, op, &own(false)),
                    Err(AdminDenied::GuardRail(_))
                ),
                "{op:?}"
            );
            assert!(
                judge_on_client(&bot, op, &other).is_ok(),
                "{op:?} on another"
            );
        }
        assert!(judge_on_client(&bot, AdminOperation::UpdateClient, &own(true)).is_err());
        assert!(judge_on_client(&bot, AdminOperation::UpdateClient, &own(false)).is_ok());
        // Rotating its own secret is routine automation.
        assert!(judge_on_client(&bot, AdminOperation::RotateClientSecret, &own(false)).is_ok());
        // Roles still decide first.
        let auditor = Actor::ServiceAccount {
            client_id: "bot".into(),
            roles: vec![Role::Auditor],
        };
        assert!(matches!(
            judge_on_client(&auditor, AdminOperation::DeleteClient, &other),
            Err(AdminDenied::NotPermitted(_))
        ));
    }

    #[test]
    fn the_last_admin_stays_and_admins_do_not_lock_themselves() {
        let me = user(&[Role::Admin]);
        let last = target(2, &[Role::Admin], true);
        assert!(judge(&me, AdminOperation::LockUser, Some(&last)).is_err());
        assert!(judge(&me, AdminOperation::DeleteUser, Some(&last)).is_err());
        let mut demote = last.clone();
        demote.new_roles = Some(vec![Role::UserAdmin]);
        assert!(judge(&me, AdminOperation::ChangeUserRoles, Some(&demote)).is_err());
        let not_last = target(2, &[Role::Admin], false);
        assert!(judge(&me, AdminOperation::LockUser, Some(&not_last)).is_ok());
        let myself = target(1, &[Role::Admin], false);
        assert!(judge(&me, AdminOperation::LockUser, Some(&myself)).is_err());
        assert!(judge(&me, AdminOperation::DeleteUser, Some(&myself)).is_err());
    }
}
