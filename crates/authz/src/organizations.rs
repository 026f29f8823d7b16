//! Sign-in in an organisation's context (issue 12, "Organisations"): which organisation a
//! sign-in happens in, who may sign in there, the claims of scope `organization` (`org_id`,
//! `org_slug`, `org_roles`), and the check that the user may still get tokens in it.
//!
//! - The organisation of a sign-in is the authorization (or device authorization) request's
//!   `organization` parameter, by slug or id, or else the client's own (`Client::org_id`). An
//!   unknown organisation is `invalid_request`; so is naming another organisation than the
//!   client's: a client of A is for A's members only, and letting it sign users in "as B"
//!   would put B's claims into tokens of a client B does not manage. Naming the client's own
//!   organisation is allowed (a relying party may always send it).
//! - Once the user is known, only members of an enabled organisation go on; anyone else is
//!   refused with `access_denied` (RFC 6749 §4.1.2.1: "the resource owner or authorization
//!   server denied the request") and the refusal is audited as `org.sign_in_refused` in the
//!   organisation's trail. A request without an organisation is not restricted.
//! - The code, device record and refresh family keep the organisation's id; every later token
//!   from the grant re-checks membership and the enabled flag ([`Authz::organization_claims`]),
//!   so removing a member or disabling the organisation stops refreshes (`invalid_grant`).
//! - Claims only with scope `organization`, which a client must be registered for like any
//!   other scope; without it tokens and userinfo carry no organisation claims at all.

use chrono::{DateTime, Utc};
use gatehouse_identity::{
    AuditAction, AuditOutcome, Client, NewAuditEvent, Organization, RequestContext, User,
    organizations,
};

use crate::error::{ErrorCode, OAuthError};
use crate::params::has_scope;
use crate::service::Authz;
use crate::tokens::OrgClaims;

/// The scope whose claims name the organisation of the sign-in.
pub const ORGANIZATION_SCOPE: &str = "organization";
/// The authorization request parameter naming the organisation to sign in to (slug or id).
pub const ORGANIZATION_PARAM: &str = "organization";

/// Why a user may not sign in in an organisation (the audit event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrgRefusal {
    NotAMember,
    Disabled,
}

impl OrgRefusal {
    fn as_str(self) -> &'static str {
        match self {
            OrgRefusal::NotAMember => "not_a_member",
            OrgRefusal::Disabled => "organization_disabled",
        }
    }
}

impl Authz {
    /// The organisation a sign-in for `client` happens in: `requested` (the `organization`
    /// parameter, slug or id) or the client's own. See the module docs for the errors.
    pub(crate) async fn sign_in_organization(
        &self,
        requested: Option<&str>,
        client: &Client,
    ) -> Result<Option<Organization>, OAuthError> {
        let own = client
            .org_id
            .as_deref()
            .map(|id| {
                uuid::Uuid::parse_str(id).map_err(|err| {
                    OAuthError::server_error("client organisation", &format!("{id:?}: {err}"))
                })
            })
            .transpose()?;
        let lookup = match (requested, own) {
            (Some(requested), _) => requested.to_owned(),
            (None, Some(own)) => own.to_string(),
            (None, None) => return Ok(None),
        };
        let found = self.db(move |db| organizations::find(db, &lookup)).await?;
        let Some(organization) = found else {
            if requested.is_some() {
                return Err(OAuthError::invalid_request("unknown organization"));
            }
            // clients.org_id is a foreign key that refuses deleting a used organisation.
            return Err(OAuthError::server_error(
                "client organisation",
                &"the client's organisation does not exist",
            ));
        };
        if own.is_some_and(|own| own != organization.id) {
            return Err(OAuthError::invalid_request(
                "the client belongs to another organization",
            ));
        }
        Ok(Some(organization))
    }

    /// Lets `user_id` sign in to `client_id` in `organization` only as a member of an enabled
    /// organisation; otherwise audits `org.sign_in_refused` (in the organisation's trail, with
    /// `ctx`'s address and request id) and answers `access_denied`.
    pub(crate) async fn admit_to_organization(
        &self,
        organization: &Organization,
        user_id: uuid::Uuid,
        client_id: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let org_id = organization.id;
        let role = self
            .db(move |db| organizations::role_of(db, org_id, user_id))
            .await?;
        // Membership first: only a member learns that the organisation is disabled.
        let refusal = if role.is_none() {
            Some(OrgRefusal::NotAMember)
        } else if !organization.enabled {
            Some(OrgRefusal::Disabled)
        } else {
            None
        };
        let Some(refusal) = refusal else {
            return Ok(());
        };
        let mut ctx = ctx.clone();
        ctx.actor = Some(user_id.to_string());
        ctx.org_id = Some(organization.id);
        let event = NewAuditEvent::in_context(
            &ctx,
            now,
            AuditAction::OrgSignInRefused,
            AuditOutcome::Failure,
            Some(client_id.to_owned()),
            serde_json::json!({
                "client_id": client_id,
                "organization": organization.slug,
                "reason": refusal.as_str(),
            }),
        );
        if let Err(err) = self.db(move |db| db.append_audit(&event)).await {
            // The refusal stands either way; a lost audit line is logged, not returned.
            tracing::error!(error = %err, "could not write the org.sign_in_refused audit event");
        }
        Err(OAuthError::new(
            ErrorCode::AccessDenied,
            match refusal {
                OrgRefusal::NotAMember => format!(
                    "only members of the organization {} may sign in here",
                    organization.name
                ),
                OrgRefusal::Disabled => {
                    format!("the organization {} is disabled", organization.name)
                }
            },
        ))
    }

    /// For a grant made in organisation `org_id`: refuses (`invalid_grant`) when the
    /// organisation is gone or disabled or the user is no longer a member, and returns the
    /// organisation claims when `scopes` has `organization`. `None` without an organisation.
    pub(crate) async fn organization_claims(
        &self,
        org_id: Option<uuid::Uuid>,
        user: &User,
        scopes: &[String],
    ) -> Result<Option<OrgClaims>, OAuthError> {
        let Some(org_id) = org_id else {
            return Ok(None);
        };
        let user_id = user.id;
        let (organization, role) = self
            .db(move |db| {
                let organization = organizations::find(db, &org_id.to_string())?;
                let role = organizations::role_of(db, org_id, user_id)?;
                Ok((organization, role))
            })
            .await?;
        let (Some(organization), Some(role)) = (organization, role) else {
            return Err(OAuthError::invalid_grant(
                "the user is no longer a member of the organisation of this grant",
            ));
        };
        if !organization.enabled {
            return Err(OAuthError::invalid_grant(
                "the organisation of this grant is disabled",
            ));
        }
        if !has_scope(scopes, ORGANIZATION_SCOPE) {
            return Ok(None);
        }
        Ok(Some(OrgClaims {
            org_id: organization.id.to_string(),
            org_slug: organization.slug,
            org_roles: vec![role.as_str().to_owned()],
        }))
    }
}
