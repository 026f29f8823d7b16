//! `POST /token` (RFC 6749 §3.2), `POST /introspect` (RFC 7662 §2) and `POST /revoke` (RFC 7009 §2).

use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_authz::OAuthError;

use super::{client_credentials, oauth_error_response, read_form};
use crate::app::AppState;

/// Every answer of these endpoints carries tokens or token metadata: never cached.
const NO_STORE: (&str, &str) = ("Cache-Control", "no-store");

fn respond(result: Result<HttpResponse, OAuthError>) -> HttpResponse {
    result.unwrap_or_else(|err| oauth_error_response(&err))
}

pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    respond(
        async {
            let form = read_form(&req, body).await?;
            let ctx = crate::browser::request_context(&req);
            let tokens = state
                .authz
                .token_in_context(&form, client_credentials(&req), &ctx, state.clock.now())
                .await?;
            // RFC 6749 §5.1: token responses MUST NOT be cached.
            Ok(HttpResponse::Ok()
                .insert_header(NO_STORE)
                .insert_header(("Pragma", "no-cache"))
                .json(tokens))
        }
        .await,
    )
}

pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    respond(
        async {
            let form = read_form(&req, body).await?;
            let answer = state
                .authz
                .introspect(&form, client_credentials(&req), state.clock.now())
                .await?;
            Ok(HttpResponse::Ok().insert_header(NO_STORE).json(answer))
        }
        .await,
    )
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
