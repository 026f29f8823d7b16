//! `GET|POST /logout`: OpenID Connect RP-Initiated Logout 1.0, and the account page's sign-out.
//!
//! A relying party sends `id_token_hint`, `post_logout_redirect_uri`, `state` (and optionally
//! `client_id`); the protocol core validates them. When the hint names the signed-in user the
//! session ends at once; otherwise the user confirms first (§2: the OP SHOULD ask), so a
//! third-party page cannot sign people out. A POST carrying our CSRF token is that confirmation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::{SessionEnd, SessionRef};
use gatehouse_authz::{LogoutRequest, Params};

use super::parse_params;
use crate::app::AppState;
use crate::browser::{
    SESSION_COOKIE, csrf_matches, csrf_token, current_session, expired_cookie, request_context,
};
use crate::pages::{PageError, form_page};

const LOGOUT_PARAMS: [&str; 5] = [
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "client_id",
    "logout_hint",
];

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    client_name: Option<&'a str>,
    params: &'a [(String, String)],
    csrf_token: &'a str,
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let params = parse_params(req.query_string().as_bytes());
    handle(&req, &state, params, false).await
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, PageError> {
    let mut params = super::read_page_form(body).await?;
    let confirmed = match super::take_param(&mut params, "csrf_token") {
        Some(token) if csrf_matches(&req, Some(&token)) => true,
        Some(_) => {
            return Err(PageError::forbidden(
                "The sign-out form expired. Reload the page and try again.",
            ));
        }
        None => false,
    };
    handle(&req, &state, params, confirmed).await
}

async fn handle(
    req: &HttpRequest,
    state: &AppState,
    params: Params,
    confirmed: bool,
) -> Result<HttpResponse, PageError> {
    let params: Params = params
        .into_iter()
        .filter(|(k, _)| LOGOUT_PARAMS.contains(&k.as_str()) || k == "ui_locales")
        .collect();
    let request = if params.is_empty() {
        LogoutRequest {
            client_id: None,
            redirect: None,
            hinted_subject: None,
            hinted_sid: None,
        }
    } else {
        state
            .authz
            .logout_request(&params, state.clock.now())
            .await
            .map_err(|err| {
                PageError::protocol(err.status(), "Invalid logout request", err.description)
            })?
    };
    let session = current_session(state, req).await?;
    let Some((secret, _handle, session)) = session else {
        return Ok(finish(state, request.redirect.as_deref(), false));
    };
    let hint_matches = request
        .hinted_subject
        .as_deref()
        .is_some_and(|sub| sub == session.user_id.to_string());
    if !(confirmed || hint_matches) {
        let client_name = match &request.client_id {
            Some(id) => state.authz.client_name(id).await,
            None => None,
        };
        if let Some(redirect) = &request.redirect {
            // The confirmation redirects there (CSP `form-action`).
            crate::security_headers::form_redirects_to(req, redirect);
        }
        let (token, fresh) = csrf_token(req);
        let page = ConfirmPage {
            client_name: client_name.as_deref(),
            params: &params,
            csrf_token: &token,
        };
        return form_page(state, StatusCode::OK, &page, &token, fresh);
    }
    state
        .app
        .end_session(
            SessionRef::Cookie(&secret),
            SessionEnd::SignOut,
            &request_context(req),
            state.clock.now(),
        )
        .await?;
    Ok(finish(state, request.redirect.as_deref(), true))
}

/// Back to the relying party when it registered where, else to the login page.
fn finish(state: &AppState, redirect: Option<&str>, clear_cookie: bool) -> HttpResponse {
    let mut response = HttpResponse::SeeOther()
        .insert_header(("Location", redirect.unwrap_or("/login")))
        .insert_header(("Cache-Control", "no-store"))
        .finish();
    if clear_cookie {
        let _ = response.add_cookie(&expired_cookie(state, SESSION_COOKIE));
    }
    response
}
