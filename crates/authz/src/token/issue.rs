//! Issuing a user's tokens, shared by the code exchange and the refresh grant.
//!
//! The access token always; a refresh token when the grant belongs to a family (the client is
//! registered for `refresh_token`, RFC 6749 §1.5 — issued whether or not `offline_access` was
//! asked for, since OIDC Core §11's consent rule for offline access is covered by our consent
//! page listing every scope); an ID token when the scope has `openid` (OIDC Core §3.1.3.3).

use gatehouse_identity::{Client, User};

use super::TokenResponse;
use crate::error::OAuthError;
use crate::params::has_scope;
use crate::refresh_tokens::{self, FamilyId, FamilyRecord, Started};
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
    /// What happens to the refresh-token family; `None` when the client gets no refresh tokens.
    pub family: Option<FamilyStep>,
    /// Chosen by the caller, so a code's tombstone can name it before it is minted.
    pub jti: String,
}

/// The refresh token a grant comes with.
pub(super) enum FamilyStep {
    /// A code exchange starts a family at generation 0.
    Start(FamilyId),
    /// The refresh grant already moved the family to this generation.
    Rotated(FamilyId, u64),
}

impl Authz {
    pub(super) async fn issue_user_tokens(
        &self,
        grant: UserGrant<'_>,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let settings = self.settings();
        let family = grant.family.as_ref().map(|step| match step {
            FamilyStep::Start(family) | FamilyStep::Rotated(family, _) => *family,
        });
        let refresh_token = match grant.family {
            None => None,
            Some(FamilyStep::Rotated(family, generation)) => {
                Some(self.refresh_token_codec().encode(family, generation))
            }
            Some(FamilyStep::Start(family)) => {
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
                };
                let ttl = ttl(settings.refresh_token_ttl);
                match refresh_tokens::start(self.store(), family, &record, ttl).await? {
                    // Revoked: a replay of the code got in first. The exchange still
                    // answers, as the one that took the code, but with tokens that are dead
                    // already (the refresh token's family is gone, the access token's is
                    // marked), which is what a replay a moment later would have left.
                    Started::Started | Started::Revoked => {}
                    Started::Taken => {
                        return Err(OAuthError::server_error(
                            "refresh token",
                            &"a fresh family id was already taken",
                        ));
                    }
                }
                Some(self.refresh_token_codec().encode(family, 0))
            }
        };

        let sub = grant.user.id.to_string();
        let family_claim = family.map(|family| family.to_string());
        let access = self.mint_access_token(
            AccessTokenRequest {
                sub: &sub,
                client_id: &grant.client.client_id,
                scopes: grant.scopes,
                jti: grant.jti,
                auth_time: Some(grant.auth_time),
                sid: Some(grant.sid),
                family: family_claim.as_deref(),
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
