//! The UserInfo endpoint (OIDC Core §5.3), a bearer-protected resource (RFC 6750).
//!
//! - The access token is authenticated as every bearer-protected resource's is (the `bearer`
//!   module), and its scope must contain `openid` (OIDC Core §5.3 → `insufficient_scope`, 403,
//!   RFC 6750 §3.1).
//! - No token at all is a 401 without an error code (RFC 6750 §3.1); every reason a token is
//!   refused is the same `invalid_token` (the tokens crate's policy), including a user who no
//!   longer exists or is no longer active.
//! - Claims (OIDC Core §5.3.2, §5.4): `sub` always; `profile` → `preferred_username`, `name`;
//!   `email` → `email`, `email_verified`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::bearer::BearerGrant;
use crate::error::BearerError;
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
        body.insert("sub".to_owned(), Value::String(claims.sub));
        Ok(Value::Object(body))
    }
}
