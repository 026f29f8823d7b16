//! Token revocation (RFC 7009).
//!
//! - §2.1: the client authenticates as at the token endpoint; public clients identify
//!   themselves by `client_id`. `token` is required (`invalid_request`); `token_type_hint` only
//!   orders the lookup, and an unknown hint is ignored ("MUST extend its search").
//! - A refresh token revokes its whole family, and with it the family's access tokens (§2.1:
//!   "SHOULD also invalidate all access tokens based on the same authorization grant").
//! - An access token (a self-contained JWT) is denylisted by `jti` until its `exp`.
//! - §2.2: "invalid tokens do not cause an error response": unknown, malformed, expired and
//!   already-revoked tokens answer 200. Tokens issued to a *different* client are left alone
//!   and also answer 200 (§2.1 would have the request refused; answering alike keeps the
//!   endpoint from confirming to one client that another client's token is live).
//! - §2.2.1: a store outage is `temporarily_unavailable` (503), so the client retries rather
//!   than believing the token is gone.

use chrono::{DateTime, Utc};
use gatehouse_tokens::AccessTokenClaims;

use crate::client_auth::{ClientCredentials, authenticated_form};
use crate::denylist;
use crate::error::OAuthError;
use crate::params::Params;
use crate::refresh_tokens;
use crate::service::Authz;

impl Authz {
    /// POST /revoke.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn revoke(
        &self,
        form: &Params,
        auth: ClientCredentials,
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let (form, client) = authenticated_form(self, form, &auth).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let now = now.timestamp();
        if form.get("token_type_hint") == Some("access_token") {
            if !self
                .revoke_access_token(token, &client.client_id, now)
                .await?
            {
                self.revoke_refresh_token(token, &client.client_id, now)
                    .await?;
            }
        } else if !self
            .revoke_refresh_token(token, &client.client_id, now)
            .await?
        {
            self.revoke_access_token(token, &client.client_id, now)
                .await?;
        }
        Ok(())
    }

    /// true if `token` is a refresh token (of any client).
    async fn revoke_refresh_token(
        &self,
        token: &str,
        client_id: &str,
        now: i64,
    ) -> Result<bool, OAuthError> {
        let store = self.store();
        // Only the family's live token counts: a rotated-away one is already invalid.
        let Some((grant, record)) = self.live_refresh_family(token).await? else {
            return Ok(false);
        };
        if record.client_id == client_id {
            refresh_tokens::revoke(store, grant, now, self.latest_access_token_exp(now)).await?;
        }
        Ok(true)
    }

    /// true if `token` is a currently valid access token (of any client).
    async fn revoke_access_token(
        &self,
        token: &str,
        client_id: &str,
        now: i64,
    ) -> Result<bool, OAuthError> {
        let Ok(claims) = self.verify_access_token(token, now) else {
            return Ok(false);
        };
        if claims.client_id == client_id {
            denylist::deny(self.store(), &claims.jti, claims.exp, now).await?;
        }
        Ok(true)
    }

    /// Whether a verified access token was revoked, by itself or with its grant, for resource
    /// endpoints that verify our access tokens themselves.
    pub async fn is_revoked(&self, claims: &AccessTokenClaims) -> Result<bool, OAuthError> {
        Ok(denylist::is_revoked(self.store(), self.epoch(), claims).await?)
    }
}
