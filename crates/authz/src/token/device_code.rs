//! The device access token request (RFC 8628 §3.4–3.5).
//!
//! - §3.4: `grant_type=urn:ietf:params:oauth:grant-type:device_code` with `device_code`; the
//!   client authenticates as for any grant and must be registered for this one
//!   (`unauthorized_client`), and the device code must have been issued to it (`invalid_grant`).
//! - §3.5, while the user has not decided: `authorization_pending`; a poll sooner than the
//!   request's interval after the previous one: `slow_down`, and the interval grows by 5 s for
//!   that device code from then on. Denied: `access_denied`. Past `expires_in`:
//!   `expired_token`. Approved: tokens, exactly once (the record moves to *redeemed* by a
//!   compare-and-swap, so of two racing polls one wins); any later poll is `invalid_grant`.
//! - The user must still be active when the tokens are issued, not only when they approved
//!   (keycloak#52783): the account is read from the database then, past the user cache, and a
//!   user locked or disabled in between gets nothing (`invalid_grant`); the code is spent.
//! - Tokens are those of the code flow: the same access token, an ID token when the scope has
//!   `openid` (without `nonce`: there was no authorization request to carry one), and a refresh
//!   token only when the scope has `offline_access` and the client is registered for
//!   `refresh_token`. The grant is indexed under the browser session that approved it and under
//!   the user, as code-flow grants are, so that ending that session, signing out everywhere,
//!   locking or disabling the user revokes it.
//! - RFC 8707 §2.2: `resource` may only name resources of the device authorization request
//!   (the record's), else `invalid_target`, checked before the record is touched; the access
//!   token is for the named ones, or for all of the request's without `resource`, and a
//!   refresh-token family keeps all of them ([`crate::resources`]).

use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType};

use super::TokenResponse;
use super::issue::{RefreshStep, UserGrant};
use crate::device::DeviceRecords;
use crate::device::state::{DeviceRecord, DeviceState, Poll};
use crate::error::{ErrorCode, OAuthError};
use crate::grant_ids::GrantId;
use crate::params::{ParamMap, has_scope};
use crate::resources;
use crate::service::{Authz, is_active};
use crate::session_grants::SessionGrant;

const INVALID: &str = "the device code is invalid or already used";
/// How often a poll re-reads a record another request changed under it.
const SWAP_ATTEMPTS: usize = 4;

impl Authz {
    pub(super) async fn redeem_device_code(
        &self,
        form: &ParamMap<'_>,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the device authorization grant",
            ));
        }
        let device_code = form
            .get("device_code")
            .ok_or_else(|| OAuthError::invalid_request("device_code is missing"))?;
        let named_resources = resources::named(form)?;
        let now_secs = now.timestamp();
        let records = DeviceRecords::for_device_code(self.store(), device_code);
        for _ in 0..SWAP_ATTEMPTS {
            let Some((record, raw)) = records.read().await? else {
                return Err(OAuthError::invalid_grant(INVALID));
            };
            if record.client_id != client.client_id {
                return Err(OAuthError::invalid_grant(
                    "the device code was issued to another client",
                ));
            }
            let audience = resources::narrowed(&named_resources, &record.resources)?;
            resources::still_registered(&audience, client)?;
            match record.poll(now_secs) {
                Poll::Spent => return Err(OAuthError::invalid_grant(INVALID)),
                Poll::Expired => {
                    return Err(OAuthError::new(
                        ErrorCode::ExpiredToken,
                        "the device code expired: start again",
                    ));
                }
                Poll::Denied => {
                    return Err(OAuthError::new(
                        ErrorCode::AccessDenied,
                        "the user denied the request",
                    ));
                }
                Poll::Pending { next, slow_down } => {
                    if !records.swap(&raw, &next, now_secs).await? {
                        // Another poll (too fast by definition) or the user's decision: look
                        // again.
                        continue;
                    }
                    return Err(if slow_down {
                        OAuthError::new(
                            ErrorCode::SlowDown,
                            format!("poll at most every {} seconds", next.interval),
                        )
                    } else {
                        OAuthError::new(
                            ErrorCode::AuthorizationPending,
                            "the user has not decided yet",
                        )
                    });
                }
                Poll::Redeem { next, approval } => {
                    if !records.swap(&raw, &next, now_secs).await? {
                        continue;
                    }
                    return self
                        .issue_device_tokens(client, &record, approval, &audience, now_secs)
                        .await;
                }
            }
        }
        // Only a record rewritten on every read gets here: polls racing each other.
        Err(OAuthError::new(
            ErrorCode::SlowDown,
            "poll one request at a time, at the interval",
        ))
    }

    /// Tokens for an approval just redeemed, the access token for `audience`.
    async fn issue_device_tokens(
        &self,
        client: &Client,
        record: &DeviceRecord,
        approval: DeviceState,
        audience: &[String],
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let scopes = &record.scopes;
        let DeviceState::Approved {
            user_id,
            auth_time,
            sid,
            amr,
        } = approval
        else {
            return Err(OAuthError::server_error(
                "device code",
                &"redeemed a request that was not approved",
            ));
        };
        // Read afresh, not from the user cache: the approval may be minutes old, and a lock
        // or a disablement since must win at once.
        let user = self
            .db(move |db| db.find_user_by_id(user_id))
            .await?
            .filter(|user| is_active(user, now));
        let Some(user) = user else {
            return Err(OAuthError::invalid_grant("the user is not active"));
        };
        let org = self
            .organization_claims(record.org_id, &user, scopes)
            .await?;
        let grant = GrantId::random();
        let offline = has_scope(scopes, "offline_access");
        // Indexed before any token exists, so that ending the session always finds it.
        self.record_session_grant(
            &sid,
            user.id,
            &SessionGrant {
                grant,
                client_id: client.client_id.clone(),
                offline,
                issued_at: now,
            },
            now,
        )
        .await?;
        let issued = self
            .issue_user_tokens(
                UserGrant {
                    client,
                    user: &user,
                    scopes,
                    refresh_scopes: scopes,
                    auth_time,
                    sid: &sid,
                    amr: &amr,
                    nonce: None,
                    grant,
                    refresh: (offline && client.allows_grant(GrantType::RefreshToken))
                        .then_some(RefreshStep::Start),
                    audience,
                    refresh_resources: &record.resources,
                    org_id: record.org_id,
                    org: org.as_ref(),
                },
                now,
            )
            .await?;
        Ok(issued)
    }
}
