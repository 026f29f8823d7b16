//! Validating an RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0 §2–3).
//!
//! Only validation lives here; ending the browser session is the server's job.
//!
//! - `id_token_hint` (§2): RECOMMENDED; "the OP MUST validate that it was the issuer of the ID
//!   Token" — signature by one of our published keys and `iss` — and SHOULD accept it "even
//!   when the exp time has passed", so expiry is not checked. Its `aud` names the client and
//!   its `sub`/`sid` which login the RP means.
//! - `client_id` (§2): when both are present they must agree.
//! - `post_logout_redirect_uri` (§2, §3): only used if it exactly matches one registered for
//!   the client, which therefore has to be known (from `client_id` or the hint). Anything else
//!   is an error page, never a redirect — the same open-redirect rule as RFC 6749 §4.1.2.1.
//! - `state` (§2, §3): appended to the redirect. `ui_locales` and `logout_hint` are ignored.
//! - Repeated parameters are refused (the request is form/query encoded as in RFC 6749 §3.1).
//!
//! Every refusal is an `invalid_request` [`OAuthError`] whose description the server shows on
//! its error page; a client that could not be looked up keeps its own code
//! (`temporarily_unavailable` when the database is down), so it is not shown as a bad request.

use chrono::{DateTime, Utc};
use gatehouse_tokens::{Validation, verify_id_token};

use crate::error::OAuthError;
use crate::params::{ParamMap, Params, append_query};
use crate::service::Authz;

/// What the server needs to end the session and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub client_id: Option<String>,
    /// `post_logout_redirect_uri` with `state` appended, only if registered for the client.
    pub redirect: Option<String>,
    /// `sub` of the `id_token_hint`: the server should only end a session of this user.
    pub hinted_subject: Option<String>,
    /// `sid` of the `id_token_hint`.
    pub hinted_sid: Option<String>,
}

/// Leeway that makes `exp` irrelevant: hints are accepted however long ago they expired.
const ANY_EXPIRY: i64 = i64::MAX;

impl Authz {
    /// Validates an RP-initiated logout request. A refused request is `invalid_request` with a
    /// description for the HTML error page.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn logout_request(
        &self,
        params: &Params,
        now: DateTime<Utc>,
    ) -> Result<LogoutRequest, OAuthError> {
        let params = ParamMap::new(params);
        if let Some(name) = params.first_duplicate() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }

        let hint = params
            .get("id_token_hint")
            .map(|hint| {
                let issuer = self.settings().issuer.as_str();
                let validation = Validation {
                    leeway_secs: ANY_EXPIRY,
                    ..Validation::new(issuer, now.timestamp())
                };
                verify_id_token(hint, &self.key_set(), &validation).map_err(|err| {
                    tracing::debug!(%err, "logout: id_token_hint refused");
                    OAuthError::invalid_request(
                        "id_token_hint is not a valid ID token from this server",
                    )
                })
            })
            .transpose()?;
        let hinted_client = hint
            .as_ref()
            .and_then(|claims| match claims.aud.as_slice() {
                [single] => Some(single.clone()),
                _ => claims.azp.clone(),
            });

        let client_id = match (params.get("client_id"), hinted_client) {
            (Some(given), Some(hinted)) if given != hinted => {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the id_token_hint",
                ));
            }
            (Some(given), _) => Some(given.to_owned()),
            (None, hinted) => hinted,
        };
        let client = match &client_id {
            None => None,
            Some(id) => match self.find_client(id).await {
                Ok(Some(client)) => Some(client),
                Ok(None) => return Err(OAuthError::invalid_request("unknown client_id")),
                Err(err) => return Err(err),
            },
        };

        let redirect = match params.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => {
                let Some(client) = &client else {
                    return Err(OAuthError::invalid_request(
                        "post_logout_redirect_uri requires client_id or id_token_hint",
                    ));
                };
                if !client.post_logout_redirect_uris.iter().any(|r| r == uri) || uri.contains('#') {
                    return Err(OAuthError::invalid_request(
                        "post_logout_redirect_uri is not registered for this client",
                    ));
                }
                Some(match params.get("state") {
                    None => uri.to_owned(),
                    Some(state) => {
                        let mut query = url::form_urlencoded::Serializer::new(String::new());
                        query.append_pair("state", state);
                        append_query(uri, &query.finish())
                    }
                })
            }
        };

        Ok(LogoutRequest {
            client_id,
            redirect,
            hinted_subject: hint.as_ref().map(|claims| claims.sub.clone()),
            hinted_sid: hint.and_then(|claims| claims.sid),
        })
    }
}
