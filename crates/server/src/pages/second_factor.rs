//! `/login/second-factor`: the second step of a sign-in for accounts with TOTP (RFC 6238), and
//! `/login/step-up`, which asks a signed-in browser for the second factor a client requires.
//!
//! The pending sign-in travels in its own cookie (`gh_login`, `HttpOnly`, `SameSite=Lax`,
//! scoped to `/login`, five minutes); it opens nothing but this page. The form takes a TOTP
//! code or a recovery code in one field (`inputmode="numeric"` suits the common case;
//! `autocomplete="one-time-code"` lets browsers offer a code from the authenticator).

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::{SecondFactorFailure, SecondFactorPassed, StepUp};
use gatehouse_sessions::PENDING_LOGIN_TTL;
use serde::Deserialize;

use super::{PageError, form_page};
use crate::app::{AppState, RateLimited};
use crate::browser::{
    SESSION_COOKIE, csrf_matches, csrf_token, current_session, expired_cookie, request_context,
    safe_return_to, session_cookie,
};

pub const PENDING_COOKIE: &str = "gh_login";
const PENDING_COOKIE_PATH: &str = "/login";
const DEFAULT_LANDING: &str = "/account";

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    username: &'a str,
    step_up: bool,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "sign_in_again.html")]
struct SignInAgainPage<'a> {
    message: &'a str,
    login_url: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct ReturnQuery {
    return_to: Option<String>,
}

/// Every field optional so that a missing one is our message, not the extractor's.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    code: Option<String>,
    csrf_token: Option<String>,
    return_to: Option<String>,
}

fn pending_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(PENDING_COOKIE, token.to_owned())
        .path(PENDING_COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.cookies_secure())
        .max_age(CookieDuration::seconds(
            i64::try_from(PENDING_LOGIN_TTL.as_secs()).unwrap_or(300),
        ))
        .finish()
}

fn expired_pending_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = expired_cookie(state, PENDING_COOKIE);
    cookie.set_path(PENDING_COOKIE_PATH);
    cookie
}

fn with_return(path: &str, return_to: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", return_to);
    format!("{path}?{}", query.finish())
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// After the password (or a step-up request): hands the browser the pending sign-in and sends
/// it to the code page.
pub fn start(state: &AppState, token: &str, return_to: &str) -> Result<HttpResponse, PageError> {
    let mut response = see_other(&with_return("/login/second-factor", return_to));
    response
        .add_cookie(&pending_cookie(state, token))
        .map_err(|err| PageError::internal(&err))?;
    Ok(response)
}

/// The page telling the user to start over, with the pending cookie removed.
fn sign_in_again(
    state: &AppState,
    status: StatusCode,
    message: &str,
    return_to: &str,
) -> Result<HttpResponse, PageError> {
    let page = SignInAgainPage {
        message,
        login_url: &with_return("/login", return_to),
    };
    let mut response = super::html(status, &page)?;
    response
        .add_cookie(&expired_pending_cookie(state))
        .map_err(|err| PageError::internal(&err))?;
    Ok(response)
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let return_to = return_to.as_deref().unwrap_or(DEFAULT_LANDING);
    crate::security_headers::form_continues_to(&req, return_to);
    let pending = match req.cookie(PENDING_COOKIE) {
        Some(cookie) => state.app.pending_sign_in(cookie.value()).await?,
        None => None,
    };
    let Some(pending) = pending else {
        return sign_in_again(
            &state,
            StatusCode::OK,
            "Your sign-in expired. Please sign in again.",
            return_to,
        );
    };
    let (token, fresh) = csrf_token(&req);
    let page = SecondFactorPage {
        csrf_token: &token,
        return_to,
        username: &pending.username,
        step_up: matches!(
            pending.purpose,
            gatehouse_sessions::PendingPurpose::StepUp { .. }
        ),
        error: None,
    };
    form_page(&state, StatusCode::OK, &page, &token, fresh)
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    // Counted before the pending sign-in or the code is looked at.
    let ctx = request_context(&req);
    if let Some(retry_after) = state
        .rate_limits
        .check(
            RateLimited::SecondFactor,
            ctx.ip.as_deref(),
            state.clock.now(),
        )
        .await
    {
        return Err(PageError::too_many_requests(retry_after));
    }
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref());
    let return_to = return_to.as_deref().unwrap_or(DEFAULT_LANDING);
    crate::security_headers::form_continues_to(&req, return_to);
    let Some(pending_token) = req.cookie(PENDING_COOKIE).map(|c| c.value().to_owned()) else {
        return sign_in_again(
            &state,
            StatusCode::UNAUTHORIZED,
            "Your sign-in expired. Please sign in again.",
            return_to,
        );
    };
    let rerender = |status: StatusCode, error: &str, username: &str, step_up: bool| {
        let (token, fresh) = csrf_token(&req);
        let page = SecondFactorPage {
            csrf_token: &token,
            return_to,
            username,
            step_up,
            error: Some(error),
        };
        form_page(&state, status, &page, &token, fresh)
    };
    let Some(pending) = state.app.pending_sign_in(&pending_token).await? else {
        return sign_in_again(
            &state,
            StatusCode::UNAUTHORIZED,
            "Your sign-in expired. Please sign in again.",
            return_to,
        );
    };
    let step_up = matches!(
        pending.purpose,
        gatehouse_sessions::PendingPurpose::StepUp { .. }
    );
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return rerender(
            StatusCode::FORBIDDEN,
            "The form expired. Please enter the code again.",
            &pending.username,
            step_up,
        );
    }
    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        return rerender(
            StatusCode::BAD_REQUEST,
            "Enter the code from your authenticator app, or a recovery code.",
            &pending.username,
            step_up,
        );
    }
    let session_cookie_value = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let outcome = state
        .app
        .complete_second_factor(
            &pending_token,
            &code,
            session_cookie_value.as_deref(),
            &ctx,
            state.clock.now(),
        )
        .await;
    match outcome {
        Ok(passed) => {
            let mut response = see_other(return_to);
            if let SecondFactorPassed::SignedIn(signed_in) = passed {
                response
                    .add_cookie(&session_cookie(&state, signed_in.cookie_secret))
                    .map_err(|err| PageError::internal(&err))?;
            }
            response
                .add_cookie(&expired_pending_cookie(&state))
                .map_err(|err| PageError::internal(&err))?;
            Ok(response)
        }
        Err(SecondFactorFailure::InvalidCode { remaining }) if remaining > 0 => rerender(
            StatusCode::UNAUTHORIZED,
            "Invalid code.",
            &pending.username,
            step_up,
        ),
        Err(SecondFactorFailure::InvalidCode { .. }) => sign_in_again(
            &state,
            StatusCode::UNAUTHORIZED,
            "Too many invalid codes. Please sign in again.",
            return_to,
        ),
        Err(SecondFactorFailure::Expired) => sign_in_again(
            &state,
            StatusCode::UNAUTHORIZED,
            "Your sign-in expired. Please sign in again.",
            return_to,
        ),
        Err(SecondFactorFailure::Throttled { retry_after_secs }) => {
            // The pending sign-in stays: the code can be entered once the wait is over.
            let mut response = rerender(
                StatusCode::TOO_MANY_REQUESTS,
                &super::login::retry_message(retry_after_secs),
                &pending.username,
                step_up,
            )?;
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            Ok(response)
        }
        Err(SecondFactorFailure::Backend(err)) => Err(PageError::from(err)),
    }
}

/// `GET /login/step-up?return_to=…`: a client requires a second factor this session has not
/// shown (OIDC Core §3.1.2.3 "the Authorization Server MUST attempt to authenticate" at the
/// level asked). Users with TOTP are asked for a code; users without are taken to enrolment
/// first, which upgrades the session when confirmed.
pub async fn step_up(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let return_to = return_to.as_deref().unwrap_or(DEFAULT_LANDING);
    let Some((_, handle, session)) = current_session(&state, &req).await? else {
        return Ok(see_other(&with_return("/login", return_to)));
    };
    match state
        .app
        .begin_step_up(&handle, &session, state.clock.now())
        .await?
    {
        StepUp::Pending { pending_token } => start(&state, &pending_token, return_to),
        StepUp::EnrolmentRequired => Ok(see_other(&with_return("/account/totp", return_to))),
    }
}
