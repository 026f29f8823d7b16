//! Token exchange (RFC 8693): being written.

use chrono::{DateTime, Utc};
use gatehouse_identity::Client;

use super::TokenResponse;
use crate::error::OAuthError;
use crate::params::ParamMap;
use crate::service::Authz;

impl Authz {
    pub(super) async fn exchange_token(
        &self,
        _form: &ParamMap<'_>,
        _client: &Client,
        _now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        Err(OAuthError::unauthorized_client(
            "token exchange is not implemented yet",
        ))
    }
}
