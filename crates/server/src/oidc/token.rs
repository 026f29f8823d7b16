//! `POST /token` (RFC 6749 §3.2), `POST /introspect` (RFC 7662 §2) and `POST /revoke` (RFC 7009 §2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::{client_credentials, oauth_error_response, read_form};
use crate::app::AppState;

pub async fn token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let form = match read_form(&req, body).await {
        Ok(form) => form,
        Err(err) => return oauth_error_response(&err),
    };
    let result = state
        .authz
        .token(&form, client_credentials(&req), state.clock.now())
        .await;
    match result {
        // RFC 6749 §5.1: token responses MUST NOT be cached.
        Ok(body) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"))
            .json(body),
        Err(err) => oauth_error_response(&err),
    }
}

pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form = match read_form(&req, body).await {
        Ok(form) => form,
        Err(err) => return oauth_error_response(&err),
    };
    match state
        .authz
        .introspect(&form, client_credentials(&req), state.clock.now())
        .await
    {
        Ok(body) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(body),
        Err(err) => oauth_error_response(&err),
    }
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form = match read_form(&req, body).await {
        Ok(form) => form,
        Err(err) => return oauth_error_response(&err),
    };
    match state
        .authz
        .revoke(&form, client_credentials(&req), state.clock.now())
        .await
    {
        // RFC 7009 §2.2: 200 whether or not the token was valid.
        Ok(()) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        Err(err) => oauth_error_response(&err),
    }
}
