//! `POST /token` (RFC 6749 §3.2), `POST /introspect` (RFC 7662 §2) and `POST /revoke` (RFC 7009 §2).
//!
//! Rate limits (`[rate_limits]`, RFC 6585 §4), counted without a store round trip per request
//! (`gatehouse_sessions::rate_limit::BatchedLimiter`):
//! - `/token` per client IP (`token_per_ip`), counted before anything is read; a failed client
//!   authentication counts `token_failed_client_auth_weight` in all.
//! - `/token` and `/introspect` per client (`token_per_client`, `introspect_per_client`),
//!   counted once the client has authenticated, so that nobody spends a client's budget by
//!   naming it; a client over its budget is refused before any work.
//!
//! A refused request gets 429 with `Retry-After` and `Cache-Control: no-store`, and the OAuth
//! error body with `temporarily_unavailable` (RFC 6749 §5.2 has no code for "too many"; this is
//! the one that tells a client to come back later).

use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_authz::{ClientCredentials, ErrorCode, OAuthError, Params};

use super::{client_credentials, oauth_error_response, read_form};
use crate::app::{AppState, HotLimited};
use crate::client_ip::{client_ip, rate_limit_subject};

/// Every answer of these endpoints carries tokens or token metadata: never cached.
const NO_STORE: (&str, &str) = ("Cache-Control", "no-store");

fn respond(result: Result<HttpResponse, OAuthError>) -> HttpResponse {
    result.unwrap_or_else(|err| oauth_error_response(&err))
}

/// 429 (RFC 6585 §4) in the OAuth error format, never cached.
fn too_many_requests(retry_after_secs: u64, whose: &str) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header(NO_STORE)
        .insert_header(("Pragma", "no-cache"))
        .insert_header((RETRY_AFTER, retry_after_secs))
        .json(serde_json::json!({
            "error": ErrorCode::TemporarilyUnavailable.as_str(),
            "error_description": format!(
                "too many requests {whose}; retry after {retry_after_secs} s (Retry-After)"
            ),
        }))
}

/// The client a request names: the HTTP Basic id, else the body's `client_id`. Only trusted
/// once the request has authenticated ([`authenticated`]).
fn claimed_client_id(auth: &ClientCredentials, form: &Params) -> Option<String> {
    match auth {
        ClientCredentials::Basic { client_id, .. } => Some(client_id.clone()),
        ClientCredentials::MalformedBasic => None,
        ClientCredentials::None => form
            .iter()
            .find(|(name, _)| name == "client_id")
            .map(|(_, value)| value.clone()),
    }
}

/// Whether the answer proves the client authenticated: a success, or an error that the
/// endpoints only give after client authentication (`gatehouse_authz::client_auth` answers
/// `invalid_client` or `invalid_request`, and a lookup failure is `server_error` or
/// `temporarily_unavailable`).
fn authenticated<T>(result: &Result<T, OAuthError>) -> bool {
    match result {
        Ok(_) => true,
        Err(err) => !matches!(
            err.code,
            ErrorCode::InvalidRequest
                | ErrorCode::InvalidClient
                | ErrorCode::ServerError
                | ErrorCode::TemporarilyUnavailable
        ),
    }
}

pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let now = state.clock.now();
    let limits = &state.rate_limits;
    let address = client_ip(&req).map_or_else(|| "unknown".to_owned(), rate_limit_subject);
    if let Some(retry_after) = limits.take(HotLimited::TokenIp, &address, 1, now).await {
        return too_many_requests(retry_after, "from this address");
    }
    let form = match read_form(&req, body).await {
        Ok(form) => form,
        Err(err) => return oauth_error_response(&err),
    };
    let auth = client_credentials(&req);
    let claimed = claimed_client_id(&auth, &form);
    if let Some(retry_after) = claimed
        .as_deref()
        .and_then(|client_id| limits.blocked(HotLimited::TokenClient, client_id, now))
    {
        return too_many_requests(retry_after, "for this client");
    }
    let ctx = crate::browser::request_context(&req);
    let result = state.authz.token_in_context(&form, auth, &ctx, now).await;
    match (&result, claimed.as_deref()) {
        (Err(err), _) if err.code == ErrorCode::InvalidClient => {
            let extra = limits.failed_client_auth_weight().saturating_sub(1);
            if extra > 0 {
                limits.take(HotLimited::TokenIp, &address, extra, now).await;
            }
        }
        (result, Some(client_id)) if authenticated(result) => {
            limits
                .take(HotLimited::TokenClient, client_id, 1, now)
                .await;
        }
        _ => {}
    }
    respond(result.map(|tokens| {
        // RFC 6749 §5.1: token responses MUST NOT be cached.
        HttpResponse::Ok()
            .insert_header(NO_STORE)
            .insert_header(("Pragma", "no-cache"))
            .json(tokens)
    }))
}

pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let now = state.clock.now();
    let limits = &state.rate_limits;
    let form = match read_form(&req, body).await {
        Ok(form) => form,
        Err(err) => return oauth_error_response(&err),
    };
    let auth = client_credentials(&req);
    let claimed = claimed_client_id(&auth, &form);
    if let Some(retry_after) = claimed
        .as_deref()
        .and_then(|client_id| limits.blocked(HotLimited::IntrospectClient, client_id, now))
    {
        return too_many_requests(retry_after, "for this client");
    }
    let result = state.authz.introspect(&form, auth, now).await;
    if let (true, Some(client_id)) = (authenticated(&result), claimed.as_deref()) {
        limits
            .take(HotLimited::IntrospectClient, client_id, 1, now)
            .await;
    }
    respond(result.map(|answer| HttpResponse::Ok().insert_header(NO_STORE).json(answer)))
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    respond(
        async {
            let form = read_form(&req, body).await?;
            state
                .authz
                .revoke(&form, client_credentials(&req), state.clock.now())
                .await?;
            // RFC 7009 §2.2: 200 whether or not the token was valid.
            Ok(HttpResponse::Ok().insert_header(NO_STORE).finish())
        }
        .await,
    )
}
