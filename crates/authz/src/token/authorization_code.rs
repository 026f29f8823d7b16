//! The authorization code exchange (RFC 6749 §4.1.3–4.1.4).
//!
//! - The code is single-use: the store's atomic `take` hands it to exactly one request.
//! - RFC 6749 §4.1.2: a second use "MUST deny the request and SHOULD revoke (when possible)
//!   all tokens previously issued based on that authorization code". The code is its grant id
//!   under a MAC, and everything the exchange issues names that grant (the refresh-token
//!   family's key, the access token's `grant_id` claim), so an authentic code that is no longer
//!   in the store revokes its grant ([`refresh_tokens::revoke`]); a revocation that overtakes
//!   the first exchange still wins ([`refresh_tokens::start`]). A code that is not ours is just
//!   refused: only codes we issued can cause a write. (A code that merely expired unused
//!   revokes a grant that issued nothing, which costs one short-lived marker.)
//! - §4.1.3: the code must have been issued to the authenticated client, and `redirect_uri`
//!   must be *identical* to the authorization request's (string comparison).
//! - The code's expiry is compared with the caller's clock as well as enforced by the TTL.
//! - RFC 7636 §4.5–4.6 via [`crate::pkce::verify`]: a wrong or missing verifier, or one sent
//!   for a code without a challenge (RFC 9700 §4.8.2), is `invalid_grant`.
//! - Tokens are issued only to a user who is still active.
//! - RFC 8707 §2.2: `resource` may only name resources of the authorization request (the
//!   code's), else `invalid_target`; the access token is for those, or for every granted one
//!   without `resource`, and the refresh-token family keeps them all ([`crate::resources`]).
//!   A code without resources gives tokens for the issuer, as before resource indicators.

use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType};

use super::TokenResponse;
use super::issue::{RefreshStep, UserGrant};
use crate::codes::{self, nonce_of};
use crate::error::OAuthError;
use crate::params::{ParamMap, has_scope};
use crate::pkce;
use crate::refresh_tokens;
use crate::resources;
use crate::service::Authz;
use crate::session_grants::SessionGrant;

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
        let named_resources = resources::named(form)?;

        let store = self.store();
        let now_secs = now.timestamp();
        const INVALID: &str = "the authorization code is invalid, expired or already used";
        let Some(grant_id) = self.token_codec().parse_code(code) else {
            return Err(OAuthError::invalid_grant(INVALID));
        };
        let Some(stored) = codes::redeem(store, grant_id).await? else {
            tracing::warn!(
                grant = %grant_id,
                "authorization code reused or expired: revoking what it issued"
            );
            refresh_tokens::revoke(
                store,
                grant_id,
                now_secs,
                self.latest_access_token_exp(now_secs),
            )
            .await?;
            return Err(OAuthError::invalid_grant(INVALID));
        };

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
            return Err(OAuthError::invalid_grant(INVALID));
        }
        pkce::verify(&mut grant.extensions, verifier).map_err(OAuthError::invalid_grant)?;
        let audience = resources::narrowed(&named_resources, &stored.resources)?;

        resources::still_registered(&audience, client)?;

        let user_id = uuid::Uuid::parse_str(&grant.owner_id).map_err(|err| {
            OAuthError::server_error("authorization code", &format!("owner id: {err}"))
        })?;
        let Some(user) = self.find_active_user(user_id, now_secs).await? else {
            return Err(OAuthError::invalid_grant("the user is not active"));
        };
        let org = self
            .organization_claims(stored.org_id, &user, &stored.grant.scope)
            .await?;

        // Indexed before any token exists, so that ending the session always finds it.
        self.record_session_grant(
            &stored.sid,
            user.id,
            &SessionGrant {
                grant: grant_id,
                client_id: client.client_id.clone(),
                offline: has_scope(&stored.grant.scope, "offline_access"),
                issued_at: now_secs,
            },
            now_secs,
        )
        .await?;
        let issued = self
            .issue_user_tokens(
                UserGrant {
                    client,
                    user: &user,
                    scopes: &stored.grant.scope,
                    refresh_scopes: &stored.grant.scope,
                    auth_time: stored.auth_time,
                    sid: &stored.sid,
                    amr: &stored.amr,
                    nonce: nonce_of(&grant),
                    grant: grant_id,
                    refresh: client
                        .allows_grant(GrantType::RefreshToken)
                        .then_some(RefreshStep::Start),
                    audience: &audience,
                    refresh_resources: &stored.resources,
                    org_id: stored.org_id,
                    org: org.as_ref(),
                },
                now_secs,
            )
            .await?;
        Ok(issued)
    }
}
