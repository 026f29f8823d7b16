//! `/login`: password sign-in that opens a browser session.
//!
//! A client address that keeps failing for a login is made to wait (`docs/brute-force.md`):
//! the form comes back with 429 Too Many Requests (RFC 6585 §4), `Retry-After` in seconds
//! (RFC 9110 §10.2.3) and a message saying when to retry, the same for unknown usernames.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::{PasswordSignIn, SignInError};
use serde::Deserialize;

use super::{PageError, form_page, second_factor, with_return};
use crate::app::{AppState, RateLimited};
use crate::browser::{
    SESSION_COOKIE, csrf_matches, csrf_token, current_session, request_context, safe_return_to,
    session_cookie,
};

const DEFAULT_LANDING: &str = "/account";
const FAILED_LOGIN: &str = "Invalid username or password.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    /// The sign-up page (carrying `return_to`), while self-service registration is open.
    register_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    /// Set by the authorization endpoint when the client demands a fresh login.
    force: Option<String>,
}

/// Every field optional so that a missing one is our error message, not the extractor's.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
    return_to: Option<String>,
}

fn render_login(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    return_to: &str,
    username: &str,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    crate::security_headers::form_continues_to(req, return_to);
    let (token, fresh) = csrf_token(req);
    let page = LoginPage {
        csrf_token: &token,
        return_to,
        username,
        error,
        register_url: state.settings.registration.enabled.then(|| {
            if return_to.is_empty() {
                "/register".to_owned()
            } else {
                with_return("/register", return_to)
            }
        }),
    };
    form_page(state, status, &page, &token, fresh)
}

/// What a delayed source reads: when to try again, nothing about the account.
pub(super) fn retry_message(retry_after_secs: u64) -> String {
    let wait = if retry_after_secs == 1 {
        "1 second".to_owned()
    } else if retry_after_secs < 120 {
        format!("{retry_after_secs} seconds")
    } else {
        format!("{} minutes", retry_after_secs.div_ceil(60))
    };
    format!("Too many failed attempts. Please try again in {wait}.")
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let forced = query.force.as_deref() == Some("1");
    if !forced && current_session(&state, &req).await?.is_some() {
        return Ok(redirect(return_to.as_deref().unwrap_or(DEFAULT_LANDING)));
    }
    render_login(
        &req,
        &state,
        StatusCode::OK,
        return_to.as_deref().unwrap_or(""),
        "",
        None,
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    // Counted before anything in the form is looked at, so that no refused request costs a
    // password hash or a database read.
    let ctx = request_context(&req);
    if let Some(retry_after) = state
        .rate_limits
        .check(RateLimited::Login, ctx.ip.as_deref(), state.clock.now())
        .await
    {
        return Err(PageError::too_many_requests(retry_after));
    }
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref());
    let return_field = return_to.as_deref().unwrap_or("");
    let username = form.username.as_deref().unwrap_or("").trim();
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return render_login(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            return_field,
            username,
            Some("Your sign-in form expired. Please try again."),
        );
    }
    let password = form.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return render_login(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            return_field,
            username,
            Some("Enter your username and password."),
        );
    }

    let previous = req.cookie(SESSION_COOKIE);
    let outcome = match state
        .app
        .sign_in_with_password(
            username,
            &password,
            previous.as_ref().map(|cookie| cookie.value()),
            &ctx,
            state.clock.now(),
        )
        .await
    {
        Ok(outcome) => outcome,
        Err(SignInError::InvalidCredentials) => {
            return render_login(
                &req,
                &state,
                StatusCode::UNAUTHORIZED,
                return_field,
                username,
                Some(FAILED_LOGIN),
            );
        }
        Err(SignInError::Throttled { retry_after_secs }) => {
            let mut response = render_login(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                return_field,
                username,
                Some(&retry_message(retry_after_secs)),
            )?;
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            return Ok(response);
        }
        Err(SignInError::Backend(err)) => return Err(PageError::from(err)),
    };
    let landing = return_to.as_deref().unwrap_or(DEFAULT_LANDING);
    match outcome {
        PasswordSignIn::SignedIn(signed_in) => {
            let mut response = redirect(landing);
            response
                .add_cookie(&session_cookie(&state, signed_in.cookie_secret))
                .map_err(|err| PageError::internal(&err))?;
            Ok(response)
        }
        PasswordSignIn::SecondFactorRequired { pending_token } => {
            second_factor::start(&state, &pending_token, landing)
        }
    }
}
