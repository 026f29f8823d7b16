//! The refresh token grant with rotation (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12).
//!
//! Order, and why:
//! 1. Read the record without consuming it and check what does not depend on races: issued to
//!    the authenticated client (§6 "MUST ... ensure that the refresh token was issued to the
//!    authenticated client"), not expired, family not revoked, requested scope ⊆ original
//!    (§6 → `invalid_scope`). A request failing here does not burn the token.
//! 2. Claim the token with `put_if_absent("rt_used:<hash>")`: of N concurrent uses exactly
//!    one wins. A loser, or any later use, has presented a rotated-away token: RFC 9700
//!    §4.14.2 replay detection revokes the whole family, and the revocation is written before
//!    the error is returned (STYLE #2).
//! 3. Take the record (atomic) and issue: a new refresh token in the same family with the
//!    original scope and a fresh TTL (sliding expiry), an access token with the possibly
//!    narrowed scope, and a new ID token when the scope has `openid` — same `sub`, `aud`,
//!    original `auth_time`, no `nonce` (OIDC Core §12.2).
//!
//! The user must still be active.

use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType};
use gatehouse_tokens::new_jti;

use super::TokenResponse;
use super::issue::UserGrant;
use crate::error::OAuthError;
use crate::params::{ParamMap, is_subset, parse_scope};
use crate::refresh_tokens;
use crate::service::Authz;
use crate::store::{sha256_hex, ttl};

const INVALID: &str = "the refresh token is invalid, expired or revoked";

impl Authz {
    pub(super) async fn refresh(
        &self,
        form: &ParamMap<'_>,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the refresh_token grant",
            ));
        }
        let token = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let requested_scope = form
            .get("scope")
            .map(|value| {
                parse_scope(value).ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))
            })
            .transpose()?;

        let store = self.store();
        let now_secs = now.timestamp();
        let token_hash = sha256_hex(token);

        // Step 1.
        let Some(record) = refresh_tokens::find(store, &token_hash).await? else {
            if let Some(family) = refresh_tokens::used_family(store, &token_hash).await? {
                self.revoke_replayed_family(&family, now_secs).await?;
            }
            return Err(OAuthError::invalid_grant(INVALID));
        };
        if record.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if now_secs >= record.exp
            || refresh_tokens::is_family_revoked(store, &record.family).await?
        {
            return Err(OAuthError::invalid_grant(INVALID));
        }
        let scopes = match requested_scope {
            None => record.scopes.clone(),
            Some(requested) if is_subset(&requested, &record.scopes) => requested,
            Some(_) => {
                return Err(OAuthError::invalid_scope(
                    "scope exceeds the scope originally granted",
                ));
            }
        };

        // Step 2.
        let claim_ttl = ttl(self.settings().refresh_token_ttl);
        if !refresh_tokens::claim(store, &token_hash, &record.family, claim_ttl).await? {
            self.revoke_replayed_family(&record.family, now_secs)
                .await?;
            return Err(OAuthError::invalid_grant(INVALID));
        }

        // Step 3.
        let Some(record) = refresh_tokens::take(store, &token_hash).await? else {
            return Err(OAuthError::invalid_grant(INVALID));
        };
        let Some(user) = self.find_active_user(record.user_id, now_secs).await? else {
            return Err(OAuthError::invalid_grant("the user is not active"));
        };
        self.issue_user_tokens(
            UserGrant {
                client,
                user: &user,
                scopes: &scopes,
                refresh_scopes: &record.scopes,
                auth_time: record.auth_time,
                sid: &record.sid,
                amr: &record.amr,
                nonce: None,
                family: Some(record.family.clone()),
                jti: new_jti(),
            },
            now_secs,
        )
        .await
    }

    async fn revoke_replayed_family(&self, family: &str, now: i64) -> Result<(), OAuthError> {
        tracing::warn!(
            family,
            "refresh token reused: revoking its family (RFC 9700 §4.14.2)"
        );
        refresh_tokens::revoke_family(
            self.store(),
            family,
            self.family_revocation_ttl(),
            now,
            self.latest_access_token_exp(now),
        )
        .await?;
        Ok(())
    }
}
