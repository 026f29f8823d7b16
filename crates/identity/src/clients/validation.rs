//! The rules a client registration must pass, each failure naming the `NewClient` field at fault.
//!
//! Redirect URIs: absolute, without a fragment (RFC 6749 §3.1.2), and `http`, `https` or a
//! private-use scheme in reverse-domain form for native apps (RFC 8252 §7.1). Scopes: RFC 6749
//! §3.3 scope-tokens. Public clients: no secret, no `client_credentials` (RFC 6749 §4.4 needs
//! client authentication), token endpoint auth method `none`.
//!
//! Back-channel logout URI (OpenID Connect Back-Channel Logout 1.0 §2.2): absolute, no
//! fragment, `https`. The spec lets an OP allow `http`; we do so only for a loopback host
//! (`localhost`, `127.0.0.0/8`, `[::1]`), where no one else can read the logout token on the
//! way: development and tests. `backchannel_logout_session_required` needs the URI.

use super::{ClientError, ClientType, GrantType, NewClient, TokenEndpointAuthMethod};

pub(crate) const NAME_MAX_CHARS: usize = 100;
pub(crate) const DEFAULT_GRANT_TYPES: [GrantType; 2] =
    [GrantType::AuthorizationCode, GrantType::RefreshToken];
pub(crate) const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
pub(crate) const ID_TOKEN_ALGS: [&str; 2] = ["RS256", "ES256"];

/// A registration with its defaults applied and repeats removed (first occurrence kept).
#[derive(Debug)]
pub(crate) struct ValidClient {
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub id_token_signed_response_alg: String,
    pub backchannel_logout_uri: Option<String>,
    pub resources: Vec<String>,
    pub exchange_audiences: Vec<String>,
}

/// Most resources or exchange audiences one client may register.
pub(crate) const TARGETS_MAX: usize = 50;
/// Longest resource URI or exchange audience.
pub(crate) const TARGET_MAX_CHARS: usize = 255;

pub(crate) fn validate(new: &NewClient) -> Result<ValidClient, ClientError> {
    validate_name(&new.name)?;
    let client_type = new.client_type.unwrap_or(ClientType::Confidential);

    let grant_types = if new.grant_types.is_empty() {
        DEFAULT_GRANT_TYPES.to_vec()
    } else {
        dedup(&new.grant_types)
    };
    if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(ClientError::invalid(
            "grant_types",
            "a public client cannot use client_credentials: it has no credentials",
        ));
    }

    let token_endpoint_auth_method = match (client_type, new.token_endpoint_auth_method) {
        (ClientType::Confidential, None) => TokenEndpointAuthMethod::ClientSecretBasic,
        (ClientType::Public, None | Some(TokenEndpointAuthMethod::None)) => {
            TokenEndpointAuthMethod::None
        }
        (ClientType::Confidential, Some(TokenEndpointAuthMethod::None)) => {
            return Err(ClientError::invalid(
                "token_endpoint_auth_method",
                "`none` is only for public clients",
            ));
        }
        (ClientType::Confidential, Some(method)) => method,
        (ClientType::Public, Some(method)) => {
            return Err(ClientError::invalid(
                "token_endpoint_auth_method",
                format!(
                    "a public client has no secret, so it cannot use `{}`: it must be `none`",
                    method.as_str()
                ),
            ));
        }
    };

    let redirect_uris = validate_uris("redirect_uris", &new.redirect_uris)?;
    if redirect_uris.is_empty() && grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(ClientError::invalid(
            "redirect_uris",
            "at least one is required for the authorization_code grant",
        ));
    }
    let post_logout_redirect_uris =
        validate_uris("post_logout_redirect_uris", &new.post_logout_redirect_uris)?;

    let scopes = if new.scopes.is_empty() {
        DEFAULT_SCOPES.map(str::to_owned).to_vec()
    } else {
        for scope in &new.scopes {
            validate_scope_token(scope)
                .map_err(|message| ClientError::invalid("scopes", message))?;
        }
        dedup(&new.scopes)
    };

    let id_token_signed_response_alg = match new.id_token_signed_response_alg.as_deref() {
        None => ID_TOKEN_ALGS[0].to_owned(),
        Some(alg) if ID_TOKEN_ALGS.contains(&alg) => alg.to_owned(),
        Some(alg) => {
            return Err(ClientError::invalid(
                "id_token_signed_response_alg",
                format!("`{alg}` is not supported: use RS256 or ES256"),
            ));
        }
    };

    let backchannel_logout_uri = match new.backchannel_logout_uri.as_deref() {
        Some(uri) => {
            validate_backchannel_logout_uri(uri).map_err(|reason| {
                ClientError::invalid("backchannel_logout_uri", format!("`{uri}` {reason}"))
            })?;
            Some(uri.to_owned())
        }
        None if new.backchannel_logout_session_required => {
            return Err(ClientError::invalid(
                "backchannel_logout_session_required",
                "needs a backchannel_logout_uri to send the session id to",
            ));
        }
        None => None,
    };

    let resources = validate_targets("resources", &new.resources, |resource| {
        validate_resource(resource)
    })?;
    let exchange_audiences =
        validate_targets("exchange_audiences", &new.exchange_audiences, |audience| {
            validate_exchange_audience(audience)
        })?;
    if grant_types.contains(&GrantType::TokenExchange) {
        // RFC 8693 §2.1 leaves client authentication to the server; a public client could be
        // anyone, so exchanging another party's token is for confidential clients only.
        if client_type == ClientType::Public {
            return Err(ClientError::invalid(
                "grant_types",
                "a public client cannot use token exchange: it cannot authenticate",
            ));
        }
        if exchange_audiences.is_empty() {
            return Err(ClientError::invalid(
                "exchange_audiences",
                "token exchange needs at least one audience the client may ask for",
            ));
        }
    } else {
        if !exchange_audiences.is_empty() {
            return Err(ClientError::invalid(
                "exchange_audiences",
                "only for a client with the token-exchange grant",
            ));
        }
        if new.allow_impersonation {
            return Err(ClientError::invalid(
                "allow_impersonation",
                "only for a client with the token-exchange grant",
            ));
        }
    }

    Ok(ValidClient {
        client_type,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        token_endpoint_auth_method,
        id_token_signed_response_alg,
        backchannel_logout_uri,
        resources,
        exchange_audiences,
    })
}

/// At most [`TARGETS_MAX`] entries of at most [`TARGET_MAX_CHARS`] characters, each passing
/// `check`; repeats removed.
fn validate_targets(
    field: &'static str,
    targets: &[String],
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, ClientError> {
    if targets.len() > TARGETS_MAX {
        return Err(ClientError::invalid(
            field,
            format!("at most {TARGETS_MAX} are allowed"),
        ));
    }
    for target in targets {
        if target.chars().count() > TARGET_MAX_CHARS {
            return Err(ClientError::invalid(
                field,
                format!("each must be at most {TARGET_MAX_CHARS} characters long"),
            ));
        }
        check(target)
            .map_err(|reason| ClientError::invalid(field, format!("`{target}` {reason}")))?;
    }
    Ok(dedup(targets))
}

/// RFC 8707 §2: "an absolute URI, as specified by Section 4.3 of RFC 3986", which "MUST NOT
/// include a fragment component". Kept as written: requests must name it exactly.
pub fn validate_resource(resource: &str) -> Result<(), String> {
    parse_registered_uri(resource, "RFC 8707 §2").map(|_| ())
}

/// RFC 8693 §2.1 `audience`: "the logical name of the target service"; ours are client ids
/// (printable ASCII without spaces) or resource URIs.
fn validate_exchange_audience(audience: &str) -> Result<(), String> {
    if audience.contains(':') {
        return validate_resource(audience);
    }
    if audience.is_empty() || !audience.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err("must be a client id or an absolute URI".to_owned());
    }
    Ok(())
}

/// Shown on the consent page, so it must be something a person can read.
fn validate_name(name: &str) -> Result<(), ClientError> {
    let length = name.chars().count();
    if name.trim().is_empty() || length > NAME_MAX_CHARS {
        return Err(ClientError::invalid(
            "name",
            format!("must be 1 to {NAME_MAX_CHARS} characters long and not blank"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ClientError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn validate_uris(field: &'static str, uris: &[String]) -> Result<Vec<String>, ClientError> {
    for uri in uris {
        validate_redirect_uri(uri)
            .map_err(|reason| ClientError::invalid(field, format!("`{uri}` {reason}")))?;
    }
    Ok(dedup(uris))
}

/// An absolute URI without a fragment (`fragment_rule` cites where that is required), kept as
/// written: requests must match it exactly, so the `url` crate only judges it. It would quietly
/// strip surrounding whitespace, hence the explicit check.
fn parse_registered_uri(uri: &str, fragment_rule: &str) -> Result<url::Url, String> {
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    let parsed = match url::Url::parse(uri) {
        Ok(parsed) => parsed,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err("is not an absolute URI".to_owned());
        }
        Err(err) => return Err(format!("is not a valid URI: {err}")),
    };
    if parsed.fragment().is_some() {
        return Err(format!("must not contain a fragment ({fragment_rule})"));
    }
    Ok(parsed)
}

pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed = parse_registered_uri(uri, "RFC 6749 §3.1.2")?;
    let scheme = parsed.scheme();
    if !matches!(scheme, "http" | "https") && !scheme.contains('.') {
        return Err(format!(
            "has scheme `{scheme}`: use http, https or a private-use scheme in reverse-domain \
             form such as com.example.app (RFC 8252 §7.1)"
        ));
    }
    Ok(())
}

/// Back-Channel Logout 1.0 §2.2: "an absolute URI as defined by Section 4.3 of RFC 3986", which
/// "MUST NOT include a fragment component" and "SHOULD use the https scheme". Kept as written,
/// like redirect URIs.
pub(crate) fn validate_backchannel_logout_uri(uri: &str) -> Result<(), String> {
    let parsed = parse_registered_uri(uri, "OpenID Connect Back-Channel Logout 1.0 §2.2")?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("has no host".to_owned()),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(
            "must use https: http is only allowed for localhost and loopback addresses".to_owned(),
        ),
        other => Err(format!("has scheme `{other}`: use https")),
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, printable ASCII without
/// space, `"` and `\`.
pub(crate) fn validate_scope_token(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("a scope must not be empty".to_owned());
    }
    let allowed = |b: u8| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    if !scope.bytes().all(allowed) {
        return Err(format!(
            "`{scope}` is not a scope token: printable ASCII only, without space, '\"' and '\\'"
        ));
    }
    Ok(())
}

fn dedup<T: Clone + PartialEq>(items: &[T]) -> Vec<T> {
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !kept.contains(item) {
            kept.push(item.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_rfc_6749_and_rfc_8252() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=a",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "com.example.app:/oauth2redirect",
            "com.example.app://callback",
        ] {
            assert_eq!(validate_redirect_uri(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("/callback", "absolute"),
            ("callback", "absolute"),
            ("", "absolute"),
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://app.example.com/cb#", "fragment"),
            ("myapp:/callback", "private-use"),
            ("javascript:alert(1)", "private-use"),
            ("ftp://files.example.com/", "private-use"),
            (" https://app.example.com/cb", "whitespace"),
            ("https://app.example.com/c b", "whitespace"),
            ("https://app.example.com/cb\n", "whitespace"),
            ("http://", "valid URI"),
        ] {
            let err = validate_redirect_uri(bad).unwrap_err();
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
    }

    #[test]
    fn backchannel_logout_uris_are_https_or_loopback_http() {
        for ok in [
            "https://rp.example.com/backchannel-logout",
            "https://rp.example.com:8443/logout?tenant=a",
            "http://localhost:8080/logout",
            "http://LOCALHOST/logout",
            "http://127.0.0.1:9000/bcl",
            "http://127.1.2.3/bcl",
            "http://[::1]:9000/bcl",
        ] {
            assert_eq!(validate_backchannel_logout_uri(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("/logout", "absolute"),
            ("", "absolute"),
            ("http://rp.example.com/logout", "must use https"),
            ("http://10.0.0.1/logout", "must use https"),
            ("http://localhost.example.com/logout", "must use https"),
            ("https://rp.example.com/logout#frag", "fragment"),
            ("https://rp.example.com/logout#", "fragment"),
            ("ftp://rp.example.com/logout", "scheme `ftp`"),
            ("com.example.app:/logout", "no host"),
            ("https://rp.example.com/log out", "whitespace"),
            ("https://", "valid URI"),
        ] {
            let err = validate_backchannel_logout_uri(bad).unwrap_err();
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
    }

    #[test]
    fn scope_tokens_follow_rfc_6749_section_3_3() {
        for ok in ["openid", "offline_access", "read:all", "!#[]~", "a/b"] {
            assert_eq!(validate_scope_token(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "two words",
            "quo\"te",
            "back\\slash",
            "tab\t",
            "ünï",
            "\u{7f}",
        ] {
            assert!(validate_scope_token(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repeats_are_dropped_keeping_the_first_order() {
        assert_eq!(dedup(&["b", "a", "b", "c", "a"]), ["b", "a", "c"]);
    }
}
