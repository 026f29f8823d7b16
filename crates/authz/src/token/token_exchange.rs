//! Token exchange (RFC 8693 §2): a confidential client trades a user's access token for one
//! addressed to another service, acting for the user (delegation, with an actor token) or, when
//! its registration allows, as the user (impersonation).
//!
//! - §2.1 / RFC 6749 §5.2: only an authenticated confidential client registered for the grant
//!   (`Client::grant_types`) may exchange; any other gets `unauthorized_client`.
//! - §2.1: `subject_token` and `subject_token_type` are required, and the only type accepted is
//!   `urn:ietf:params:oauth:token-type:access_token` (§3): Gatehouse exchanges nothing but its
//!   own access tokens. `actor_token_type` is "REQUIRED when the actor_token parameter is
//!   present in the request but MUST NOT be included otherwise", and takes the same one type.
//!   `requested_token_type` may only ask for that type too. §2.2.2: a request that is not
//!   valid, or whose subject or actor token is "invalid for any reason, or [is] unacceptable
//!   based on policy", is `invalid_request`; every one of these cases answers so.
//! - The subject token must be an access token we issued (signature, `iss`, `typ`, `exp`; any
//!   `aud`, since exchanged tokens and resource-indicator tokens name their APIs instead of the
//!   issuer), not revoked by itself or through its grant, of a client that still exists, for a
//!   user still active. Deny by default: it must have been issued to the calling client or name
//!   it in `aud`, so a client cannot turn any user token it comes across into one for its own
//!   audiences (Keycloak's standard token exchange has the same rule). A client's own
//!   `client_credentials` token has no user to act for and is refused as a subject.
//! - The actor token (optional) is the calling client's own `client_credentials` token (its
//!   service account: `sub` is the client id), or a user's token that passes the subject
//!   token's rules. With one, the new token carries `act: {"sub": <actor>}` (§4.1), with the
//!   subject token's own `act` nested inside: §4.1's chain of delegation, newest actor outermost.
//!   The actor token's own `act` is not copied: it says who acts for the *actor*, which §4.1
//!   leaves out of the chain.
//! - Without an actor token the exchange is impersonation (§1.1), refused (`invalid_request`:
//!   the fix is to send an actor token) unless `Client::allow_impersonation`. A subject token
//!   that already has `act` keeps it: a delegated token exchanged again stays delegated and never
//!   silently turns into one that says the user acts alone (keycloak#52691).
//! - Targets: `audience` (§2.1, logical names) and `resource` (§2.1 and RFC 8707 §2, absolute
//!   URIs), both repeatable, each one of `Client::exchange_audiences`, else `invalid_target`
//!   (§2.2.2). At least one is required (deny by default: no token for "anywhere"); RFC 8707
//!   §2 lets a server require a target and has it answer `invalid_target` when none is given.
//!   They become the new token's `aud`, in the order asked, each once.
//! - `scope` (§2.1) may only narrow the subject token's (RFC 6749 §5.2 `invalid_scope`,
//!   §2.2.2 "other error codes may also be used"); absent, the new token has the subject
//!   token's scope.
//! - The new token: `sub` and `client_id` = the user and the calling client; `exp` no later than
//!   the subject token's, nor than the actor token's (the delegation stated in `act` lasts only
//!   as long as the actor's own authority). It keeps the subject token's `grant_id`, `sid` and
//!   `auth_time`: the exchange extends the user's grant to another audience rather than making
//!   a new grant, so whatever revokes that grant (signing out of its session, ending every
//!   session, revoking its refresh token, a replayed code) revokes the exchanged token too,
//!   through the same grant marker ([`crate::denylist`]); a user locked or disabled fails both
//!   at once anyway. That marker outlives the exchanged token, which expires no later than the
//!   grant's own access tokens. Revoking the subject token alone (RFC 7009, by `jti`) leaves
//!   the exchanged one live, as it leaves the grant's other tokens. The organisation of a
//!   subject token with `org_id` is checked again (the user still a member, the organisation
//!   enabled). No refresh token (§2.2.1: "OPTIONAL"; the client exchanges again) and no ID
//!   token: §2.2.1 answers with the one token asked for.
//! - §2.2.1: the response has `access_token`, `issued_token_type`, `token_type` `Bearer`,
//!   `expires_in` and `scope` (always, as for the other grants).
//! - Every exchange the client was authenticated for is audited as `token.exchange`, granted or
//!   refused, with the subject, the actor, the audience and the client; failures of our own
//!   (`server_error`, `temporarily_unavailable`) are not decisions and are logged instead.

use chrono::{DateTime, Utc};
use gatehouse_identity::{
    ActorKind, AuditAction, AuditOutcome, CLIENT_ACTOR_PREFIX, Client, GrantType, NewAuditEvent,
    RequestContext, User,
};
use gatehouse_tokens::{AccessTokenClaims, new_jti};
use serde_json::{Value, json};

use crate::denylist;
use crate::error::{ErrorCode, OAuthError};
use crate::params::{ParamMap, is_subset, parse_scope, scope_string};
use crate::resources;
use crate::service::Authz;
use crate::tokens::AccessTokenRequest;

/// RFC 8693 §3: the token type of an OAuth 2.0 access token, the only one exchanged or issued.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Which of the two tokens of a request is being checked, for the error descriptions.
#[derive(Clone, Copy)]
enum Presented {
    Subject,
    Actor,
}

impl Presented {
    fn name(self) -> &'static str {
        match self {
            Self::Subject => "subject_token",
            Self::Actor => "actor_token",
        }
    }

    /// §2.2.2: one `invalid_request` for every reason a token itself fails.
    fn invalid(self) -> OAuthError {
        OAuthError::invalid_request(format!("{} is invalid, expired or revoked", self.name()))
    }

    /// A token that is valid but unacceptable by policy (§2.2.2, also `invalid_request`).
    fn refused(self, why: &str) -> OAuthError {
        OAuthError::invalid_request(format!("{} {why}", self.name()))
    }
}

/// §2.2.1: the successful response.
#[derive(serde::Serialize)]
struct ExchangeResponse {
    access_token: String,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

/// What the audit event of one exchange says, filled in as the request is checked.
#[derive(Default)]
struct ExchangeRecord {
    /// The user the subject token is for, once it passed.
    subject: Option<String>,
    /// The actor token's `sub`, once it passed.
    actor: Option<String>,
    /// The targets asked for (`audience` and `resource`), as sent.
    audience: Vec<String>,
    scope: Option<String>,
    /// The `act` of the issued token.
    act: Option<Value>,
}

/// Whose a verified subject or actor token is.
enum TokenOwner {
    User(std::sync::Arc<User>),
    /// A `client_credentials` token (RFC 9068 §2.2: `sub` is the client id).
    ServiceAccount,
}

impl Authz {
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`; the body of §2.2.1, or
    /// the error of §2.2.2. See the module docs.
    pub(super) async fn exchange_token(
        &self,
        form: &ParamMap<'_>,
        client: &Client,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let mut record = ExchangeRecord::default();
        let result = self
            .checked_exchange(form, client, now.timestamp(), &mut record)
            .await;
        self.audit_exchange(client, &record, &result, ctx, now)
            .await;
        let response = result?;
        serde_json::to_value(response)
            .map_err(|err| OAuthError::server_error("token exchange response", &err))
    }

    async fn checked_exchange(
        &self,
        form: &ParamMap<'_>,
        client: &Client,
        now: i64,
        record: &mut ExchangeRecord,
    ) -> Result<ExchangeResponse, OAuthError> {
        if client.is_public() || !client.allows_grant(GrantType::TokenExchange) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the token-exchange grant",
            ));
        }
        record.audience = form
            .all("audience")
            .into_iter()
            .chain(form.all("resource"))
            .map(str::to_owned)
            .collect();
        record.scope = form.get("scope").map(str::to_owned);

        // §2.1: the parameters, before any token is looked at.
        let subject_token = form
            .get("subject_token")
            .ok_or_else(|| OAuthError::invalid_request("subject_token is missing"))?;
        require_access_token_type("subject_token_type", form.get("subject_token_type"))?;
        let actor_token = match (form.get("actor_token"), form.get("actor_token_type")) {
            (Some(token), token_type) => {
                require_access_token_type("actor_token_type", token_type)?;
                Some(token)
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type is only allowed with an actor_token",
                ));
            }
            (None, None) => None,
        };
        if let Some(requested) = form.get("requested_token_type")
            && requested != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type must be {ACCESS_TOKEN_TYPE}: only access tokens are issued"
            )));
        }
        let requested_scope = form
            .get("scope")
            .map(|value| {
                parse_scope(value).ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))
            })
            .transpose()?;

        // The subject token, then the actor token.
        let (subject, owner) = self
            .exchangeable_token(subject_token, client, now, Presented::Subject)
            .await?;
        let TokenOwner::User(user) = owner else {
            return Err(OAuthError::invalid_request(
                "subject_token must be a user's access token",
            ));
        };
        record.subject = Some(subject.sub.clone());
        let actor = match actor_token {
            Some(token) => {
                // The calling client's service account or a user: either may act.
                let (actor, _) = self
                    .exchangeable_token(token, client, now, Presented::Actor)
                    .await?;
                record.actor = Some(actor.sub.clone());
                Some(actor)
            }
            None => None,
        };
        let act = match &actor {
            Some(actor) => Some(delegation(&actor.sub, subject.act.as_ref())),
            None if client.allow_impersonation => subject.act.clone(),
            None => {
                return Err(OAuthError::invalid_request(
                    "actor_token is required: the client may not impersonate users",
                ));
            }
        };

        let audience = self.exchange_targets(form, client)?;
        let subject_scopes: Vec<String> = subject
            .scope
            .split(' ')
            .filter(|scope| !scope.is_empty())
            .map(str::to_owned)
            .collect();
        let scopes = match requested_scope {
            None => subject_scopes,
            Some(requested) if is_subset(&requested, &subject_scopes) => requested,
            Some(_) => {
                return Err(OAuthError::invalid_scope(
                    "scope exceeds the subject token's scope",
                ));
            }
        };
        let org_id = match subject.org_id.as_deref() {
            Some(id) => Some(uuid::Uuid::parse_str(id).map_err(|_| {
                OAuthError::server_error("token exchange", &"subject token with a bad org_id")
            })?),
            None => None,
        };
        let org = self.organization_claims(org_id, &user, &scopes).await?;

        let not_after = match &actor {
            Some(actor) => subject.exp.min(actor.exp),
            None => subject.exp,
        };
        let exp = self.latest_access_token_exp(now).min(not_after);
        let store_epoch = self.current_epoch().await?;
        let access_token = self.mint_access_token(
            AccessTokenRequest {
                sub: &subject.sub,
                client_id: &client.client_id,
                scopes: &scopes,
                jti: new_jti(),
                auth_time: subject.auth_time,
                sid: subject.sid.as_deref(),
                grant_id: subject.grant_id.as_deref(),
                store_epoch: &store_epoch,
                audience: &audience,
                act: act.clone(),
                not_after: Some(not_after),
                org: org.as_ref(),
            },
            now,
        )?;
        record.act = act;
        Ok(ExchangeResponse {
            access_token,
            issued_token_type: ACCESS_TOKEN_TYPE,
            token_type: "Bearer",
            expires_in: exp.saturating_sub(now),
            scope: scope_string(&scopes),
        })
    }

    /// A subject or actor token that passes: ours and live (whatever its audience), not revoked,
    /// its client still there, and either the calling client's own service-account token or a
    /// user token for an active user, issued to the calling client or naming it in `aud`.
    async fn exchangeable_token(
        &self,
        token: &str,
        client: &Client,
        now: i64,
        presented: Presented,
    ) -> Result<(AccessTokenClaims, TokenOwner), OAuthError> {
        let claims = self.verify_access_token(token, now).map_err(|err| {
            tracing::debug!(%err, token = presented.name(), "token exchange: token refused");
            presented.invalid()
        })?;
        if denylist::is_revoked(self.store(), self.epoch(), &claims).await?
            || self.find_client(&claims.client_id).await?.is_none()
        {
            return Err(presented.invalid());
        }
        if claims.sub == claims.client_id && claims.grant_id.is_none() {
            // A service account's token: only the calling client's own may act here (the
            // caller refuses it as a subject).
            if claims.client_id != client.client_id {
                return Err(presented.refused("was issued to another client"));
            }
            return Ok((claims, TokenOwner::ServiceAccount));
        }
        let issued_to_caller =
            claims.client_id == client.client_id || claims.aud.contains(&client.client_id);
        if !issued_to_caller {
            return Err(
                presented.refused("was neither issued to this client nor names it as audience")
            );
        }
        let user_id = uuid::Uuid::parse_str(&claims.sub).map_err(|_| presented.invalid())?;
        let Some(user) = self.find_active_user(user_id, now).await? else {
            return Err(presented.refused("is for a user who is not active"));
        };
        Ok((claims, TokenOwner::User(user)))
    }

    /// The `audience` and `resource` values: at least one, each registered for the client.
    fn exchange_targets(
        &self,
        form: &ParamMap<'_>,
        client: &Client,
    ) -> Result<Vec<String>, OAuthError> {
        let audiences = form.all("audience");
        if audiences.is_empty() && form.all("resource").is_empty() {
            return Err(OAuthError::invalid_target(
                "audience or resource is required: name the service the token is for",
            ));
        }
        // RFC 8693 §2.1: a `resource` "MUST be an absolute URI" without a fragment (RFC 8707).
        let resources = resources::named(form)?;
        let mut targets: Vec<String> = Vec::new();
        for target in audiences.into_iter().chain(resources) {
            if !client
                .exchange_audiences
                .iter()
                .any(|allowed| allowed == target)
            {
                return Err(OAuthError::invalid_target(
                    "the client may not exchange tokens for this audience",
                ));
            }
            if !targets.iter().any(|known| known == target) {
                targets.push(target.to_owned());
            }
        }
        Ok(targets)
    }

    /// Writes the `token.exchange` event of a decided exchange; see the module docs.
    async fn audit_exchange(
        &self,
        client: &Client,
        record: &ExchangeRecord,
        result: &Result<ExchangeResponse, OAuthError>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) {
        let mut details = json!({
            "client_id": client.client_id,
            "subject": record.subject,
            "actor": record.actor,
            "audience": record.audience,
            "scope": record.scope,
        });
        let outcome = match result {
            Ok(response) => {
                details["scope"] = Value::String(response.scope.clone());
                details["act"] = record.act.clone().unwrap_or(Value::Null);
                details["mode"] = Value::from(if record.actor.is_some() {
                    "delegation"
                } else {
                    "impersonation"
                });
                AuditOutcome::Success
            }
            Err(err)
                if matches!(
                    err.code,
                    ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
                ) =>
            {
                return;
            }
            Err(err) => {
                details["error"] = Value::from(err.code.as_str());
                details["reason"] = Value::String(err.description.clone());
                AuditOutcome::Failure
            }
        };
        let event = NewAuditEvent {
            occurred_at: now,
            actor: Some(format!("{CLIENT_ACTOR_PREFIX}{}", client.client_id)),
            actor_kind: ActorKind::ServiceAccount,
            action: AuditAction::TokenExchange,
            target: record.subject.clone(),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            outcome,
            details,
            request_id: ctx.request_id.clone(),
            org_id: client
                .org_id
                .as_deref()
                .and_then(|id| uuid::Uuid::parse_str(id).ok()),
        };
        if let Err(err) = self.db(move |db| db.append_audit(&event)).await {
            tracing::error!(
                error = %err,
                action = AuditAction::TokenExchange.as_str(),
                "could not write audit event"
            );
        }
    }
}

/// §2.1: a `*_token_type` must be present and, here, the access-token type.
fn require_access_token_type(name: &str, value: Option<&str>) -> Result<(), OAuthError> {
    match value {
        None => Err(OAuthError::invalid_request(format!("{name} is missing"))),
        Some(ACCESS_TOKEN_TYPE) => Ok(()),
        Some(_) => Err(OAuthError::invalid_request(format!(
            "{name} must be {ACCESS_TOKEN_TYPE}: only Gatehouse access tokens are exchanged"
        ))),
    }
}

/// §4.1: `{"sub": actor}`, with the previous actor (if any) nested as its `act`.
fn delegation(actor: &str, previous: Option<&Value>) -> Value {
    let mut act = json!({ "sub": actor });
    if let Some(previous) = previous {
        act["act"] = previous.clone();
    }
    act
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegation_nests_the_previous_actor() {
        assert_eq!(delegation("bot", None), json!({ "sub": "bot" }));
        let first = delegation("bot", None);
        assert_eq!(
            delegation("agent", Some(&first)),
            json!({ "sub": "agent", "act": { "sub": "bot" } })
        );
    }

    #[test]
    fn token_types_are_required_and_only_access_tokens_pass() {
        assert!(require_access_token_type("subject_token_type", Some(ACCESS_TOKEN_TYPE)).is_ok());
        let missing = require_access_token_type("subject_token_type", None).unwrap_err();
        assert_eq!(missing.code, ErrorCode::InvalidRequest);
        let other = require_access_token_type(
            "actor_token_type",
            Some("urn:ietf:params:oauth:token-type:id_token"),
        )
        .unwrap_err();
        assert_eq!(other.code, ErrorCode::InvalidRequest);
        assert!(other.description.starts_with("actor_token_type"));
    }
}
