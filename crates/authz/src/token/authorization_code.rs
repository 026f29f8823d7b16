//! The authorization code exchange (RFC 6749 §4.1.3–4.1.4).
//!
//! - The code is single-use: the store's atomic `take` hands it to exactly one request.
//! - RFC 6749 §4.1.2: a second use "MUST deny the request and SHOULD revoke (when possible)
//!   all tokens previously issued based on that authorization code". The first exchange
//!   writes a `code_used:` tombstone naming the refresh family and access-token `jti` it is
//!   about to issue *before* minting, so a replay racing the first exchange still finds it and
//!   revokes both (the family marker and the denylist entry may precede the tokens they kill).
//!   The tombstone lives for the access-token lifetime (or the code's, if longer).
//! - §4.1.3: the code must have been issued to the authenticated client, and `redirect_uri`
//!   must be *identical* to the authorization request's (string comparison).
//! - The code's expiry is compared with the caller's clock as well as enforced by the TTL.
//! - RFC 7636 §4.5–4.6 via [`crate::pkce::verify`]: a wrong or missing verifier, or one sent
//!   for a code without a challenge (RFC 9700 §4.8.2), is `invalid_grant`.
//! - Tokens are issued only to a user who is still active.

use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType};
use gatehouse_tokens::new_jti;

use super::TokenResponse;
use super::issue::{FamilyStep, UserGrant};
use crate::codes::{self, CodeExchange, nonce_of};
use crate::denylist;
use crate::error::OAuthError;
use crate::params::ParamMap;
use crate::pkce;
use crate::refresh_tokens::{self, FamilyId};
use crate::service::Authz;
use crate::store::{sha256_hex, ttl};

impl Authz {
    pub(super) async fn exchange_code(
        &self,
        form: &ParamMap<'_>,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the authorization code grant",
            ));
        }
        // Parameter checks come before the code is consumed, so a malformed request does not
        // burn a good code.
        let code = form
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let redirect_uri = form
            .get("redirect_uri")
            .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
        let verifier = form.get("code_verifier");

        let settings = self.settings();
        let store = self.store();
        let now_secs = now.timestamp();
        let code_hash = sha256_hex(code);

        let Some(stored) = codes::redeem(store, &code_hash).await? else {
            self.revoke_code_exchange(&code_hash, now_secs).await?;
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid, expired or already used",
            ));
        };

        let exchange = CodeExchange {
            family: client
                .allows_grant(GrantType::RefreshToken)
                .then(FamilyId::random),
            access_jti: new_jti(),
            access_exp: now_secs.saturating_add(settings.access_token_ttl.num_seconds()),
        };
        let tombstone_ttl = ttl(settings.access_token_ttl.max(settings.code_ttl));
        codes::record_exchange(store, &code_hash, &exchange, tombstone_ttl).await?;

        let mut grant = stored.grant.to_grant().ok_or_else(|| {
            OAuthError::server_error("authorization code", &"stored grant cannot be read back")
        })?;
        if grant.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if stored.grant.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if now_secs >= stored.grant.until {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid, expired or already used",
            ));
        }
        pkce::verify(&mut grant.extensions, verifier).map_err(OAuthError::invalid_grant)?;

        let user_id = uuid::Uuid::parse_str(&grant.owner_id).map_err(|err| {
            OAuthError::server_error("authorization code", &format!("owner id: {err}"))
        })?;
        let Some(user) = self.find_active_user(user_id, now_secs).await? else {
            return Err(OAuthError::invalid_grant("the user is not active"));
        };

        self.issue_user_tokens(
            UserGrant {
                client,
                user: &user,
                scopes: &stored.grant.scope,
                refresh_scopes: &stored.grant.scope,
                auth_time: stored.auth_time,
                sid: &stored.sid,
                amr: &stored.amr,
                nonce: nonce_of(&grant),
                family: exchange.family.map(FamilyStep::Start),
                jti: exchange.access_jti,
            },
            now_secs,
        )
        .await
    }

    /// A code that is gone: if it was exchanged before, revoke what that exchange issued.
    async fn revoke_code_exchange(&self, code_hash: &str, now: i64) -> Result<(), OAuthError> {
        let store = self.store();
        let Some(exchange) = codes::find_exchange(store, code_hash).await? else {
            return Ok(());
        };
        tracing::warn!(
            family = exchange.family.map(|family| family.to_string()),
            jti = %exchange.access_jti,
            "authorization code reused: revoking the tokens of its first exchange"
        );
        if let Some(family) = exchange.family {
            refresh_tokens::revoke(store, family, now, self.latest_access_token_exp(now)).await?;
        }
        denylist::deny(store, &exchange.access_jti, exchange.access_exp, now).await?;
        Ok(())
    }
}
