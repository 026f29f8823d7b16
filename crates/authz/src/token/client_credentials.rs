//! The client credentials grant (RFC 6749 §4.4): a confidential client acting for itself.
//!
//! - §4.4: "MUST only be used by confidential clients" → public clients get
//!   `unauthorized_client`, as do clients not registered for the grant.
//! - The token's `sub` is the client id (RFC 9068 §2.2: "In cases of access tokens obtained
//!   through grants where no resource owner is involved, such as the client credentials grant,
//!   the value of sub SHOULD correspond to an identifier the authorization server uses to
//!   indicate the client application").
//! - Scope: a subset of the client's scopes without the user-centred `openid` and
//!   `offline_access`; absent means all of those (RFC 6749 §3.3 default).
//! - §4.4.3: no refresh token; no ID token, as there is no user.
//! - RFC 8707 §2: `resource` names resources the client is registered for (else
//!   `invalid_target`), which become the token's `aud`; without it the token is for the issuer
//!   (Gatehouse's own APIs), whatever the client is registered for.

use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType};
use gatehouse_tokens::new_jti;

use super::TokenResponse;
use crate::error::OAuthError;
use crate::params::{ParamMap, is_subset, parse_scope};
use crate::resources;
use crate::service::Authz;
use crate::tokens::AccessTokenRequest;

/// Scopes that only make sense with a user behind the token.
const USER_SCOPES: [&str; 2] = ["openid", "offline_access"];

impl Authz {
    pub(super) async fn client_credentials(
        &self,
        form: &ParamMap<'_>,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.is_public() || !client.allows_grant(GrantType::ClientCredentials) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the client_credentials grant",
            ));
        }
        let allowed: Vec<String> = client
            .scopes
            .iter()
            .filter(|s| !USER_SCOPES.contains(&s.as_str()))
            .cloned()
            .collect();
        let scopes = match form.get("scope") {
            None => allowed,
            Some(value) => {
                let requested = parse_scope(value)
                    .ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))?;
                if !is_subset(&requested, &allowed) {
                    return Err(OAuthError::invalid_scope(
                        "scope is not allowed for this client with client_credentials",
                    ));
                }
                requested
            }
        };
        let audience = resources::requested(form, client)?;
        let store_epoch = self.current_epoch().await?;
        let access = self.mint_access_token(
            AccessTokenRequest {
                sub: &client.client_id,
                client_id: &client.client_id,
                scopes: &scopes,
                jti: new_jti(),
                auth_time: None,
                sid: None,
                grant_id: None,
                store_epoch: &store_epoch,
                audience: &audience,
                act: None,
                not_after: None,
                org: None,
            },
            now.timestamp(),
        )?;
        Ok(TokenResponse {
            access_token: access,
            expires_in: self.settings().access_token_ttl.num_seconds(),
            scopes,
            refresh_token: None,
            id_token: None,
        })
    }
}
