//! Bearer-token authentication of a protected resource (RFC 6750) for a user's access token:
//! the one rule userinfo and the account REST API share.
//!
//! The token must be one of ours and valid now (RFC 9068 §4: signature by a published key,
//! `typ` `at+jwt`, `iss`, `exp`, `aud` containing the issuer), issued under the session store's
//! current epoch and revoked neither itself nor through its grant (RFC 7009), for a user who
//! exists and may use tokens now; every reason it fails is the same `invalid_token` (RFC 6750
//! §3.1). A valid token without the resource's scope is `insufficient_scope` (403, §3.1).
//!
//! The audience rule is the resource's own (RFC 9068 §4: the resource server "MUST validate
//! that the aud claim contains a resource indicator value corresponding to an identifier the
//! resource server expects for itself"), so it is checked here whatever the shared verifier
//! does: a token asked for another API with `resource` (RFC 8707) names only that API, and
//! Gatehouse's userinfo, account and admin APIs refuse it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatehouse_identity::User;
use gatehouse_tokens::AccessTokenClaims;

use crate::denylist;
use crate::error::{BearerError, ErrorCode, OAuthError};
use crate::service::Authz;

/// A user's access token that passed, and whose it is.
#[derive(Debug, Clone)]
pub struct BearerGrant {
    pub claims: AccessTokenClaims,
    pub user: Arc<User>,
}

/// Whose a token is: a user's (issued through a sign-in), or a client's own
/// (`client_credentials`, RFC 9068 §2.2: `sub` is the client id), its service account.
#[derive(Debug, Clone)]
pub enum BearerSubject {
    User(BearerGrant),
    ServiceAccount {
        claims: AccessTokenClaims,
        client_id: String,
    },
}

impl Authz {
    /// Authenticates `access_token` for a resource that needs `scope`.
    pub async fn authenticate_bearer(
        &self,
        access_token: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<BearerGrant, BearerError> {
        match self.authenticate_subject(access_token, scope, now).await? {
            BearerSubject::User(grant) => Ok(grant),
            // A client-credentials token names the client, not a user: no user resource for it.
            BearerSubject::ServiceAccount { .. } => Err(BearerError::invalid_token()),
        }
    }

    /// Authenticates `access_token` for a resource that both users and service accounts may
    /// use (the admin API). A service account's client must still exist.
    pub async fn authenticate_subject(
        &self,
        access_token: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<BearerSubject, BearerError> {
        if access_token.is_empty() {
            return Err(BearerError::missing());
        }
        let claims = self
            .verify_access_token(access_token, now.timestamp())
            .map_err(|err| {
                tracing::debug!(%err, "bearer: access token refused");
                BearerError::invalid_token()
            })?;
        let issuer = self.settings().issuer.as_str();
        if !claims.aud.iter().any(|aud| aud == issuer) {
            tracing::debug!(aud = ?claims.aud, "bearer: access token for another resource");
            return Err(BearerError::invalid_token());
        }
        if denylist::is_revoked(self.store(), self.epoch(), &claims)
            .await
            .map_err(|err| BearerError::from(OAuthError::from(err)))?
        {
            return Err(BearerError::invalid_token());
        }
        // The client the token was issued to must still exist and be enabled: deleting or
        // disabling a client ends its tokens here as at introspection.
        self.find_client(&claims.client_id)
            .await
            .map_err(BearerError::from)?
            .ok_or_else(BearerError::invalid_token)?;
        let subject = if claims.sub == claims.client_id && claims.grant_id.is_none() {
            None
        } else {
            let user_id =
                uuid::Uuid::parse_str(&claims.sub).map_err(|_| BearerError::invalid_token())?;
            let user = self
                .find_active_user(user_id, now.timestamp())
                .await
                .map_err(BearerError::from)?
                .ok_or_else(BearerError::invalid_token)?;
            Some(user)
        };
        if !claims.scope.split(' ').any(|granted| granted == scope) {
            return Err(BearerError::new(
                ErrorCode::InsufficientScope,
                format!("the access token lacks the {scope} scope"),
            ));
        }
        Ok(match subject {
            Some(user) => BearerSubject::User(BearerGrant { claims, user }),
            None => BearerSubject::ServiceAccount {
                client_id: claims.client_id.clone(),
                claims,
            },
        })
    }
}
