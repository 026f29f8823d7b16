//! Resource indicators (RFC 8707): which APIs a token is for.
//!
//! A client is registered with the resources it may ask for (`Client::resources`). A request
//! names them with `resource` (repeatable); each must be an absolute URI without a fragment
//! (§2) and registered for the client, else `invalid_target` (§2). The resources become the
//! access token's `aud`. Without `resource`, tokens keep their default audience (the issuer).
//!
//! - Authorization and device authorization requests, and `client_credentials`: checked
//!   against the client's registration ([`requested`]).
//! - Token requests that redeem a user's grant (a code, a refresh token, a device code): the
//!   user granted the resources of the authorization request, so `resource` there names where
//!   the client will use this token (§2.2) among them, else `invalid_target`; without it the
//!   token is for every granted resource ([`narrowed`]). A grant without resources is for the
//!   issuer, and a token request cannot add one to it.
//! - A resource the client is no longer registered for is not issued, whatever the grant
//!   says: an administrator's removal takes effect at the next token request
//!   ([`still_registered`]).
//! - The refresh-token family keeps every granted resource, however narrow the token that came
//!   with it, so that each refresh may ask for any of them (§2.2).
//! - A token whose `aud` does not name the issuer is not for Gatehouse's own APIs (the `bearer`
//!   module refuses it, RFC 9068 §4).

use gatehouse_identity::{Client, validate_resource};

use crate::error::OAuthError;
use crate::params::ParamMap;

/// The `resource` values of `params`, each an absolute URI without a fragment (§2), else
/// `invalid_target`.
pub(crate) fn named<'a>(params: &ParamMap<'a>) -> Result<Vec<&'a str>, OAuthError> {
    let named = params.all("resource");
    for resource in &named {
        if let Err(reason) = validate_resource(resource) {
            return Err(OAuthError::invalid_target(format!("resource {reason}")));
        }
    }
    Ok(named)
}

/// The `resource` values of `params`, checked against the client's registration.
pub(crate) fn requested(params: &ParamMap<'_>, client: &Client) -> Result<Vec<String>, OAuthError> {
    let mut resources = Vec::new();
    for resource in named(params)? {
        if !client.resources.iter().any(|allowed| allowed == resource) {
            return Err(OAuthError::invalid_target(
                "the client is not registered for this resource",
            ));
        }
        resources.push(resource.to_owned());
    }
    Ok(resources)
}

/// The audience of a token issued from a user's grant: the `named` resources (from [`named`]),
/// each one of the `granted` ones (RFC 8707 §2.2), or all of `granted` when none is named.
pub(crate) fn narrowed(named: &[&str], granted: &[String]) -> Result<Vec<String>, OAuthError> {
    if named.is_empty() {
        return Ok(granted.to_vec());
    }
    let mut resources = Vec::with_capacity(named.len());
    for resource in named {
        if !granted.iter().any(|allowed| allowed == resource) {
            return Err(OAuthError::invalid_target(
                "the resource was not granted in the authorization request",
            ));
        }
        resources.push((*resource).to_owned());
    }
    Ok(resources)
}

/// Refuses (`invalid_target`) an audience naming a resource the client is no longer registered
/// for: a grant made before an administrator removed it must not outlive the removal.
pub(crate) fn still_registered(audience: &[String], client: &Client) -> Result<(), OAuthError> {
    match audience
        .iter()
        .find(|resource| !client.resources.contains(resource))
    {
        Some(resource) => Err(OAuthError::invalid_target(format!(
            "the client is no longer registered for the resource {resource}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::params::Params;

    fn params(resources: &[&str]) -> Params {
        resources
            .iter()
            .map(|r| ("resource".to_owned(), (*r).to_owned()))
            .collect()
    }

    fn granted() -> Vec<String> {
        ["https://api.example.test/", "https://files.example.test/"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn without_resource_the_whole_grant_is_the_audience() {
        assert_eq!(narrowed(&[], &granted()).unwrap(), granted());
        assert!(narrowed(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn a_resource_must_be_one_of_the_grant() {
        assert_eq!(
            narrowed(&["https://files.example.test/"], &granted()).unwrap(),
            ["https://files.example.test/"]
        );
        for other in ["https://other.example.test/", "https://api.example.test"] {
            let err = narrowed(&[other], &granted()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidTarget, "{other}");
        }
        // Nothing granted: no resource can be asked for at the token endpoint.
        let err = narrowed(&["https://api.example.test/"], &[]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
    }

    #[test]
    fn a_named_resource_is_an_absolute_uri_without_fragment() {
        let p = params(&["https://api.example.test/", "", "https://api.example.test/"]);
        assert_eq!(
            named(&ParamMap::new(&p)).unwrap(),
            ["https://api.example.test/"]
        );
        for bad in [
            "/relative",
            "api",
            "https://api.example.test/#frag",
            "https://a b/",
        ] {
            let p = params(&["https://api.example.test/", bad]);
            let err = named(&ParamMap::new(&p)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidTarget, "{bad}");
        }
    }
}
