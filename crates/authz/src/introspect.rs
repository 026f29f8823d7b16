//! Token introspection (RFC 7662).
//!
//! - §2.1: the caller must be authorized; here, an authenticated confidential client
//!   (a resource server's credentials). Public clients cannot keep a secret and get
//!   `invalid_client`. Any such client may introspect any token (§4 allows restricting, but
//!   resource servers introspect tokens issued to other clients by design).
//! - §2.1: `token` is required; `token_type_hint` only changes the lookup order and an unknown
//!   hint is ignored ("MUST extend its search across all of its supported token types").
//! - §2.2: anything not currently valid — malformed, unknown, expired, revoked, denylisted, for
//!   a user no longer active, issued to a client since disabled or deleted — is
//!   `{"active": false}` and nothing else, never an error, so the endpoint reveals nothing
//!   about why.
//! - §2.2 members: access tokens report `scope`, `client_id`, `username`, `token_type`
//!   (`Bearer`), `exp`, `iat`, `nbf` (when the token has one), `sub`, `aud`, `iss`, `jti`;
//!   refresh tokens `scope`, `client_id`, `username`, `sub`, `exp`, `iat`, `token_type`
//!   (`refresh_token`).
//! - `aud` is the token's own: the issuer, or the APIs a resource indicator (RFC 8707) or a
//!   token exchange (RFC 8693 §2.1) named; one audience as a string, several as an array
//!   (RFC 7519 §4.1.3). A token is active whatever its audience: resource servers introspect
//!   exactly the tokens addressed to them, so unlike userinfo, introspection does not ask for
//!   the issuer in `aud`.
//! - A delegated token (RFC 8693 §4.1) also reports its `act`, nested actors included
//!   (§4.1: "the consumer of a token MUST only consider the token's top-level claims and the
//!   party identified as the current actor"; the rest is there for the record).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::client_auth::{ClientCredentials, authenticated_form};
use crate::denylist;
use crate::error::OAuthError;
use crate::params::{Params, scope_string};
use crate::service::Authz;

impl Authz {
    /// POST /introspect.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn introspect(
        &self,
        form: &Params,
        auth: ClientCredentials,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let basic_attempted = !matches!(auth, ClientCredentials::None);
        let (form, caller) = authenticated_form(self, form, &auth).await?;
        if caller.is_public() {
            return Err(OAuthError::invalid_client(
                "introspection requires an authenticated confidential client",
            )
            .with_basic_attempted(basic_attempted));
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let now = now.timestamp();
        let refresh_first = form.get("token_type_hint") == Some("refresh_token");
        let found = if refresh_first {
            match self.introspect_refresh_token(token, now).await? {
                Some(found) => Some(found),
                None => self.introspect_access_token(token, now).await?,
            }
        } else {
            match self.introspect_access_token(token, now).await? {
                Some(found) => Some(found),
                None => self.introspect_refresh_token(token, now).await?,
            }
        };
        Ok(found.unwrap_or_else(|| json!({ "active": false })))
    }

    async fn introspect_access_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<Value>, OAuthError> {
        let Ok(claims) = self.verify_access_token(token, now) else {
            return Ok(None);
        };
        if denylist::is_revoked(self.store(), self.epoch(), &claims).await? {
            return Ok(None);
        }
        // A token of a client since disabled or deleted is no longer active.
        if self.find_client(&claims.client_id).await?.is_none() {
            return Ok(None);
        }
        // Client-credentials tokens name the client as `sub` and have no user behind them.
        let username = if claims.sub == claims.client_id && claims.auth_time.is_none() {
            None
        } else {
            match self.active_username(&claims.sub, now).await? {
                Some(username) => Some(username),
                None => return Ok(None),
            }
        };
        let mut body = json!({
            "active": true,
            "scope": claims.scope,
            "client_id": claims.client_id,
            "token_type": "Bearer",
            "exp": claims.exp,
            "iat": claims.iat,
            "sub": claims.sub,
            "aud": match claims.aud.as_slice() {
                [single] => Value::String(single.clone()),
                many => json!(many),
            },
            "iss": claims.iss,
            "jti": claims.jti,
        });
        if let Some(username) = username {
            body["username"] = Value::String(username);
        }
        if let Some(act) = claims.act {
            body["act"] = act;
        }
        Ok(Some(body))
    }

    async fn introspect_refresh_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<Value>, OAuthError> {
        let Some((_, record)) = self.live_refresh_family(token).await? else {
            return Ok(None);
        };
        if now >= record.exp || self.find_client(&record.client_id).await?.is_none() {
            return Ok(None);
        }
        let sub = record.user_id.to_string();
        let Some(username) = self.active_username(&sub, now).await? else {
            return Ok(None);
        };
        Ok(Some(json!({
            "active": true,
            "scope": scope_string(&record.scopes),
            "client_id": record.client_id,
            "username": username,
            "sub": sub,
            "exp": record.exp,
            "iat": record.iat,
            "token_type": "refresh_token",
        })))
    }

    /// The username of an active user with this `sub`, if there is one.
    async fn active_username(&self, sub: &str, now: i64) -> Result<Option<String>, OAuthError> {
        let Ok(user_id) = uuid::Uuid::parse_str(sub) else {
            return Ok(None);
        };
        Ok(self
            .find_active_user(user_id, now)
            .await?
            .map(|user| user.username.clone()))
    }
}
