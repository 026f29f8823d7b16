//! The UserInfo endpoint (OIDC Core §5.3), a bearer-protected resource (RFC 6750).
//!
//! - The access token is authenticated as every bearer-protected resource's is (the `bearer`
//!   module), and its scope must contain `openid` (OIDC Core §5.3 → `insufficient_scope`, 403,
//!   RFC 6750 §3.1).
//! - No token at all is a 401 without an error code (RFC 6750 §3.1); every reason a token is
//!   refused is the same `invalid_token` (the tokens crate's policy), including a user who no
//!   longer exists or is no longer active.
//! - Claims (OIDC Core §5.3.2, §5.4): `sub` always; `profile` → `preferred_username`, `name`;
//!   `email` → `email`, `email_verified`; `organization` → `org_id`, `org_slug`, `org_roles`.
//! - The organisation of the sign-in is the one the access token names in its `org_id` claim
//!   (present exactly when the scope has `organization` and the sign-in happened in an
//!   organisation's context). Userinfo does not trust the token's copy of the rest: it reads
//!   the organisation and the user's role again, so `org_slug` and `org_roles` are today's, and
//!   a user removed from the organisation, or an organisation disabled, makes the token
//!   `invalid_token` here, as the same change makes the grant's refresh `invalid_grant`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::bearer::BearerGrant;
use crate::error::{BearerError, ErrorCode};
use crate::organizations::ORGANIZATION_SCOPE;
use crate::params::has_scope;
use crate::service::Authz;
use crate::tokens::user_claims;

impl Authz {
    /// GET/POST /userinfo with the bearer token the server extracted (RFC 6750 §2).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn userinfo(
        &self,
        access_token: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, BearerError> {
        let BearerGrant { claims, user } = self
            .authenticate_bearer(access_token, "openid", now)
            .await?;
        let scopes: Vec<String> = claims.scope.split(' ').map(str::to_owned).collect();
        let mut body = user_claims(&user, &scopes);
        if has_scope(&scopes, ORGANIZATION_SCOPE)
            && let Some(org_id) = claims.org_id.as_deref()
        {
            let org_id = uuid::Uuid::parse_str(org_id).map_err(|_| BearerError::invalid_token())?;
            let org = self
                .organization_claims(Some(org_id), &user, &scopes)
                .await
                .map_err(|err| match err.code {
                    // Membership lost or organisation disabled: the token's organisation
                    // context is gone (RFC 6750 §3.1 `invalid_token`).
                    ErrorCode::InvalidGrant => BearerError::invalid_token(),
                    _ => BearerError::from(err),
                })?;
            if let Some(org) = org {
                org.insert_into(&mut body);
            }
        }
        body.insert("sub".to_owned(), Value::String(claims.sub));
        Ok(Value::Object(body))
    }
}
