//! Administration of organisations ("vendors"), behind the permission gate (`crate::admin`):
//! the list, one organisation with its members and clients, creating, renaming, enabling and
//! disabling, deleting, and memberships with their role. These are platform operations: the
//! gate admits `admin` to all of them and `auditor` to the reads; an organisation's own admins
//! manage its users and clients, never the organisation.
//!
//! Each operation asks [`Gatehouse::admit`] first, then acts, then writes one audit event as the
//! actor, in the organisation's context (`RequestContext::org_id`), so the event is also in the
//! organisation's own audit trail. An organisation is named by its id or its slug.
//!
//! Disabling an organisation stops its members signing in to its clients (the sign-in checks
//! the flag) and ends what they already hold there: for every member and every client of the
//! organisation, the member's grants for that client are revoked
//! ([`gatehouse_authz::Authz::end_user_client_grants`], the account page's "Revoke" without the
//! consent), so their refresh tokens answer `invalid_grant` and their access tokens stop passing
//! introspection and userinfo. Every `enabled: false` does so, even on an organisation that is
//! disabled already, so that a disable cut short by a store failure can simply be repeated.
//! Enabling it again restores sign-in, not the grants. Removing a member ends that member's
//! grants for the organisation's clients the same way: they could not sign in there again.
//!
//! No back-channel logout is sent for grants ended this way (as for a revoked app): the user's
//! browser sessions go on, and the relying party learns of it at its next refresh.

use chrono::{DateTime, Utc};
use gatehouse_identity::organizations::{
    self as orgs, Member, NewOrganization, OrgClient, OrgError, OrgRole, Organization,
    OrganizationPatch, OrganizationSummary,
};
use gatehouse_identity::{AuditAction, IdentityError, RequestContext};
use uuid::Uuid;

use crate::{Actor, AdminDenied, AdminOperation, AppError, Gatehouse};

/// Why an organisation operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OrgAdminError {
    #[error(transparent)]
    Denied(#[from] AdminDenied),
    #[error("no organisation has this id or slug")]
    NotFound,
    /// The user named for a membership does not exist, or is not a member (removal).
    #[error("{0}")]
    NoSuchMember(&'static str),
    /// A field breaks a rule; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("an organisation with this slug exists already")]
    SlugTaken,
    /// Deleting an organisation that still has clients.
    #[error("the organisation still has {0} client(s); delete them or move them first")]
    HasClients(i64),
    #[error(transparent)]
    Backend(#[from] AppError),
}

impl From<IdentityError> for OrgAdminError {
    fn from(err: IdentityError) -> Self {
        OrgAdminError::Backend(err.into())
    }
}

impl From<OrgError> for OrgAdminError {
    fn from(err: OrgError) -> Self {
        match err {
            OrgError::Invalid { field, message } => OrgAdminError::Invalid { field, message },
            OrgError::SlugTaken => OrgAdminError::SlugTaken,
            OrgError::HasClients(count) => OrgAdminError::HasClients(count),
            OrgError::Internal(err) => err.into(),
        }
    }
}

/// A membership as it stands after [`Gatehouse::admin_set_organization_member`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMember {
    pub member: Member,
    /// The user was not a member before.
    pub created: bool,
}

/// An organisation as edited, and how many grants its disabling ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatedOrganization {
    pub organization: OrganizationSummary,
    pub grants_revoked: usize,
}

/// The request context with the actor as the audit trail names it, in `org_id`'s context.
fn in_org(actor: &Actor, ctx: &RequestContext, org_id: Uuid) -> RequestContext {
    let mut ctx = ctx.clone();
    ctx.actor = Some(actor.audit_name());
    ctx.org_id = Some(org_id);
    ctx
}

impl Gatehouse {
    /// The organisation `id_or_slug` names (no gate: callers have been admitted).
    async fn organization_named(&self, id_or_slug: &str) -> Result<Organization, OrgAdminError> {
        let name = id_or_slug.to_owned();
        self.with_db(move |db| orgs::find(db, &name))
            .await?
            .ok_or(OrgAdminError::NotFound)
    }

    /// Every organisation with its member and client counts, by slug.
    pub async fn admin_list_organizations(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrganizationSummary>, OrgAdminError> {
        self.admit(actor, AdminOperation::ListOrganizations, None, ctx, now)
            .await?;
        Ok(self.with_db(orgs::summaries).await?)
    }

    /// One organisation, by id or slug, with its counts.
    pub async fn admin_read_organization(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<OrganizationSummary, OrgAdminError> {
        self.admit(actor, AdminOperation::ReadOrganization, None, ctx, now)
            .await?;
        let name = id_or_slug.to_owned();
        self.with_db(move |db| orgs::summary(db, &name))
            .await?
            .ok_or(OrgAdminError::NotFound)
    }

    /// The organisation's members, by username.
    pub async fn admin_organization_members(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(Organization, Vec<Member>), OrgAdminError> {
        self.admit(actor, AdminOperation::ReadOrganization, None, ctx, now)
            .await?;
        let organization = self.organization_named(id_or_slug).await?;
        let id = organization.id;
        let members = self.with_db(move |db| orgs::members(db, id)).await?;
        Ok((organization, members))
    }

    /// The organisation's clients, by name.
    pub async fn admin_organization_clients(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(Organization, Vec<OrgClient>), OrgAdminError> {
        self.admit(actor, AdminOperation::ReadOrganization, None, ctx, now)
            .await?;
        let organization = self.organization_named(id_or_slug).await?;
        let id = organization.id;
        let clients = self.with_db(move |db| orgs::clients(db, id)).await?;
        Ok((organization, clients))
    }

    /// Creates an organisation (enabled, without members).
    pub async fn admin_create_organization(
        &self,
        actor: &Actor,
        new: NewOrganization,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Organization, OrgAdminError> {
        self.admit(actor, AdminOperation::CreateOrganization, None, ctx, now)
            .await?;
        let organization = self
            .with_db(move |db| orgs::create(db, &new, now).map_err(OrgAdminError::from))
            .await?;
        self.audit(
            AuditAction::AdminOrgCreate,
            organization.id.to_string(),
            serde_json::json!({ "slug": organization.slug, "name": organization.name }),
            &in_org(actor, ctx, organization.id),
            now,
        )
        .await;
        Ok(organization)
    }

    /// Renames, enables or disables an organisation (the slug never changes: relying parties
    /// send it as `organization`). Disabling ends the members' grants for its clients (see the
    /// module docs).
    pub async fn admin_update_organization(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        patch: OrganizationPatch,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<UpdatedOrganization, OrgAdminError> {
        self.admit(actor, AdminOperation::UpdateOrganization, None, ctx, now)
            .await?;
        let before = self.organization_named(id_or_slug).await?;
        let id = before.id;
        let mut fields = Vec::new();
        if patch.name.is_some() {
            fields.push("name");
        }
        if patch.enabled.is_some() {
            fields.push("enabled");
        }
        let disables = patch.enabled == Some(false);
        let organization = self
            .with_db(move |db| orgs::update(db, id, &patch, now).map_err(OrgAdminError::from))
            .await?
            .ok_or(OrgAdminError::NotFound)?;
        let ended = if disables {
            self.end_organization_grants(id, None, now).await
        } else {
            Ok(0)
        };
        // On record even when ending the grants failed half-way (the disable can be repeated).
        self.audit(
            AuditAction::AdminOrgUpdate,
            id.to_string(),
            serde_json::json!({
                "fields": fields,
                "name": organization.name,
                "enabled": organization.enabled,
                "was_enabled": before.enabled,
                "grants_revoked": ended.as_ref().ok(),
            }),
            &in_org(actor, ctx, id),
            now,
        )
        .await;
        let grants_revoked = ended?;
        let organization = self
            .with_db(move |db| orgs::summary(db, &id.to_string()))
            .await?
            .ok_or(OrgAdminError::NotFound)?;
        Ok(UpdatedOrganization {
            organization,
            grants_revoked,
        })
    }

    /// Revokes, for every member of organisation `org_id` (or only `only_user`), the member's
    /// grants for each of the organisation's clients; how many grants were revoked.
    async fn end_organization_grants(
        &self,
        org_id: Uuid,
        only_user: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<usize, OrgAdminError> {
        let (users, clients) = self
            .with_db(move |db| {
                let users: Vec<Uuid> = match only_user {
                    Some(user) => vec![user],
                    None => orgs::members(db, org_id)?
                        .into_iter()
                        .map(|m| m.user_id)
                        .collect(),
                };
                Ok::<_, IdentityError>((users, orgs::client_ids(db, org_id)?))
            })
            .await?;
        let mut revoked = 0;
        for user in &users {
            for client_id in &clients {
                revoked += self
                    .authz
                    .end_user_client_grants(*user, client_id, now.timestamp())
                    .await
                    .map_err(AppError::from)?
                    .revoked;
            }
        }
        Ok(revoked)
    }

    /// Deletes an organisation with its memberships; refused (`HasClients`) while clients
    /// belong to it, since they would silently become global.
    pub async fn admin_delete_organization(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), OrgAdminError> {
        self.admit(actor, AdminOperation::DeleteOrganization, None, ctx, now)
            .await?;
        let organization = self.organization_named(id_or_slug).await?;
        let id = organization.id;
        if !self
            .with_db(move |db| orgs::delete(db, id).map_err(OrgAdminError::from))
            .await?
        {
            return Err(OrgAdminError::NotFound);
        }
        self.audit(
            AuditAction::AdminOrgDelete,
            id.to_string(),
            serde_json::json!({ "slug": organization.slug, "name": organization.name }),
            &in_org(actor, ctx, id),
            now,
        )
        .await;
        Ok(())
    }

    /// Makes `user_id` a member of the organisation with `role`, or changes a member's role.
    /// Audited as `admin.org_member_add` with the role before (`null` for a new member).
    pub async fn admin_set_organization_member(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        user_id: Uuid,
        role: OrgRole,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<SetMember, OrgAdminError> {
        self.admit(
            actor,
            AdminOperation::ChangeOrganizationMembers,
            None,
            ctx,
            now,
        )
        .await?;
        let organization = self.organization_named(id_or_slug).await?;
        let org_id = organization.id;
        let (before, member) = self
            .with_db(move |db| {
                let before = orgs::role_of(db, org_id, user_id)?;
                if !orgs::add_member(db, org_id, user_id, role, now)? {
                    return Ok::<_, IdentityError>(None);
                }
                let member = orgs::members(db, org_id)?
                    .into_iter()
                    .find(|m| m.user_id == user_id);
                Ok(member.map(|member| (before, member)))
            })
            .await?
            .ok_or(OrgAdminError::NoSuchMember("no user has this id"))?;
        self.audit(
            AuditAction::AdminOrgMemberAdd,
            user_id.to_string(),
            serde_json::json!({
                "organization": organization.slug,
                "username": member.username,
                "role": role.as_str(),
                "previous_role": before.map(OrgRole::as_str),
            }),
            &in_org(actor, ctx, org_id),
            now,
        )
        .await;
        Ok(SetMember {
            member,
            created: before.is_none(),
        })
    }

    /// [`Gatehouse::admin_set_organization_member`] for a user named by username or email, as
    /// the console's form takes it.
    pub async fn admin_add_organization_member_by_login(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        login: &str,
        role: OrgRole,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<SetMember, OrgAdminError> {
        self.admit(
            actor,
            AdminOperation::ChangeOrganizationMembers,
            None,
            ctx,
            now,
        )
        .await?;
        self.organization_named(id_or_slug).await?;
        let typed = login.to_owned();
        let user = self
            .with_db(move |db| db.find_user_by_typed_login(&typed))
            .await?
            .ok_or(OrgAdminError::NoSuchMember(
                "no user has this username or email",
            ))?;
        self.admin_set_organization_member(actor, id_or_slug, user.id, role, ctx, now)
            .await
    }

    /// Ends `user_id`'s membership, and with it the user's grants for the organisation's
    /// clients. `NoSuchMember` when the user is not a member.
    pub async fn admin_remove_organization_member(
        &self,
        actor: &Actor,
        id_or_slug: &str,
        user_id: Uuid,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), OrgAdminError> {
        self.admit(
            actor,
            AdminOperation::ChangeOrganizationMembers,
            None,
            ctx,
            now,
        )
        .await?;
        let organization = self.organization_named(id_or_slug).await?;
        let org_id = organization.id;
        let before = self
            .with_db(move |db| {
                let before = orgs::role_of(db, org_id, user_id)?;
                if before.is_some() && !orgs::remove_member(db, org_id, user_id)? {
                    return Ok::<_, IdentityError>(None);
                }
                Ok(before)
            })
            .await?
            .ok_or(OrgAdminError::NoSuchMember(
                "this user is not a member of the organisation",
            ))?;
        let ctx = in_org(actor, ctx, org_id);
        self.audit(
            AuditAction::AdminOrgMemberRemove,
            user_id.to_string(),
            serde_json::json!({ "organization": organization.slug, "role": before.as_str() }),
            &ctx,
            now,
        )
        .await;
        self.end_organization_grants(org_id, Some(user_id), now)
            .await?;
        Ok(())
    }
}
