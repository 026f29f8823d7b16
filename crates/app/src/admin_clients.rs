//! Administration of clients, behind the permission gate (`crate::admin`): listing, reading,
//! registering (with the rules of `gatehouse client create`), editing, enabling and disabling,
//! deleting, rotating a confidential client's secret, and the roles of a service account.
//!
//! Each operation asks [`Gatehouse::admit`] first, then acts, then writes one audit event as
//! the actor (reads are not audited; a refused read is, by the gate). A change that affects the
//! protocol (an edit, a disabled client, a new secret, a deletion) also drops this instance's
//! cached copy of the client ([`gatehouse_authz::Authz::forget_client`]), so it holds here at
//! once; other instances follow within their client cache's TTL
//! (5 s, `CLIENT_CACHE_TTL` in `gatehouse_authz`).
//!
//! Deleting a client deletes its consents and roles with it. Its grants are not revoked one by
//! one (no index of grants by client exists): its refresh tokens die with it because the client
//! can no longer authenticate at `/token`, its tokens stop passing introspection and bearer
//! authentication of service accounts, and user access tokens it received expire on their own.
//!
//! An organisation admin ([`Actor::OrgAdmin`], see `crate::admin`) reaches its organisation's
//! clients only: each one is looked up first and judged with its organisation (another's is "no
//! client has this id"), the list is narrowed in SQL, a client it registers belongs to its
//! organisation whatever the request says (and no edit moves a client between organisations).
//! It cannot mark a client first-party (consent is the platform's call) nor give a client the
//! token-exchange policy fields, whose audiences could name another organisation's APIs.

use chrono::{DateTime, Utc};
use gatehouse_identity::admin::clients::{self as queries, SecretRotation};
use gatehouse_identity::{
    AuditAction, ClientError, ClientSecretHasher, IdentityError, NewClient, RequestContext, Role,
};

use uuid::Uuid;

use crate::{Actor, AdminDenied, AdminOperation, AppError, Gatehouse, TargetClient};

pub use gatehouse_identity::admin::clients::{
    AdminClient, ClientCursor, ClientListQuery, ClientPage, ClientPatch,
};

/// Why a client operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ClientAdminError {
    /// The gate refused (never [`AdminDenied::OutOfScope`]: that is [`ClientAdminError::NotFound`]).
    #[error(transparent)]
    Denied(AdminDenied),
    #[error("no client has this id")]
    NotFound,
    /// The registration breaks a rule; `field` names the field at fault.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A public client has no secret to rotate.
    #[error("a public client has no secret")]
    PublicClient,
    #[error(transparent)]
    Backend(#[from] AppError),
}

/// A client outside an organisation admin's organisation does not exist for it.
impl From<AdminDenied> for ClientAdminError {
    fn from(denied: AdminDenied) -> Self {
        match denied {
            AdminDenied::OutOfScope => ClientAdminError::NotFound,
            denied => ClientAdminError::Denied(denied),
        }
    }
}

impl From<IdentityError> for ClientAdminError {
    fn from(err: IdentityError) -> Self {
        ClientAdminError::Backend(err.into())
    }
}

impl From<ClientError> for ClientAdminError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Invalid { field, message } => ClientAdminError::Invalid { field, message },
            ClientError::Internal(err) => err.into(),
        }
    }
}

/// A client just registered, with its secret in plaintext (confidential clients only): shown
/// once, never stored.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: AdminClient,
    pub secret: Option<String>,
}

/// The fields an edit touched, for the audit trail (never a secret).
fn changed_fields(patch: &ClientPatch) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut note = |touched: bool, name| {
        if touched {
            fields.push(name);
        }
    };
    note(patch.name.is_some(), "name");
    note(patch.redirect_uris.is_some(), "redirect_uris");
    note(
        patch.post_logout_redirect_uris.is_some(),
        "post_logout_redirect_uris",
    );
    note(patch.grant_types.is_some(), "grant_types");
    note(patch.scopes.is_some(), "scopes");
    note(
        patch.backchannel_logout_uri.is_some(),
        "backchannel_logout_uri",
    );
    note(patch.require_2fa.is_some(), "require_2fa");
    note(patch.first_party.is_some(), "first_party");
    note(patch.enabled.is_some(), "enabled");
    note(patch.resources.is_some(), "resources");
    note(patch.exchange_audiences.is_some(), "exchange_audiences");
    note(patch.allow_impersonation.is_some(), "allow_impersonation");
    fields
}

/// The organisation a stored client belongs to.
fn org_of(client: &AdminClient) -> Option<Uuid> {
    client
        .client
        .org_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
}

/// What an organisation admin may not set on a client of its organisation.
fn refuse_platform_fields(
    actor: &Actor,
    first_party: bool,
    exchange_policy: bool,
) -> Result<(), ClientAdminError> {
    if actor.organization().is_none() {
        return Ok(());
    }
    if first_party {
        return Err(ClientAdminError::Denied(AdminDenied::GuardRail(
            "only a platform admin marks a client first-party",
        )));
    }
    if exchange_policy {
        return Err(ClientAdminError::Denied(AdminDenied::GuardRail(
            "only a platform admin sets a client's token-exchange audiences or impersonation",
        )));
    }
    Ok(())
}

impl Gatehouse {
    fn acting(actor: &Actor, ctx: &RequestContext) -> RequestContext {
        actor.context(ctx)
    }

    /// Admits `actor` to `operation` on client `client_id`: on the roles first (so an actor
    /// without them learns nothing, not even whether the id exists), then, the client found, on
    /// its organisation and the guard rails. The client as it is now.
    async fn admit_on_found_client(
        &self,
        actor: &Actor,
        operation: AdminOperation,
        client_id: &str,
        disables: bool,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<AdminClient, ClientAdminError> {
        self.admit_naming(actor, operation, client_id, ctx, now)
            .await?;
        let id = client_id.to_owned();
        let client = self
            .with_db(move |db| queries::find(db, &id))
            .await?
            .ok_or(ClientAdminError::NotFound)?;
        let target = TargetClient {
            client_id,
            disables,
            org_id: org_of(&client),
        };
        self.admit_on_client(actor, operation, &target, ctx, now)
            .await?;
        Ok(client)
    }

    /// A page of clients (by name, case-insensitively, then id) with the exact total.
    pub async fn admin_list_clients(
        &self,
        actor: &Actor,
        query: ClientListQuery,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<ClientPage, ClientAdminError> {
        self.admit(actor, AdminOperation::ListClients, None, ctx, now)
            .await?;
        let mut query = query;
        if let Some(org) = actor.organization() {
            query.organization = Some(org.id);
        }
        Ok(self.with_db(move |db| queries::list(db, &query)).await?)
    }

    /// One client with its service account's roles.
    pub async fn admin_read_client(
        &self,
        actor: &Actor,
        client_id: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<AdminClient, ClientAdminError> {
        self.admit_on_found_client(
            actor,
            AdminOperation::ReadClient,
            client_id,
            false,
            ctx,
            now,
        )
        .await
    }

    /// Registers a client as `gatehouse client create` does. Giving its service account roles
    /// is a role change too: that needs `ChangeClientRoles` (admins only) as well.
    pub async fn admin_create_client(
        &self,
        actor: &Actor,
        mut new: NewClient,
        roles: Vec<Role>,
        hasher: &ClientSecretHasher,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<CreatedClient, ClientAdminError> {
        self.admit(actor, AdminOperation::CreateClient, None, ctx, now)
            .await?;
        if !roles.is_empty() {
            self.admit(actor, AdminOperation::ChangeClientRoles, None, ctx, now)
                .await?;
        }
        refuse_platform_fields(
            actor,
            new.first_party,
            !new.exchange_audiences.is_empty() || new.allow_impersonation,
        )?;
        if let Some(org) = actor.organization() {
            let own = org.id.to_string();
            if new.org_id.as_ref().is_some_and(|asked| *asked != own) {
                return Err(ClientAdminError::Invalid {
                    field: "organization",
                    message: "a client you register belongs to your organisation".to_owned(),
                });
            }
            new.org_id = Some(own);
        }
        let hasher = hasher.clone();
        let (client, secret, roles) = self
            .with_db(move |db| {
                let (client, secret) = db.create_client_with_roles(&new, &roles, &hasher, now)?;
                let roles = db.client_roles(&client.client_id)?;
                Ok::<_, ClientAdminError>((client, secret, roles))
            })
            .await?;
        let details = serde_json::json!({
            "name": client.name,
            "client_type": client.client_type.as_str(),
            "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "scopes": client.scopes,
            "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "org_id": client.org_id,
        });
        self.audit(
            AuditAction::AdminClientCreate,
            client.client_id.clone(),
            details,
            &Self::acting(actor, ctx),
            now,
        )
        .await;
        Ok(CreatedClient {
            client: AdminClient { client, roles },
            secret,
        })
    }

    /// Edits a registration under the rules of a new one. A patch that only sets `enabled`
    /// is audited as `admin.client_enable` / `admin.client_disable`, anything else as
    /// `admin.client_update` (naming the fields).
    pub async fn admin_update_client(
        &self,
        actor: &Actor,
        client_id: &str,
        patch: ClientPatch,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<AdminClient, ClientAdminError> {
        self.admit_on_found_client(
            actor,
            AdminOperation::UpdateClient,
            client_id,
            patch.enabled == Some(false),
            ctx,
            now,
        )
        .await?;
        refuse_platform_fields(
            actor,
            patch.first_party == Some(true),
            patch.exchange_audiences.is_some() || patch.allow_impersonation.is_some(),
        )?;
        let fields = changed_fields(&patch);
        let enabled = patch.enabled;
        let id = client_id.to_owned();
        let updated = self
            .with_db(move |db| {
                queries::update(db, &id, &patch, now).map_err(ClientAdminError::from)
            })
            .await?
            .ok_or(ClientAdminError::NotFound)?;
        self.authz.forget_client(client_id);
        let action = match (fields.as_slice(), enabled) {
            (["enabled"], Some(true)) => AuditAction::AdminClientEnable,
            (["enabled"], Some(false)) => AuditAction::AdminClientDisable,
            _ => AuditAction::AdminClientUpdate,
        };
        self.audit(
            action,
            client_id.to_owned(),
            serde_json::json!({ "fields": fields, "enabled": updated.client.enabled }),
            &Self::acting(actor, ctx),
            now,
        )
        .await;
        Ok(updated)
    }

    /// Deletes a client; its consents and roles go with it (see the module docs for its
    /// grants).
    pub async fn admin_delete_client(
        &self,
        actor: &Actor,
        client_id: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), ClientAdminError> {
        self.admit_on_found_client(
            actor,
            AdminOperation::DeleteClient,
            client_id,
            true,
            ctx,
            now,
        )
        .await?;
        let id = client_id.to_owned();
        let name = self
            .with_db(move |db| {
                let Some(client) = db.find_client(&id)? else {
                    return Ok::<_, IdentityError>(None);
                };
                Ok(db.delete_client(&id)?.then_some(client.name))
            })
            .await?
            .ok_or(ClientAdminError::NotFound)?;
        self.authz.forget_client(client_id);
        self.audit(
            AuditAction::AdminClientDelete,
            client_id.to_owned(),
            serde_json::json!({ "name": name }),
            &Self::acting(actor, ctx),
            now,
        )
        .await;
        Ok(())
    }

    /// Replaces a confidential client's secret and returns the new one (shown once). The old
    /// one fails at `/token` with `invalid_client` from now on at this instance, and at the
    /// others within their client cache's TTL.
    pub async fn admin_rotate_client_secret(
        &self,
        actor: &Actor,
        client_id: &str,
        hasher: &ClientSecretHasher,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<String, ClientAdminError> {
        self.admit_on_found_client(
            actor,
            AdminOperation::RotateClientSecret,
            client_id,
            false,
            ctx,
            now,
        )
        .await?;
        let id = client_id.to_owned();
        let hasher = hasher.clone();
        let secret = match self
            .with_db(move |db| queries::rotate_secret(db, &id, &hasher, now))
            .await?
        {
            SecretRotation::Rotated(secret) => secret,
            SecretRotation::NotFound => return Err(ClientAdminError::NotFound),
            SecretRotation::PublicClient => return Err(ClientAdminError::PublicClient),
        };
        self.authz.forget_client(client_id);
        self.audit_success(
            AuditAction::AdminClientSecretRotate,
            client_id.to_owned(),
            &Self::acting(actor, ctx),
            now,
        )
        .await;
        Ok(secret)
    }

    /// Replaces the roles of a client's service account (admins only).
    pub async fn admin_set_client_roles(
        &self,
        actor: &Actor,
        client_id: &str,
        roles: Vec<Role>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<AdminClient, ClientAdminError> {
        self.admit_on_found_client(
            actor,
            AdminOperation::ChangeClientRoles,
            client_id,
            false,
            ctx,
            now,
        )
        .await?;
        let id = client_id.to_owned();
        let (before, after) = self
            .with_db(move |db| {
                let Some(before) = queries::find(db, &id)? else {
                    return Ok::<_, IdentityError>(None);
                };
                if !db.set_client_roles(&id, &roles)? {
                    return Ok(None);
                }
                Ok(queries::find(db, &id)?.map(|after| (before.roles, after)))
            })
            .await?
            .ok_or(ClientAdminError::NotFound)?;
        let names = |roles: &[Role]| roles.iter().map(|r| r.as_str()).collect::<Vec<_>>();
        self.audit(
            AuditAction::AdminClientRoles,
            client_id.to_owned(),
            serde_json::json!({ "before": names(&before), "after": names(&after.roles) }),
            &Self::acting(actor, ctx),
            now,
        )
        .await;
        Ok(after)
    }
}
