//! Administration of users, behind the permission gate (`crate::admin`): the list with search,
//! filters and totals; one user; creating (the sign-up rules, with roles), editing the address,
//! its verification and the status; deleting; locking and unlocking; roles; and the user's
//! second factor, password reset mail, sessions and grants.
//!
//! Each operation asks [`Gatehouse::admit`] first, then acts, then writes one audit event as
//! the actor (reads are not audited; a refused operation is, by the gate). An operation on one
//! user is admitted twice: on the roles alone before the user is looked up (so an actor
//! without the role learns nothing, not even whether the id exists), then with the user as
//! target for the guard rails. Whatever takes an account's access away (lock, disable, delete,
//! second-factor reset) ends every session and grant of the user through the one end-session
//! path ([`Gatehouse::end_all_sessions`]), offline grants included.
//!
//! An organisation admin ([`Actor::OrgAdmin`], see `crate::admin`) reaches the members of its
//! organisation only: the gate judges each target with its memberships, a target outside is
//! "no user has this id", and the list is narrowed to the members in SQL. A user it creates
//! becomes a member (a user whose membership cannot be written is deleted again, so no account
//! is left outside every organisation); deleting a user who also belongs elsewhere only removes
//! the membership ([`UserRemoval::LeftOrganization`]). Its view of a user's sessions and grants
//! names only its organisation's clients.

use chrono::{DateTime, Utc};
use gatehouse_identity::admin::users as queries;
use gatehouse_identity::organizations::{self, OrgRole};
use gatehouse_identity::{
    AuditAction, Email, IdentityError, RegisterError, Registration, RequestContext, Role,
    UserStatus,
};
use uuid::Uuid;

use crate::{
    Actor, AdminDenied, AdminOperation, AppError, Gatehouse, SessionEnd, SessionView, TargetUser,
};

pub use gatehouse_identity::admin::users::{
    RoleInfo, UserCursor, UserFilter, UserPage, UserSummary,
};

/// Why a user operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UserAdminError {
    /// The gate refused (never [`AdminDenied::OutOfScope`]: that is [`UserAdminError::NotFound`]).
    #[error(transparent)]
    Denied(AdminDenied),
    #[error("no user has this id")]
    NotFound,
    /// A field breaks a rule; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Another user has this username or email (`field` says which).
    #[error("a user with this {field} already exists")]
    Duplicate { field: &'static str },
    #[error(transparent)]
    Backend(#[from] AppError),
}

/// A user outside an organisation admin's organisation does not exist for it.
impl From<AdminDenied> for UserAdminError {
    fn from(denied: AdminDenied) -> Self {
        match denied {
            AdminDenied::OutOfScope => UserAdminError::NotFound,
            denied => UserAdminError::Denied(denied),
        }
    }
}

impl From<IdentityError> for UserAdminError {
    fn from(err: IdentityError) -> Self {
        UserAdminError::Backend(err.into())
    }
}

impl From<queries::AdminUserError> for UserAdminError {
    fn from(err: queries::AdminUserError) -> Self {
        match err {
            queries::AdminUserError::LastAdmin => UserAdminError::Denied(AdminDenied::GuardRail(
                "the last admin cannot lose the admin role, be locked, disabled or deleted",
            )),
            queries::AdminUserError::Duplicate(field) => UserAdminError::Duplicate { field },
            queries::AdminUserError::Backend(err) => err.into(),
        }
    }
}

/// A user created by an administrator.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub roles: Vec<Role>,
    /// Created with a verified address (no verification mail); otherwise one is mailed.
    pub email_verified: bool,
}

/// One live grant of a user: an authorization whose refresh token still works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUserGrant {
    /// The grant's public id (base64url, 22 characters): names it, and is neither its code nor
    /// a refresh token.
    pub grant_id: String,
    pub client_id: String,
    /// The client's registered name; `None` once the client is gone.
    pub client_name: Option<String>,
    /// The grant's scope has `offline_access`.
    pub offline: bool,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
}

/// What deleting a user came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRemoval {
    /// The account is gone.
    Deleted,
    /// An organisation admin deleted a user who also belongs to another organisation: the
    /// account stays, its membership in this organisation (named by slug) is removed.
    LeftOrganization { organization: String },
}

/// An administrator's edit of a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// `Active` (also lifts a lock) or `Disabled`; `Locked` goes through
    /// [`Gatehouse::admin_lock_user`].
    pub status: Option<UserStatus>,
}

/// The request context with the actor as the audit trail names it (and its organisation).
fn as_actor(actor: &Actor, ctx: &RequestContext) -> RequestContext {
    actor.context(ctx)
}

impl Gatehouse {
    /// Admits `actor` to `operation` on user `id`: on the roles first, then (the user found) on
    /// the guard rails, with `new_roles` for a role change. The user as it is now.
    async fn admit_on_user(
        &self,
        actor: &Actor,
        operation: AdminOperation,
        id: Uuid,
        new_roles: Option<Vec<Role>>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserSummary, UserAdminError> {
        self.admit(actor, operation, None, ctx, now).await?;
        let Some(summary) = self.with_db(move |db| queries::find_user(db, id)).await? else {
            return Err(UserAdminError::NotFound);
        };
        let last_admin = if summary.roles.contains(&Role::Admin) {
            self.with_db(move |db| queries::other_active_admins(db, id))
                .await?
                == 0
        } else {
            false
        };
        let organizations = if actor.organization().is_some() {
            self.with_db(move |db| organizations::memberships_of(db, id))
                .await?
                .into_iter()
                .map(|membership| membership.organization.id)
                .collect()
        } else {
            Vec::new()
        };
        let target = TargetUser {
            id,
            roles: summary.roles.clone(),
            new_roles,
            last_admin,
            organizations,
        };
        self.admit(actor, operation, Some(&target), ctx, now)
            .await?;
        Ok(summary)
    }

    /// A page of users (by username, case-insensitively, then id) with the exact total.
    pub async fn admin_list_users(
        &self,
        actor: &Actor,
        filter: UserFilter,
        after: Option<UserCursor>,
        limit: i64,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserPage, UserAdminError> {
        self.admit(actor, AdminOperation::ListUsers, None, ctx, now)
            .await?;
        let mut filter = filter;
        if let Some(org) = actor.organization() {
            filter.organization = Some(org.id);
        }
        Ok(self
            .with_db(move |db| queries::list_users(db, &filter, after.as_ref(), limit))
            .await?)
    }

    /// One user.
    pub async fn admin_user(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserSummary, UserAdminError> {
        self.admit_on_user(actor, AdminOperation::ReadUser, id, None, ctx, now)
            .await
    }

    /// Creates a user under the sign-up rules, holding `roles` (admitted like a role change:
    /// only an admin creates an admin).
    pub async fn admin_create_user(
        &self,
        actor: &Actor,
        new: NewUser,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserSummary, UserAdminError> {
        self.admit(actor, AdminOperation::CreateUser, None, ctx, now)
            .await?;
        if !new.roles.is_empty() {
            let target = TargetUser {
                id: Uuid::nil(),
                roles: Vec::new(),
                new_roles: Some(new.roles.clone()),
                last_admin: false,
                organizations: Vec::new(),
            };
            self.admit(
                actor,
                AdminOperation::ChangeUserRoles,
                Some(&target),
                ctx,
                now,
            )
            .await?;
        }
        let ctx = as_actor(actor, ctx);
        let registration = Registration {
            username: new.username,
            email: new.email,
            password: new.password,
        };
        let verification = (!new.email_verified).then(|| self.mail.verification());
        let user = self
            .accounts
            .register_and_verify(registration, &new.roles, verification, &ctx, now)
            .await
            .map_err(|err| match err {
                RegisterError::Invalid(field) => UserAdminError::Invalid {
                    field: field.field,
                    message: field.message,
                },
                RegisterError::Duplicate { field } => UserAdminError::Duplicate { field },
                RegisterError::Internal(err) => err.into(),
            })?;
        let id = user.id;
        if let Some(org) = actor.organization() {
            let org_id = org.id;
            let joined = self
                .with_db(move |db| organizations::add_member(db, org_id, id, OrgRole::Member, now))
                .await;
            if !matches!(joined, Ok(true)) {
                // No account may be left outside the organisation that created it.
                if let Err(err) = self
                    .with_db(move |db| queries::delete_user(db, id).map_err(UserAdminError::from))
                    .await
                {
                    tracing::error!(user_id = %id, error = %err, "could not remove a user whose membership failed");
                }
                return Err(match joined {
                    Err(err) => err.into(),
                    Ok(_) => UserAdminError::NotFound,
                });
            }
        }
        if new.email_verified {
            let changes = queries::UserChanges {
                email_verified: Some(true),
                ..queries::UserChanges::default()
            };
            self.with_db(move |db| {
                queries::update_user(db, id, &changes, now).map_err(UserAdminError::from)
            })
            .await?;
        }
        self.audit(
            AuditAction::AdminUserCreate,
            id.to_string(),
            serde_json::json!({
                "username": user.username,
                "roles": new.roles,
                "email_verified": new.email_verified,
                "organization": actor.organization().map(|org| &org.slug),
            }),
            &ctx,
            now,
        )
        .await;
        self.with_db(move |db| queries::find_user(db, id))
            .await?
            .ok_or(UserAdminError::NotFound)
    }

    /// Changes the address, its verification or the status. Disabling is admitted as a lock
    /// too (the same guard rails: not oneself, not the last admin) and ends every session and
    /// grant of the user.
    pub async fn admin_update_user(
        &self,
        actor: &Actor,
        id: Uuid,
        edit: UserEdit,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserSummary, UserAdminError> {
        let email = edit
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|field| UserAdminError::Invalid {
                field: field.field,
                message: field.message,
            })?;
        if edit.status == Some(UserStatus::Locked) {
            return Err(UserAdminError::Invalid {
                field: "status",
                message: "lock an account with POST /users/{id}/lock".to_owned(),
            });
        }
        let before = self
            .admit_on_user(actor, AdminOperation::UpdateUser, id, None, ctx, now)
            .await?;
        let disables =
            edit.status == Some(UserStatus::Disabled) && before.user.status != UserStatus::Disabled;
        if disables {
            self.admit_on_user(actor, AdminOperation::LockUser, id, None, ctx, now)
                .await?;
        }
        let changes = queries::UserChanges {
            email,
            email_verified: edit.email_verified,
            status: edit.status,
        };
        let mut changed = Vec::new();
        if changes.email.is_some() {
            changed.push("email");
        }
        if changes.email_verified.is_some() {
            changed.push("email_verified");
        }
        if changes.status.is_some() {
            changed.push("status");
        }
        let ctx = as_actor(actor, ctx);
        self.with_db(move |db| {
            queries::update_user(db, id, &changes, now).map_err(UserAdminError::from)
        })
        .await?
        .ok_or(UserAdminError::NotFound)?;
        self.authz.forget_user(id);
        self.audit(
            AuditAction::AdminUserUpdate,
            id.to_string(),
            serde_json::json!({ "changed": changed, "status": edit.status }),
            &ctx,
            now,
        )
        .await;
        if disables {
            self.end_all_sessions(id, SessionEnd::Everywhere, &ctx, now)
                .await?;
        }
        self.with_db(move |db| queries::find_user(db, id))
            .await?
            .ok_or(UserAdminError::NotFound)
    }

    /// Deletes the user: every session and grant ends first, then the account goes with its
    /// credentials, roles and consents. The audit event keeps the username and address. An
    /// organisation admin deleting a user who also belongs to another organisation removes the
    /// membership in its own instead (audited as `admin.org_member_remove`); the account, its
    /// sessions and its other memberships stay.
    pub async fn admin_delete_user(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserRemoval, UserAdminError> {
        let summary = self
            .admit_on_user(actor, AdminOperation::DeleteUser, id, None, ctx, now)
            .await?;
        let ctx = as_actor(actor, ctx);
        if let Some(org) = actor.organization() {
            let org_id = org.id;
            let elsewhere = self
                .with_db(move |db| organizations::memberships_of(db, id))
                .await?
                .iter()
                .any(|membership| membership.organization.id != org_id);
            if elsewhere {
                if !self
                    .with_db(move |db| organizations::remove_member(db, org_id, id))
                    .await?
                {
                    return Err(UserAdminError::NotFound);
                }
                self.audit(
                    AuditAction::AdminOrgMemberRemove,
                    id.to_string(),
                    serde_json::json!({
                        "organization": org.slug,
                        "username": summary.user.username,
                        "reason": "deleted by an organisation admin; the user belongs to \
                                   another organisation",
                    }),
                    &ctx,
                    now,
                )
                .await;
                return Ok(UserRemoval::LeftOrganization {
                    organization: org.slug.clone(),
                });
            }
        }
        self.end_all_sessions(id, SessionEnd::Everywhere, &ctx, now)
            .await?;
        let deleted = self
            .with_db(move |db| queries::delete_user(db, id).map_err(UserAdminError::from))
            .await?
            .ok_or(UserAdminError::NotFound)?;
        self.authz.forget_user(id);
        self.audit(
            AuditAction::AdminUserDelete,
            id.to_string(),
            serde_json::json!({ "username": deleted.username, "email": deleted.email }),
            &ctx,
            now,
        )
        .await;
        Ok(UserRemoval::Deleted)
    }

    /// Locks the account (until `until`, or until unlocked), then ends every session and grant
    /// of the user. `reason` goes to the audit trail.
    pub async fn admin_lock_user(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: String,
        until: Option<DateTime<Utc>>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserSummary, UserAdminError> {
        if reason.trim().is_empty() || reason.chars().count() > 500 {
            return Err(UserAdminError::Invalid {
                field: "reason",
                message: "give a reason of 1–500 characters".to_owned(),
            });
        }
        if until.is_some_and(|until| until <= now) {
            return Err(UserAdminError::Invalid {
                field: "until",
                message: "the lock must end in the future (omit `until` for no end)".to_owned(),
            });
        }
        self.admit_on_user(actor, AdminOperation::LockUser, id, None, ctx, now)
            .await?;
        let ctx = as_actor(actor, ctx);
        self.with_db(move |db| {
            queries::lock_user(db, id, until, now).map_err(UserAdminError::from)
        })
        .await?
        .ok_or(UserAdminError::NotFound)?;
        // This instance's cached copy would still read active for a moment.
        self.authz.forget_user(id);
        self.audit(
            AuditAction::AdminUserLock,
            id.to_string(),
            serde_json::json!({ "reason": reason, "until": until }),
            &ctx,
            now,
        )
        .await;
        self.end_all_sessions(id, SessionEnd::Everywhere, &ctx, now)
            .await?;
        self.with_db(move |db| queries::find_user(db, id))
            .await?
            .ok_or(UserAdminError::NotFound)
    }

    /// Lifts a lock and clears the failure counter.
    pub async fn admin_unlock_user(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UserSummary, UserAdminError> {
        self.admit_on_user(actor, AdminOperation::UnlockUser, id, None, ctx, now)
            .await?;
        let ctx = as_actor(actor, ctx);
        self.with_db(move |db| queries::unlock_user(db, id, now))
            .await?
            .ok_or(UserAdminError::NotFound)?;
        self.authz.forget_user(id);
        self.audit_success(AuditAction::AdminUserUnlock, id.to_string(), &ctx, now)
            .await;
        self.with_db(move |db| queries::find_user(db, id))
            .await?
            .ok_or(UserAdminError::NotFound)
    }

    /// Replaces the user's roles; the roles now, sorted by name.
    pub async fn admin_set_user_roles(
        &self,
        actor: &Actor,
        id: Uuid,
        roles: Vec<Role>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<Role>, UserAdminError> {
        let before = self
            .admit_on_user(
                actor,
                AdminOperation::ChangeUserRoles,
                id,
                Some(roles.clone()),
                ctx,
                now,
            )
            .await?;
        let ctx = as_actor(actor, ctx);
        let after = self
            .with_db(move |db| {
                queries::set_user_roles(db, id, &roles, now).map_err(UserAdminError::from)
            })
            .await?
            .ok_or(UserAdminError::NotFound)?;
        self.audit(
            AuditAction::AdminUserRoles,
            id.to_string(),
            serde_json::json!({ "before": before.roles, "after": after }),
            &ctx,
            now,
        )
        .await;
        Ok(after)
    }

    /// Every role with its description.
    pub async fn admin_roles(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoleInfo>, UserAdminError> {
        self.admit(actor, AdminOperation::ReadRoles, None, ctx, now)
            .await?;
        Ok(self.with_db(queries::list_roles).await?)
    }

    /// Removes the user's second factor (TOTP and recovery codes) and ends every session and
    /// grant, as `gatehouse user reset-2fa` does. Whether there was one to remove.
    pub async fn admin_reset_second_factor(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<bool, UserAdminError> {
        self.admit_on_user(
            actor,
            AdminOperation::ResetUserSecondFactor,
            id,
            None,
            ctx,
            now,
        )
        .await?;
        let ctx = as_actor(actor, ctx);
        let removed = self.with_db(move |db| db.reset_2fa(id)).await?;
        self.audit(
            AuditAction::AdminUserTotpReset,
            id.to_string(),
            serde_json::json!({ "removed": removed }),
            &ctx,
            now,
        )
        .await;
        self.end_all_sessions(id, SessionEnd::Everywhere, &ctx, now)
            .await?;
        Ok(removed)
    }

    /// Mails the user a password reset link (queued like a self-service request; a disabled
    /// account gets none).
    pub async fn admin_send_password_reset(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), UserAdminError> {
        let summary = self
            .admit_on_user(actor, AdminOperation::SendPasswordReset, id, None, ctx, now)
            .await?;
        let ctx = as_actor(actor, ctx);
        self.request_password_reset(&summary.user.email, &ctx, now)
            .await?;
        self.audit_success(
            AuditAction::AdminUserPasswordReset,
            id.to_string(),
            &ctx,
            now,
        )
        .await;
        Ok(())
    }

    /// The user's live sessions, oldest first.
    pub async fn admin_user_sessions(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionView>, UserAdminError> {
        self.admit_on_user(actor, AdminOperation::ReadUserSessions, id, None, ctx, now)
            .await?;
        let mut sessions = self.list_sessions(id, now).await?;
        if let Some(org) = actor.organization() {
            let org_id = org.id;
            let own = self
                .with_db(move |db| organizations::client_ids(db, org_id))
                .await?;
            for session in &mut sessions {
                session.clients.retain(|client| own.contains(client));
            }
        }
        Ok(sessions)
    }

    /// Ends every session and grant of the user; how many sessions ended.
    pub async fn admin_end_user_sessions(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<usize, UserAdminError> {
        self.admit_on_user(actor, AdminOperation::EndUserSessions, id, None, ctx, now)
            .await?;
        let ctx = as_actor(actor, ctx);
        let ended = self
            .end_all_sessions(id, SessionEnd::Everywhere, &ctx, now)
            .await?;
        self.audit(
            AuditAction::AdminUserSessionsEnd,
            id.to_string(),
            serde_json::json!({ "sessions": ended }),
            &ctx,
            now,
        )
        .await;
        Ok(ended)
    }

    /// The user's live grants (each authorization whose refresh token still works), newest
    /// first, with their clients' names.
    pub async fn admin_user_grants(
        &self,
        actor: &Actor,
        id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<AdminUserGrant>, UserAdminError> {
        self.admit_on_user(actor, AdminOperation::ReadUserGrants, id, None, ctx, now)
            .await?;
        let grants = self
            .authz
            .user_grants(id, now.timestamp())
            .await
            .map_err(AppError::from)?;
        let scope = actor.organization().map(|org| org.id);
        Ok(self
            .with_db(move |db| {
                let mut clients =
                    std::collections::HashMap::<String, Option<(String, Option<Uuid>)>>::new();
                let mut out = Vec::with_capacity(grants.len());
                for grant in grants {
                    let client = match clients.get(&grant.client_id) {
                        Some(client) => client.clone(),
                        None => {
                            let client = db
                                .find_client(&grant.client_id)?
                                .map(|c| (c.name, c.org_id.and_then(|id| id.parse().ok())));
                            clients.insert(grant.client_id.clone(), client.clone());
                            client
                        }
                    };
                    // An organisation admin sees its organisation's clients only.
                    if scope.is_some() && client.as_ref().and_then(|(_, org)| *org) != scope {
                        continue;
                    }
                    let client_name = client.map(|(name, _)| name);
                    out.push(AdminUserGrant {
                        grant_id: grant.grant_id,
                        client_id: grant.client_id,
                        client_name,
                        offline: grant.offline,
                        issued_at: grant.issued_at,
                    });
                }
                Ok::<_, IdentityError>(out)
            })
            .await?)
    }

    /// Revokes one grant of the user, named by its id as [`Gatehouse::admin_user_grants`]
    /// lists it: its refresh tokens answer `invalid_grant` and its access tokens stop passing
    /// introspection and userinfo. The user's consent and other grants stay. The client is told
    /// through a back-channel logout naming the user and the session the grant was issued in
    /// (Back-Channel Logout 1.0 §2.4, §2.7), so that clients requiring `sid` accept it. `false` when the user holds no such live grant.
    pub async fn admin_revoke_user_grant(
        &self,
        actor: &Actor,
        id: Uuid,
        grant_id: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<bool, UserAdminError> {
        self.admit_on_user(actor, AdminOperation::RevokeUserGrant, id, None, ctx, now)
            .await?;
        if actor.organization().is_some() {
            // Only a grant it can see: one of its organisation's clients.
            let visible = self
                .admin_user_grants(actor, id, ctx, now)
                .await?
                .iter()
                .any(|grant| grant.grant_id == grant_id);
            if !visible {
                return Ok(false);
            }
        }
        let ctx = as_actor(actor, ctx);
        let Some(revoked) = self
            .authz
            .revoke_user_grant(id, grant_id, now.timestamp())
            .await
            .map_err(AppError::from)?
        else {
            return Ok(false);
        };
        self.audit(
            AuditAction::AdminUserGrantRevoke,
            id.to_string(),
            serde_json::json!({ "grant_id": grant_id, "client_id": revoked.client_id }),
            &ctx,
            now,
        )
        .await;
        let sub = id.to_string();
        if let Err(err) = self
            .authz
            .queue_backchannel_logout(&revoked.client_id, Some(&sub), revoked.sid.as_deref(), now)
            .await
        {
            tracing::error!(client_id = %revoked.client_id, error = %err, "could not queue a back-channel logout");
        }
        Ok(true)
    }
}
