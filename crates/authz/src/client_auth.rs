//! Client authentication at the token, introspection and revocation endpoints.
//!
//! - RFC 6749 §2.3.1: HTTP Basic (`client_secret_basic`, the one servers MUST support) or the
//!   form fields `client_id`/`client_secret` (`client_secret_post`); "The client MUST NOT use
//!   more than one authentication method in each request" → `invalid_request`.
//! - OIDC Core §9 / RFC 7591 §2: each client authenticates with the method it registered;
//!   another method is refused like a wrong secret.
//! - RFC 6749 §3.2.1 / §4.1.3: a public client (`none`) identifies itself with `client_id`.
//! - RFC 6749 §5.2: every failure is `invalid_client` (401), with no hint of which part was
//!   wrong (unknown id, wrong secret, wrong method), so client ids cannot be probed.

use std::fmt;
use std::sync::Arc;

use gatehouse_identity::{Client, TokenEndpointAuthMethod};

use crate::error::OAuthError;
use crate::params::{ParamMap, Params};
use crate::registrar::ClientRegistrar;
use crate::service::Authz;

/// What the server found in the `Authorization` header.
#[derive(Clone)]
pub enum ClientCredentials {
    /// No `Authorization` header.
    None,
    /// `Basic`, with id and secret already form-urlencoding-decoded (RFC 6749 §2.3.1).
    Basic {
        client_id: String,
        client_secret: String,
    },
    /// A `Basic` header that could not be decoded.
    MalformedBasic,
}

/// Written by hand so the secret never reaches a log.
impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { client_id, .. } => f
                .debug_struct("Basic")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
            Self::MalformedBasic => f.write_str("MalformedBasic"),
        }
    }
}

const BAD_CLIENT: &str = "client authentication failed";

/// The client a request authenticated as. `form` is the request body (already checked for
/// repeated parameters).
/// The common start of every client-authenticated endpoint (token, introspection, revocation):
/// parameters must not repeat (RFC 6749 §3.2), then the client authenticates.
pub(crate) async fn authenticated_form<'a>(
    authz: &Authz,
    form: &'a Params,
    auth: &ClientCredentials,
) -> Result<(ParamMap<'a>, Arc<Client>), OAuthError> {
    let form = ParamMap::new(form);
    if let Some(name) = form.first_duplicate() {
        return Err(
            OAuthError::invalid_request(format!("parameter {name} is repeated"))
                .with_basic_attempted(!matches!(auth, ClientCredentials::None)),
        );
    }
    let client = authenticate(authz, &form, auth).await?;
    Ok((form, client))
}

pub(crate) async fn authenticate(
    authz: &Authz,
    form: &ParamMap<'_>,
    auth: &ClientCredentials,
) -> Result<Arc<Client>, OAuthError> {
    let basic_attempted = !matches!(auth, ClientCredentials::None);
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");

    let (client_id, secret, method) = match auth {
        ClientCredentials::MalformedBasic => {
            return Err(OAuthError::invalid_client(BAD_CLIENT).with_basic_attempted(true));
        }
        ClientCredentials::Basic {
            client_id,
            client_secret,
        } => {
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: HTTP Basic or client_secret in the body, not both",
                )
                .with_basic_attempted(true));
            }
            // A `client_id` in the body alongside Basic is tolerated only when it agrees.
            if form_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body does not match the HTTP Basic credentials",
                )
                .with_basic_attempted(true));
            }
            (
                client_id.as_str(),
                Some(client_secret.as_str()),
                TokenEndpointAuthMethod::ClientSecretBasic,
            )
        }
        ClientCredentials::None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => {
                (id, Some(secret), TokenEndpointAuthMethod::ClientSecretPost)
            }
            (Some(id), None) => (id, None, TokenEndpointAuthMethod::None),
            (None, _) => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ));
            }
        },
    };

    let fail = || OAuthError::invalid_client(BAD_CLIENT).with_basic_attempted(basic_attempted);
    let client = authz
        .find_client(client_id)
        .await
        .map_err(|e| e.with_basic_attempted(basic_attempted))?;
    let Some(client) = client else {
        return Err(fail());
    };
    if client.token_endpoint_auth_method != method {
        return Err(fail());
    }
    if !ClientRegistrar::new(&client, authz.secrets()).authenticates(secret) {
        return Err(fail());
    }
    Ok(client)
}
