//! The token endpoint (RFC 6749 §3.2): client authentication, then one of four grants.
//!
//! - [`authorization_code`]: RFC 6749 §4.1.3–4.1.4, RFC 7636 §4.5–4.6, OIDC Core §3.1.3.
//! - [`refresh`]: RFC 6749 §6, RFC 9700 §4.14.2, OIDC Core §12.
//! - [`client_credentials`]: RFC 6749 §4.4.
//! - [`device_code`]: RFC 8628 §3.4–3.5.
//! - [`token_exchange`]: RFC 8693 §2 (its response adds `issued_token_type`, §2.2.1).
//!
//! Order of checks: repeated parameters (RFC 6749 §3.2 → `invalid_request`), client
//! authentication ([`crate::client_auth`] → `invalid_client`), then `grant_type` (missing →
//! `invalid_request`, unknown → `unsupported_grant_type`, RFC 6749 §5.2), then the grant.
//! Authenticating first means an unauthenticated caller learns nothing about grants or codes.
//!
//! The successful response (RFC 6749 §5.1; OIDC Core §3.1.3.3) carries `access_token`,
//! `token_type` `Bearer` (RFC 6750), `expires_in`, `scope` (always, though §5.1 requires it
//! only when it differs from the request: clients then never have to guess), and
//! `refresh_token` / `id_token` when issued. The server adds `Cache-Control: no-store`
//! (RFC 6749 §5.1 MUST).

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh;
pub mod token_exchange;

mod issue;

use chrono::{DateTime, Utc};
use gatehouse_identity::{GrantType, RequestContext};
use serde_json::{Map, Value};

use crate::client_auth::{ClientCredentials, authenticated_form};
use crate::error::{ErrorCode, OAuthError};
use crate::params::{Params, scope_string};
use crate::service::Authz;

/// What a grant issued; becomes the JSON body.
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub scopes: Vec<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

impl TokenResponse {
    fn into_json(self) -> Value {
        let mut body = Map::new();
        body.insert("access_token".into(), Value::String(self.access_token));
        body.insert("token_type".into(), Value::String("Bearer".into()));
        body.insert("expires_in".into(), Value::from(self.expires_in));
        body.insert("scope".into(), Value::String(scope_string(&self.scopes)));
        if let Some(refresh_token) = self.refresh_token {
            body.insert("refresh_token".into(), Value::String(refresh_token));
        }
        if let Some(id_token) = self.id_token {
            body.insert("id_token".into(), Value::String(id_token));
        }
        Value::Object(body)
    }
}

impl Authz {
    /// POST /token without a request to name in the audit trail (tests, tools).
    pub async fn token(
        &self,
        form: &Params,
        auth: ClientCredentials,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        self.token_in_context(form, auth, &RequestContext::default(), now)
            .await
    }

    /// POST /token. See the module docs; the grants are in this module's children. `ctx`
    /// (the caller's address, user agent and request id) goes into the audit events a grant
    /// writes.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn token_in_context(
        &self,
        form: &Params,
        auth: ClientCredentials,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let result = self.grant_tokens(form, auth, ctx, now).await;
        record_token_outcome(form, &result);
        result
    }

    async fn grant_tokens(
        &self,
        form: &Params,
        auth: ClientCredentials,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let (form, client) = authenticated_form(self, form, &auth).await?;
        let Some(grant_type) = form.get("grant_type") else {
            return Err(OAuthError::invalid_request("grant_type is missing"));
        };
        let response = match grant_type.parse::<GrantType>() {
            Ok(GrantType::AuthorizationCode) => self.exchange_code(&form, &client, now).await,
            Ok(GrantType::RefreshToken) => self.refresh(&form, &client, now).await,
            Ok(GrantType::ClientCredentials) => self.client_credentials(&form, &client, now).await,
            Ok(GrantType::DeviceCode) => self.redeem_device_code(&form, &client, now).await,
            // RFC 8693 §2.2.1: its own response members.
            Ok(GrantType::TokenExchange) => {
                return self.exchange_token(&form, &client, ctx, now).await;
            }
            Err(_) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type must be {}", supported_grant_types()),
            )),
        };
        response.map(TokenResponse::into_json)
    }
}

/// `gatehouse_tokens_issued_total{grant_type}` or `gatehouse_token_errors_total{error}`: labels
/// from closed sets (an unknown grant type counts as `unsupported`), never from the request text.
fn record_token_outcome(form: &Params, result: &Result<Value, OAuthError>) {
    match result {
        Ok(_) => {
            let grant_type = form
                .iter()
                .find(|(name, _)| name == "grant_type")
                .and_then(|(_, grant)| grant.parse::<GrantType>().ok())
                .map_or("unsupported", |grant| grant.as_str());
            metrics::counter!("gatehouse_tokens_issued_total", "grant_type" => grant_type)
                .increment(1);
        }
        Err(err) => {
            metrics::counter!("gatehouse_token_errors_total", "error" => err.code.as_str())
                .increment(1);
        }
    }
}

/// `a, b or c` from [`GrantType::ALL`], for the `unsupported_grant_type` description.
fn supported_grant_types() -> String {
    let names: Vec<&str> = GrantType::ALL.iter().map(GrantType::as_str).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unsupported_grant_description_lists_every_grant() {
        assert_eq!(
            supported_grant_types(),
            "authorization_code, refresh_token, client_credentials, \
             urn:ietf:params:oauth:grant-type:device_code or \
             urn:ietf:params:oauth:grant-type:token-exchange"
        );
    }
}
