//! `GET|POST /userinfo` (OIDC Core §5.3) behind a bearer token (RFC 6750 §2.1 header or §2.2
//! form body; the query-string method is not supported, as RFC 9700 §2.4 advises).

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_authz::{BearerError, ErrorCode};

use super::parse_params;
use crate::app::AppState;

fn bearer_error(err: &BearerError) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNAUTHORIZED))
        .insert_header(("WWW-Authenticate", err.www_authenticate()))
        .insert_header(("Cache-Control", "no-store"))
        .json(err.body())
}

fn invalid_request(description: &str) -> BearerError {
    BearerError {
        code: Some(ErrorCode::InvalidRequest),
        description: description.to_owned(),
    }
}

/// The access token from exactly one of the allowed places (RFC 6750 §2: a client MUST NOT use
/// more than one method in a request).
fn extract_token(req: &HttpRequest, body: &[u8]) -> Result<String, BearerError> {
    let header = match req.headers().get(AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| invalid_request("malformed Authorization header"))?;
            match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim().to_owned())
                }
                _ => return Err(invalid_request("the Authorization scheme must be Bearer")),
            }
        }
    };
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let form_token = if is_form && req.method() == actix_web::http::Method::POST {
        let tokens: Vec<String> = parse_params(body)
            .into_iter()
            .filter(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
            .collect();
        if tokens.len() > 1 {
            return Err(invalid_request("access_token appears more than once"));
        }
        tokens.into_iter().next()
    } else {
        None
    };
    match (header, form_token) {
        (Some(_), Some(_)) => Err(invalid_request(
            "send the access token in the header or the body, not both",
        )),
        (Some(token), None) | (None, Some(token)) if !token.is_empty() => Ok(token),
        _ => Err(BearerError {
            code: None,
            description: "an access token is required".to_owned(),
        }),
    }
}

pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let body = match crate::body::read_limited(body, super::MAX_FORM).await {
        Ok(body) => body,
        Err(err) => return bearer_error(&invalid_request(&err.to_string())),
    };
    let token = match extract_token(&req, &body) {
        Ok(token) => token,
        Err(err) => return bearer_error(&err),
    };
    match state.authz.userinfo(&token, state.clock.now()).await {
        Ok(claims) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(claims),
        Err(err) => bearer_error(&err),
    }
}
