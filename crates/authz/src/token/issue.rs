//! Issuing a user's tokens, shared by the code exchange and the refresh grant.
//!
//! The access token always; a refresh token when the grant belongs to a family (the client is
//! registered for `refresh_token`, RFC 6749 §1.5 — issued whether or not `offline_access` was
//! asked for, since OIDC Core §11's consent rule for offline access is covered by our consent
//! page listing every scope); an ID token when the scope has `openid` (OIDC Core §3.1.3.3).

use gatehouse_identity::{Client, User};
use gatehouse_tokens::new_jti;

use super::TokenResponse;
use crate::error::OAuthError;
use crate::grant_ids::GrantId;
use crate::params::has_scope;
use crate::refresh_tokens::{self, FamilyRecord, StartOutcome};
use crate::service::Authz;
use crate::store::ttl;
use crate::tokens::{AccessTokenRequest, IdTokenRequest};

pub(super) struct UserGrant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    /// The access token's scope (the refresh grant may narrow it).
    pub scopes: &'a [String],
    /// The scope a new family keeps: the original grant's (RFC 6749 §6).
    pub refresh_scopes: &'a [String],
    pub auth_time: i64,
    pub sid: &'a str,
    pub amr: &'a [String],
    /// Only from an authorization request; never on refresh (OIDC Core §12.2).
    pub nonce: Option<String>,
    /// The grant the tokens belong to (named in the access token, keying the refresh family).
    pub grant: GrantId,
    /// What happens to the grant's refresh-token family; `None` when the client gets no
    /// refresh tokens.
    pub refresh: Option<RefreshStep>,
    /// RFC 8707 §2.2: the access token's `aud`, the resources this token request named or
    /// else all the grant's (empty: the issuer).
    pub audience: &'a [String],
    /// The resources a new family keeps: all the grant's, whatever this token was narrowed to,
    /// so that a later refresh may name any of them (as `refresh_scopes` for the scope).
    pub refresh_resources: &'a [String],
    /// The organisation of the sign-in ([`crate::codes::AuthorizationCode::org_id`]), kept by
    /// a new family.
    pub org_id: Option<uuid::Uuid>,
    /// Its claims, from [`Authz::organization_claims`], which the caller runs before it writes
    /// anything: a refusal there must not spend the code or rotate the refresh token.
    pub org: Option<&'a crate::tokens::OrgClaims>,
}

/// The refresh token a grant comes with.
pub(super) enum RefreshStep {
    /// A code exchange starts the family at generation 0.
    Start,
    /// The refresh grant already moved the family to this generation.
    Rotated(u64),
}

impl Authz {
    pub(super) async fn issue_user_tokens(
        &self,
        grant: UserGrant<'_>,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let settings = self.settings();
        let refresh_token = match grant.refresh {
            None => None,
            Some(RefreshStep::Rotated(generation)) => {
                Some(self.token_codec().refresh_token(grant.grant, generation))
            }
            Some(RefreshStep::Start) => {
                let record = FamilyRecord {
                    client_id: grant.client.client_id.clone(),
                    user_id: grant.user.id,
                    scopes: grant.refresh_scopes.to_vec(),
                    auth_time: grant.auth_time,
                    sid: grant.sid.to_owned(),
                    amr: grant.amr.to_vec(),
                    generation: 0,
                    iat: now,
                    exp: now.saturating_add(settings.refresh_token_ttl.num_seconds()),
                    // The code exchange indexed the grant just before (`record_session_grant`).
                    granted_at: Some(now),
                    indexed_until: Some(self.grant_index_until(now)),
                    resources: grant.refresh_resources.to_vec(),
                    org_id: grant.org_id,
                };
                let ttl = ttl(settings.refresh_token_ttl);
                match refresh_tokens::start(self.store(), grant.grant, &record, ttl).await? {
                    // Revoked: a replay of the code got in first. The exchange still
                    // answers, as the one that took the code, but with tokens that are dead
                    // already (the refresh token's family is gone, the access token's grant is
                    // marked), which is what a replay a moment later would have left.
                    StartOutcome::Live | StartOutcome::Revoked => {}
                    StartOutcome::Taken => {
                        return Err(OAuthError::server_error(
                            "refresh token",
                            &"a fresh grant id was already taken",
                        ));
                    }
                }
                Some(self.token_codec().refresh_token(grant.grant, 0))
            }
        };

        let sub = grant.user.id.to_string();
        let grant_id = grant.grant.to_string();
        let store_epoch = self.current_epoch().await?;
        let access = self.mint_access_token(
            AccessTokenRequest {
                sub: &sub,
                client_id: &grant.client.client_id,
                scopes: grant.scopes,
                jti: new_jti(),
                auth_time: Some(grant.auth_time),
                sid: Some(grant.sid),
                grant_id: Some(&grant_id),
                store_epoch: &store_epoch,
                audience: grant.audience,
                act: None,
                not_after: None,
                org: grant.org,
            },
            now,
        )?;

        let id_token = if has_scope(grant.scopes, "openid") {
            Some(self.mint_id_token(
                IdTokenRequest {
                    client: grant.client,
                    user: grant.user,
                    scopes: grant.scopes,
                    nonce: grant.nonce,
                    auth_time: grant.auth_time,
                    sid: grant.sid,
                    amr: grant.amr,
                    access_token: &access,
                    org: grant.org,
                },
                now,
            )?)
        } else {
            None
        };

        Ok(TokenResponse {
            access_token: access,
            expires_in: settings.access_token_ttl.num_seconds(),
            scopes: grant.scopes.to_vec(),
            refresh_token,
            id_token,
        })
    }
}
