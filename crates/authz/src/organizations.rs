//! Sign-in in an organisation's context: the claims of scope `organization` (`org_id`,
//! `org_slug`, `org_roles`), and the check that the user may still get tokens in it.

use gatehouse_identity::{User, organizations};

use crate::error::OAuthError;
use crate::params::has_scope;
use crate::service::Authz;
use crate::tokens::OrgClaims;

/// The scope whose claims name the organisation of the sign-in.
pub const ORGANIZATION_SCOPE: &str = "organization";

impl Authz {
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
