//! The OpenID Provider's HTTP surface: discovery, JWKS, authorize, token, userinfo, introspection,
//! revocation, RP-initiated logout and the device authorization grant. Handlers only translate
//! HTTP to `gatehouse_authz` calls and results back; the protocol rules live in that crate.

mod authorize;
mod device;
pub mod discovery;
mod logout;
mod token;
mod userinfo;

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_authz::{ClientCredentials, ErrorCode, OAuthError, Params};

use crate::routing::{Surface, resource};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/.well-known/openid-configuration", Surface::Json)
            .get(discovery::openid_configuration),
    )
    .service(
        resource("/.well-known/oauth-authorization-server", Surface::Json)
            .get(discovery::openid_configuration),
    )
    .service(resource("/jwks.json", Surface::Json).get(discovery::jwks))
    // A browser is sent to /authorize and /logout, so a wrong method there gets the HTML page.
    .service(
        resource("/authorize", Surface::Page)
            .get_without_head(authorize::get)
            .post(authorize::post),
    )
    .service(resource("/token", Surface::OAuth).post(token::token))
    // RFC 8628: the device's endpoint, and the page its user opens in a browser.
    .service(resource("/device_authorization", Surface::OAuth).post(device::authorization))
    .service(
        resource("/device", Surface::Page)
            .get(device::show)
            .post(device::submit),
    )
    .service(resource("/introspect", Surface::OAuth).post(token::introspect))
    .service(resource("/revoke", Surface::OAuth).post(token::revoke))
    .service(
        resource("/userinfo", Surface::OAuth)
            .get_without_head(userinfo::userinfo)
            .post(userinfo::userinfo),
    )
    .service(
        resource("/logout", Surface::Page)
            .get_without_head(logout::get)
            .post(logout::post),
    );
}

/// Largest form body the protocol endpoints read.
const MAX_FORM: usize = 16 * 1024;

/// A browser form body (consent, logout) up to `MAX_FORM`, or an HTML error page.
async fn read_page_form(payload: web::Payload) -> Result<Params, crate::pages::PageError> {
    crate::body::read_limited(payload, MAX_FORM)
        .await
        .map(|body| parse_params(&body))
        .map_err(|err| crate::pages::PageError::bad_request(err.to_string()))
}

/// Removes every `name` parameter (our own form fields, not part of the protocol request) and
/// returns the first value.
fn take_param(params: &mut Params, name: &str) -> Option<String> {
    let first = params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone());
    params.retain(|(k, _)| k != name);
    first
}

pub(crate) fn parse_params(raw: &[u8]) -> Params {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

pub(crate) fn invalid_request(description: impl Into<String>) -> OAuthError {
    OAuthError {
        code: ErrorCode::InvalidRequest,
        description: description.into(),
        basic_attempted: false,
    }
}

/// Reads an `application/x-www-form-urlencoded` body (RFC 6749 §3.2 requires that type at the
/// token endpoint; RFC 7009 and RFC 7662 use it too).
async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Params, OAuthError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    let body = crate::body::read_limited(payload, MAX_FORM)
        .await
        .map_err(|err| invalid_request(err.to_string()))?;
    Ok(parse_params(&body))
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: the id and secret are
/// form-urlencoded before base64).
fn client_credentials(req: &HttpRequest) -> ClientCredentials {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return ClientCredentials::None;
    };
    let Ok(value) = value.to_str() else {
        return ClientCredentials::MalformedBasic;
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return ClientCredentials::MalformedBasic;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return ClientCredentials::MalformedBasic;
    }
    let decoded = match STANDARD.decode(encoded.trim()) {
        Ok(bytes) => bytes,
        Err(_) => return ClientCredentials::MalformedBasic,
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return ClientCredentials::MalformedBasic;
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return ClientCredentials::MalformedBasic;
    };
    let unescape = |s: &str| -> Option<String> {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    match (unescape(id), unescape(secret)) {
        (Some(client_id), Some(client_secret)) if !client_id.is_empty() => {
            ClientCredentials::Basic {
                client_id,
                client_secret,
            }
        }
        _ => ClientCredentials::MalformedBasic,
    }
}

/// An OAuth error as RFC 6749 §5.2 JSON, with `WWW-Authenticate` where the RFC requires it.
fn oauth_error_response(err: &OAuthError) -> HttpResponse {
    if err.code == ErrorCode::ServerError {
        tracing::error!(error = %err, "protocol endpoint failed");
    }
    let status = actix_web::http::StatusCode::from_u16(err.status())
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let mut response = HttpResponse::build(status);
    response
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    if let Some(challenge) = err.www_authenticate() {
        response.insert_header(("WWW-Authenticate", challenge));
    }
    response.json(err.body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(value: &str) -> ClientCredentials {
        let req = actix_web::test::TestRequest::default()
            .insert_header((AUTHORIZATION, value))
            .to_http_request();
        client_credentials(&req)
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "my%20app:p%3Ass" → id "my app", secret "p:ss"
        let encoded = STANDARD.encode("my%20app:p%3Ass");
        match basic(&format!("Basic {encoded}")) {
            ClientCredentials::Basic {
                client_id,
                client_secret,
            } => {
                assert_eq!(client_id, "my app");
                assert_eq!(client_secret, "p:ss");
            }
            _ => panic!("expected Basic"),
        }
        assert!(matches!(
            basic("Basic !!!"),
            ClientCredentials::MalformedBasic
        ));
        assert!(matches!(
            basic(&format!("Basic {}", STANDARD.encode("no-colon"))),
            ClientCredentials::MalformedBasic
        ));
        assert!(matches!(
            basic("Bearer abc"),
            ClientCredentials::MalformedBasic
        ));
    }
}
