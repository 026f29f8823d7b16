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
//!
//! # Organisation admins
//!
//! A user holding `org_admin` in an organisation (and no platform role) acts as
//! [`Actor::OrgAdmin`] of exactly one organisation at a time, through this same gate, the same
//! REST API and the same console. Its rights, deny by default:
//! - users who are members of its organisation: list, search, read, create (a new user becomes
//!   a member; existing accounts are not invited, which would let one organisation find another's
//!   users: platform admins add members), edit, lock and unlock, reset the second factor, send a
//!   password reset, read and end sessions, read and revoke grants (those of its organisation's
//!   clients only), delete: a user who also belongs to another organisation is not deleted, the
//!   membership in this one is removed instead and the answer says so;
//! - its organisation's clients: list, read, create (they belong to the organisation and cannot
//!   leave it), edit, enable, disable, rotate the secret, delete;
//! - the audit events recorded in its organisation's scope (`audit_events.org_id`), and the
//!   dashboard's counts of its organisation.
//!
//! It never: changes roles (users' or service accounts'), reads roles, keys or settings, touches
//! organisations (its own included: platform admins manage them and their memberships, so it
//! cannot grant `org_admin` anywhere), marks a client first-party or sets its token-exchange
//! audiences or impersonation (whose audiences could name another organisation's APIs; these
//! two are refused in `crate::admin_clients`), or changes an account that holds a platform
//! role. Anything outside its organisation is [`AdminDenied::OutOfScope`], which
//! every surface answers as "not found" (404), never 403: a user or client of another
//! organisation is indistinguishable from one that does not exist. Such a refusal is audited
//! without the organisation (only platform auditors read it), so the organisation's own audit
//! log is no oracle either. Lists, searches and totals are narrowed in SQL to the organisation
//! ([`Actor::organization`]), whatever the request asks. Everything an organisation admin does
//! is recorded with the organisation (`RequestContext::org_id`, [`Actor::context`]), which is
//! how its audit log finds it.
//!
//! An account is one for every organisation it belongs to: a lock, a second-factor reset or a
//! new address by one organisation's admin holds everywhere; only deletion is narrowed to the
//! membership. An organisation that is disabled has no admins until enabled again.
//!
//! Which organisation: the surfaces pick it (the REST API's `organization` query parameter, the
//! console's switcher) among the user's `org_admin` memberships of enabled organisations; with
//! exactly one it is implied. A user who holds any platform role acts with those roles (for
//! them `organization` only narrows lists). A service account is never an organisation admin.

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
    /// A user without platform roles acting as `org_admin` of one organisation (see the module
    /// docs): no roles, only that organisation's users, clients and audit events.
    OrgAdmin { id: Uuid, org: OrgScope },
}

/// The organisation an [`Actor::OrgAdmin`] administers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgScope {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

impl Actor {
    pub fn roles(&self) -> &[Role] {
        match self {
            Actor::User { roles, .. } | Actor::ServiceAccount { roles, .. } => roles,
            Actor::OrgAdmin { .. } => &[],
        }
    }

    /// The organisation an organisation admin is confined to; `None` for platform actors.
    pub fn organization(&self) -> Option<&OrgScope> {
        match self {
            Actor::OrgAdmin { org, .. } => Some(org),
            Actor::User { .. } | Actor::ServiceAccount { .. } => None,
        }
    }

    /// `ctx` with this actor as the audit trail names it and, for an organisation admin, its
    /// organisation: what every admitted operation records its events with.
    pub fn context(&self, ctx: &RequestContext) -> RequestContext {
        let mut ctx = ctx.clone();
        ctx.actor = Some(self.audit_name());
        if let Some(org) = self.organization() {
            ctx.org_id = Some(org.id);
        }
        ctx
    }

    fn holds(&self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// How the audit trail names the actor: `user:ID` or `client:ID`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::User { id, .. } | Actor::OrgAdmin { id, .. } => format!("user:{id}"),
            Actor::ServiceAccount { client_id, .. } => format!("client:{client_id}"),
        }
    }

    /// The user acting, if it is one.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Actor::User { id, .. } | Actor::OrgAdmin { id, .. } => Some(*id),
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

    /// Whether an organisation admin may do this at all (in its organisation): the user and
    /// client operations but role changes, its audit log and its dashboard.
    pub fn permitted_in_organization(self) -> bool {
        (self.on_users() && self != AdminOperation::ChangeUserRoles)
            || self.on_clients()
            || matches!(self, AdminOperation::ReadAudit | AdminOperation::ReadStats)
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
    /// The organisations it is a member of (what confines an organisation admin).
    pub organizations: Vec<Uuid>,
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
    /// The target lies outside the organisation the actor administers: every surface answers
    /// as for a target that does not exist (404).
    #[error("not found")]
    OutOfScope,
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

    /// [`Gatehouse::admit`] on the roles alone, for an operation on the object `target` not
    /// looked up yet: a refusal names it in the audit trail. Not for an organisation admin,
    /// whose refusal is recorded in its organisation's log: the object may be another
    /// organisation's, so it names the operation.
    pub(crate) async fn admit_naming(
        &self,
        actor: &Actor,
        operation: AdminOperation,
        target: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AdminDenied> {
        let verdict = judge(actor, operation, None);
        let target = match actor.organization() {
            Some(_) => operation.as_str().to_owned(),
            None => target.to_owned(),
        };
        self.audit_refusal(actor, operation, target, verdict, ctx, now)
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
            let mut ctx = actor.context(ctx);
            if *denied == AdminDenied::OutOfScope {
                // Platform auditors see the probe; the organisation's own log must not tell a
                // user of another organisation from no user at all.
                ctx.org_id = None;
            }
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
    /// The organisation the client belongs to (what confines an organisation admin).
    pub org_id: Option<Uuid>,
}

/// The decision on an operation on one client, without side effects.
pub fn judge_on_client(
    actor: &Actor,
    operation: AdminOperation,
    client: &TargetClient<'_>,
) -> Result<(), AdminDenied> {
    judge(actor, operation, None)?;
    if let Some(org) = actor.organization()
        && client.org_id != Some(org.id)
    {
        return Err(AdminDenied::OutOfScope);
    }
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
    let permitted = match actor {
        Actor::OrgAdmin { .. } => operation.permitted_in_organization(),
        Actor::User { .. } | Actor::ServiceAccount { .. } => operation.permitted_to(actor.roles()),
    };
    if !permitted {
        return Err(AdminDenied::NotPermitted(operation.as_str()));
    }
    let Some(target) = target else {
        return Ok(());
    };
    if let Some(org) = actor.organization() {
        if !target.organizations.contains(&org.id) {
            return Err(AdminDenied::OutOfScope);
        }
        if !operation.is_read() && !target.roles.is_empty() {
            return Err(AdminDenied::GuardRail(
                "an organisation admin cannot change an account that holds a platform role",
            ));
        }
    }
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
            organizations: Vec::new(),
        }
    }

    const ORG_A: Uuid = Uuid::from_u128(0xA);
    const ORG_B: Uuid = Uuid::from_u128(0xB);

    fn org_admin() -> Actor {
        Actor::OrgAdmin {
            id: Uuid::from_u128(1),
            org: OrgScope {
                id: ORG_A,
                slug: "org-a".into(),
                name: "A".into(),
            },
        }
    }

    fn member_of(id: u128, orgs: &[Uuid], roles: &[Role]) -> TargetUser {
        TargetUser {
            organizations: orgs.to_vec(),
            ..target(id, roles, false)
        }
    }

    /// An organisation admin: exactly the user and client operations (no role changes), its
    /// audit log and dashboard; nothing on roles, keys or organisations.
    #[test]
    fn an_org_admin_is_permitted_exactly_its_operations() {
        use AdminOperation::*;
        let allowed = [
            ListUsers,
            ReadUser,
            CreateUser,
            UpdateUser,
            DeleteUser,
            LockUser,
            UnlockUser,
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
            ReadAudit,
            ReadStats,
        ];
        for op in AdminOperation::iter() {
            assert_eq!(
                judge(&org_admin(), op, None).is_ok(),
                allowed.contains(&op),
                "org_admin {op:?}"
            );
        }
        assert!(org_admin().roles().is_empty());
        assert_eq!(
            org_admin().audit_name(),
            format!("user:{}", Uuid::from_u128(1))
        );
    }

    /// Users: a member of its organisation only; another organisation's user is out of scope
    /// (a 404 on every surface), whatever the operation; accounts with platform roles are read
    /// only.
    #[test]
    fn an_org_admin_reaches_only_members_of_its_organisation() {
        use AdminOperation::*;
        let actor = org_admin();
        let in_a = member_of(2, &[ORG_A], &[]);
        let in_both = member_of(3, &[ORG_A, ORG_B], &[]);
        let in_b = member_of(4, &[ORG_B], &[]);
        let nowhere = member_of(5, &[], &[]);
        let platform_admin_in_a = member_of(6, &[ORG_A], &[Role::Admin]);
        for op in AdminOperation::iter().filter(|op| op.permitted_in_organization()) {
            if !op.on_users() {
                continue;
            }
            assert!(judge(&actor, op, Some(&in_a)).is_ok(), "{op:?} in A");
            assert!(
                judge(&actor, op, Some(&in_both)).is_ok(),
                "{op:?} in A and B"
            );
            assert_eq!(
                judge(&actor, op, Some(&in_b)),
                Err(AdminDenied::OutOfScope),
                "{op:?} in B"
            );
            assert_eq!(
                judge(&actor, op, Some(&nowhere)),
                Err(AdminDenied::OutOfScope),
                "{op:?} in no organisation"
            );
            assert_eq!(
                judge(&actor, op, Some(&platform_admin_in_a)).is_ok(),
                op.is_read(),
                "{op:?} on a platform admin in A"
            );
        }
        let mut raise = member_of(2, &[ORG_A], &[]);
        raise.new_roles = Some(vec![Role::Auditor]);
        assert!(matches!(
            judge(&actor, ChangeUserRoles, Some(&raise)),
            Err(AdminDenied::NotPermitted(_))
        ));
        // Not itself either.
        let myself = member_of(1, &[ORG_A], &[]);
        assert!(judge(&actor, LockUser, Some(&myself)).is_err());
        assert!(judge(&actor, DeleteUser, Some(&myself)).is_err());
    }

    #[test]
    fn an_org_admin_reaches_only_clients_of_its_organisation() {
        use AdminOperation::*;
        let actor = org_admin();
        let client = |org_id| TargetClient {
            client_id: "c",
            disables: true,
            org_id,
        };
        for op in [ReadClient, UpdateClient, DeleteClient, RotateClientSecret] {
            assert!(
                judge_on_client(&actor, op, &client(Some(ORG_A))).is_ok(),
                "{op:?}"
            );
            assert_eq!(
                judge_on_client(&actor, op, &client(Some(ORG_B))),
                Err(AdminDenied::OutOfScope),
                "{op:?} of B"
            );
            assert_eq!(
                judge_on_client(&actor, op, &client(None)),
                Err(AdminDenied::OutOfScope),
                "{op:?} of the platform"
            );
        }
        assert!(matches!(
            judge_on_client(&actor, ChangeClientRoles, &client(Some(ORG_A))),
            Err(AdminDenied::NotPermitted(_))
        ));
        // Platform actors are not confined.
        assert!(
            judge_on_client(
                &user(&[Role::ClientAdmin]),
                DeleteClient,
                &client(Some(ORG_B))
            )
            .is_ok()
        );
    }

    #[test]
    fn an_org_admin_records_its_events_in_its_organisation() {
        let ctx = org_admin().context(&RequestContext::default());
        assert_eq!(ctx.org_id, Some(ORG_A));
        assert_eq!(ctx.actor, Some(format!("user:{}", Uuid::from_u128(1))));
        assert_eq!(
            user(&[Role::Admin])
                .context(&RequestContext::default())
                .org_id,
            None
        );
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
            org_id: None,
        };
        let other = TargetClient {
            client_id: "other",
            disables: true,
            org_id: None,
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
