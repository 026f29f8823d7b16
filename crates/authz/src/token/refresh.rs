//! The refresh token grant with rotation (RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12).
//!
//! Order, and why:
//! 1. The token must be one we issued (its MAC, [`crate::grant_ids`]) and its family
//!    must be live; otherwise `invalid_grant`.
//! 2. A token of an older generation than the family's live one was rotated away: presenting
//!    it again, whichever client does, is the replay RFC 9700 §4.14.2 answers by revoking the
//!    whole family, written before the error is returned (STYLE #2).
//! 3. Checks that do not depend on races, none of which burns the token: issued to the
//!    authenticated client (§6 "MUST ... ensure that the refresh token was issued to the
//!    authenticated client"), not expired, requested scope ⊆ original (§6 → `invalid_scope`),
//!    requested `resource` ⊆ the grant's resources (RFC 8707 §2.2 → `invalid_target`) and
//!    still registered, the user still active and still a member of the grant's organisation
//!    (which is still enabled).
//! 4. Rotate: compare-and-swap the family record to the next generation, so of N concurrent
//!    uses exactly one wins; a loser has presented a rotated-away token too and revokes the
//!    family. The winner gets the next generation's token with the original scope and a fresh
//!    TTL (sliding expiry), an access token with the possibly narrowed scope and audience (the
//!    family keeps every granted resource, so the next refresh may name any), and a new ID
//!    token when the scope has `openid` — same `sub`, `aud`, original `auth_time`, no `nonce`
//!    (OIDC Core §12.2).

use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType};

use super::TokenResponse;
use super::issue::{RefreshStep, UserGrant};
use crate::error::OAuthError;
use crate::grant_ids::GrantId;
use crate::params::{ParamMap, is_subset, parse_scope};
use crate::refresh_tokens::{self, FamilyRecord};
use crate::resources;
use crate::service::Authz;
use crate::session_grants::SessionGrant;
use crate::store::ttl;

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
        let named_resources = resources::named(form)?;

        let store = self.store();
        let now_secs = now.timestamp();

        // Step 1.
        let Some((family, generation)) = self.token_codec().parse_refresh_token(token) else {
            return Err(OAuthError::invalid_grant(INVALID));
        };
        let Some(stored) = refresh_tokens::find(store, family).await? else {
            return Err(OAuthError::invalid_grant(INVALID));
        };
        let record = &stored.record;

        // Step 2 (an authentic token newer than the family cannot exist; refused all the same).
        if generation != record.generation {
            if generation < record.generation {
                self.revoke_replayed_family(family, now_secs).await?;
            }
            return Err(OAuthError::invalid_grant(INVALID));
        }

        // Step 3.
        if record.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if now_secs >= record.exp {
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
        let audience = resources::narrowed(&named_resources, &record.resources)?;
        resources::still_registered(&audience, client)?;
        let Some(user) = self.find_active_user(record.user_id, now_secs).await? else {
            return Err(OAuthError::invalid_grant("the user is not active"));
        };
        // Still a member of the grant's organisation, which is still enabled.
        let org = self
            .organization_claims(record.org_id, &user, &scopes)
            .await?;

        // Step 4.
        let refresh_ttl = self.settings().refresh_token_ttl;
        let exp = now_secs.saturating_add(refresh_ttl.num_seconds());
        // The grant's index entries must outlive its refresh token, which this rotation
        // extends; when it would pass them they move on (at most once per lifetime).
        let reindex = match (record.granted_at, record.indexed_until) {
            (Some(granted_at), Some(until)) if until < exp => Some(granted_at),
            _ => None,
        };
        let next = FamilyRecord {
            generation: generation.saturating_add(1),
            iat: now_secs,
            exp,
            indexed_until: match reindex {
                Some(_) => Some(self.grant_index_until(now_secs)),
                None => record.indexed_until,
            },
            ..record.clone()
        };
        if !refresh_tokens::rotate(store, family, &stored, &next, ttl(refresh_ttl)).await? {
            self.revoke_replayed_family(family, now_secs).await?;
            return Err(OAuthError::invalid_grant(INVALID));
        }
        if let Some(granted_at) = reindex {
            self.record_session_grant(
                &next.sid,
                next.user_id,
                &SessionGrant {
                    grant: family,
                    client_id: next.client_id.clone(),
                    offline: next.scopes.iter().any(|scope| scope == "offline_access"),
                    issued_at: granted_at,
                },
                now_secs,
            )
            .await?;
        }
        self.issue_user_tokens(
            UserGrant {
                client,
                user: &user,
                scopes: &scopes,
                refresh_scopes: &next.scopes,
                auth_time: next.auth_time,
                sid: &next.sid,
                amr: &next.amr,
                nonce: None,
                grant: family,
                refresh: Some(RefreshStep::Rotated(next.generation)),
                audience: &audience,
                // A rotation keeps the family as it is (`next`); this is not read.
                refresh_resources: &next.resources,
                org_id: next.org_id,
                org: org.as_ref(),
            },
            now_secs,
        )
        .await
    }

    async fn revoke_replayed_family(&self, family: GrantId, now: i64) -> Result<(), OAuthError> {
        tracing::warn!(
            %family,
            "refresh token reused: revoking its family (RFC 9700 §4.14.2)"
        );
        metrics::counter!("gatehouse_refresh_reuse_detected_total").increment(1);
        refresh_tokens::revoke(self.store(), family, now, self.latest_access_token_exp(now))
            .await?;
        Ok(())
    }
}
