//! The UserInfo endpoint (OIDC Core §5.3), a bearer-protected resource (RFC 6750).
//!
//! - The access token must be one of ours and valid now (RFC 9068 §4: signature, `typ`
//!   `at+jwt`, `iss`, `exp`, `aud` containing the issuer), not revoked (RFC 7009), and its
//!   scope must contain `openid` (OIDC Core §5.3 → `insufficient_scope`, 403, RFC 6750 §3.1).
//! - No token at all is a 401 without an error code (RFC 6750 §3.1); every reason a token is
//!   refused is the same `invalid_token` (the tokens crate's policy), including a user who no
//!   longer exists or is no longer active.
//! - Claims (OIDC Core §5.3.2, §5.4): `sub` always; `profile` → `preferred_username`, `name`;
//!   `email` → `email`, `email_verified`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::denylist;
use crate::error::{BearerError, ErrorCode};
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
        if access_token.is_empty() {
            return Err(BearerError::missing());
        }
        let claims = self
            .verify_access_token(access_token, now.timestamp())
            .map_err(|err| {
                tracing::debug!(%err, "userinfo: access token refused");
                BearerError::invalid_token()
            })?;
        if denylist::is_revoked(self.store(), self.epoch(), &claims)
            .await
            .map_err(|err| BearerError::from(crate::error::OAuthError::from(err)))?
        {
            return Err(BearerError::invalid_token());
        }
        let scopes: Vec<String> = claims.scope.split(' ').map(str::to_owned).collect();
        if !has_scope(&scopes, "openid") {
            return Err(BearerError::new(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ));
        }
        let user_id =
            uuid::Uuid::parse_str(&claims.sub).map_err(|_| BearerError::invalid_token())?;
        let user = self
            .find_active_user(user_id, now.timestamp())
            .await
            .map_err(BearerError::from)?
            .ok_or_else(BearerError::invalid_token)?;
        let mut body = user_claims(&user, &scopes);
        body.insert("sub".to_owned(), Value::String(claims.sub));
        Ok(Value::Object(body))
    }
}
