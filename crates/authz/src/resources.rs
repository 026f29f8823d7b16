//! Resource indicators (RFC 8707): which APIs a token is for.
//!
//! A client is registered with the resources it may ask for (`Client::resources`). A request
//! names them with `resource` (repeatable); each must be an absolute URI without a fragment
//! (§2) and registered for the client, else `invalid_target` (§2). The resources become the
//! access token's `aud`. Without `resource`, tokens keep their default audience (the issuer).

use gatehouse_identity::{Client, validate_resource};

use crate::error::OAuthError;
use crate::params::ParamMap;

/// The `resource` values of `params`, checked against the client's registration.
pub(crate) fn requested(params: &ParamMap<'_>, client: &Client) -> Result<Vec<String>, OAuthError> {
    let mut resources = Vec::new();
    for resource in params.all("resource") {
        if let Err(reason) = validate_resource(resource) {
            return Err(OAuthError::invalid_target(format!("resource {reason}")));
        }
        if !client.resources.iter().any(|allowed| allowed == resource) {
            return Err(OAuthError::invalid_target(
                "the client is not registered for this resource",
            ));
        }
        resources.push(resource.to_owned());
    }
    Ok(resources)
}
