//! Passwords in the browser: the forgotten-password request (`/password/forgot`), the reset
//! from the mailed link (`/password/reset?token=`) and a signed-in user's change on the account
//! page (`POST /account/password`). The rules (second factor on reset, sessions ended after)
//! are the application layer's (`gatehouse_app::passwords`).
//!
//! A reset request answers the same page at once whether or not the address has an account,
//! and does the work (a database read, maybe a mail) after answering, so that neither the page
//! nor its timing tells who has an account. Pages of the reset link say `no-store` and
//! `no-referrer`: the token is in their address.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::{ChangePasswordFailure, OtherSessions, ResetFailure};
use gatehouse_identity::ResetTarget;
use serde::Deserialize;

use super::account::{self, Feedback, session_for_form};
use super::{FieldErrors, Notice, PageError, form_page, html, notice_on_account};
use crate::app::{AppState, RateLimited};
use crate::browser::{csrf_matches, csrf_token, request_context};

const EXPIRED_FORM: &str = "The form expired. Please try again.";

#[derive(Template)]
#[template(path = "password_forgot.html")]
struct ForgotPage<'a> {
    csrf_token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    errors: &'a FieldErrors,
}

#[derive(Template)]
#[template(path = "password_forgot_sent.html")]
struct ForgotSentPage<'a> {
    email: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage<'a> {
    csrf_token: &'a str,
    token: &'a str,
    username: &'a str,
    second_factor: bool,
    errors: &'a FieldErrors,
}

#[derive(Template)]
#[template(path = "password_reset_failed.html")]
struct ResetFailedPage<'a> {
    message: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset_done.html")]
struct ResetDonePage;

/// Every field optional so that a missing one is our message, not the extractor's.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    csrf_token: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
pub struct ResetForm {
    csrf_token: Option<String>,
    token: Option<String>,
    new_password: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
pub struct ChangeForm {
    csrf_token: Option<String>,
    current_password: Option<String>,
    new_password: Option<String>,
    /// A checkbox: present (checked, the default) ends the user's other sessions; absent or
    /// `false` keeps them.
    sign_out_other_sessions: Option<String>,
}

/// Counts one request against `limit`; `Err` is the 429 page.
async fn within_limit(
    state: &AppState,
    limit: RateLimited,
    subject: Option<&str>,
) -> Result<(), PageError> {
    match state
        .rate_limits
        .check(limit, subject, state.clock.now())
        .await
    {
        Some(retry_after) => Err(PageError::too_many_requests(retry_after)),
        None => Ok(()),
    }
}

fn forgot_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    errors: &FieldErrors,
) -> Result<HttpResponse, PageError> {
    let (token, fresh) = csrf_token(req);
    let page = ForgotPage {
        csrf_token: &token,
        email,
        error,
        errors,
    };
    form_page(state, status, &page, &token, fresh)
}

/// `GET /password/forgot`.
pub async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    forgot_page(
        &req,
        &state,
        StatusCode::OK,
        "",
        None,
        &FieldErrors::default(),
    )
}

/// `POST /password/forgot`: answers at once; the request itself runs after the answer.
pub async fn request_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, PageError> {
    let ctx = request_context(&req);
    within_limit(&state, RateLimited::PasswordReset, ctx.ip.as_deref()).await?;
    let form = form.into_inner();
    let email = form.email.as_deref().map(str::trim).unwrap_or_default();
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return forgot_page(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            email,
            Some(EXPIRED_FORM),
            &FieldErrors::default(),
        );
    }
    if email.is_empty() {
        return forgot_page(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            email,
            None,
            &FieldErrors::one("email", "Enter the email address of your account."),
        );
    }
    let subject = email.to_lowercase();
    within_limit(&state, RateLimited::PasswordResetAccount, Some(&subject)).await?;
    // Carried out off the request path, so that the answer does not depend on the address.
    state.reset_requests.submit(email, ctx);
    html(StatusCode::OK, &ForgotSentPage { email })
}

/// A page of the reset link: not stored, and the link not passed on to other sites.
fn link_page(response: Result<HttpResponse, PageError>) -> Result<HttpResponse, PageError> {
    let mut response = response?;
    let headers = response.headers_mut();
    headers.insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

fn reset_failed(message: &str) -> Result<HttpResponse, PageError> {
    link_page(html(StatusCode::BAD_REQUEST, &ResetFailedPage { message }))
}

const LINK_NOT_VALID: &str = "This reset link is not valid: it expired, was used already or a \
                              newer email replaced it. Ask for a new one.";

fn reset_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    token: &str,
    target: &ResetTarget,
    errors: &FieldErrors,
) -> Result<HttpResponse, PageError> {
    let (csrf, fresh) = csrf_token(req);
    let page = ResetPage {
        csrf_token: &csrf,
        token,
        username: &target.username,
        second_factor: target.second_factor,
        errors,
    };
    link_page(form_page(state, status, &page, &csrf, fresh))
}

/// The live link's account, or `None` for a missing or dead link.
async fn reset_target(
    state: &AppState,
    token: Option<&str>,
) -> Result<Option<(String, ResetTarget)>, PageError> {
    let Some(token) = token.map(str::trim).filter(|token| !token.is_empty()) else {
        return Ok(None);
    };
    let target = state
        .app
        .password_reset_target(token, state.clock.now())
        .await?;
    Ok(target.map(|target| (token.to_owned(), target)))
}

/// `GET /password/reset?token=`: the form, if the link is live. Uses nothing up.
pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    match reset_target(&state, query.token.as_deref()).await? {
        Some((token, target)) => reset_page(
            &req,
            &state,
            StatusCode::OK,
            &token,
            &target,
            &FieldErrors::default(),
        ),
        None => reset_failed(LINK_NOT_VALID),
    }
}

/// `POST /password/reset`: the new password (and the second factor's code, if the account has
/// one). Every session of the account ends once it is set.
pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, PageError> {
    let ctx = request_context(&req);
    within_limit(&state, RateLimited::PasswordReset, ctx.ip.as_deref()).await?;
    let form = form.into_inner();
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return Err(PageError::forbidden(
            "The form expired. Open the link from the email again.",
        ));
    }
    let Some((token, target)) = reset_target(&state, form.token.as_deref()).await? else {
        return reset_failed(LINK_NOT_VALID);
    };
    within_limit(
        &state,
        RateLimited::PasswordResetAccount,
        Some(&target.user_id.to_string()),
    )
    .await?;
    let refused = |field: &'static str, message: &str| {
        reset_page(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            &token,
            &target,
            &FieldErrors::one(field, message),
        )
    };
    let new_password = form.new_password.unwrap_or_default();
    if new_password.is_empty() {
        return refused("new_password", "Enter a new password.");
    }
    let code = form.code.as_deref().filter(|code| !code.trim().is_empty());
    let outcome = state
        .app
        .complete_password_reset(&token, &new_password, code, &ctx, state.clock.now())
        .await;
    match outcome {
        Ok(_) => link_page(html(StatusCode::OK, &ResetDonePage)),
        Err(ResetFailure::InvalidToken) => reset_failed(LINK_NOT_VALID),
        Err(ResetFailure::WeakPassword(message)) => refused("new_password", &message),
        Err(ResetFailure::SecondFactorRequired) => refused(
            "code",
            "Enter a code from your authenticator app or one of your recovery codes.",
        ),
        Err(ResetFailure::InvalidCode { remaining }) if remaining > 0 => {
            refused("code", "That code is not correct.")
        }
        Err(ResetFailure::InvalidCode { .. }) => reset_failed(
            "Too many wrong codes were entered with this link, so it no longer works. Ask for \
             a new one.",
        ),
        Err(ResetFailure::Backend(err)) => Err(err.into()),
    }
}

/// `POST /account/password`: the signed-in user's change, behind the current password.
pub async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let (handle, session) =
        match session_for_form(&req, &state, form.csrf_token.as_deref(), "/account").await? {
            Ok(found) => found,
            Err(sign_in) => return Ok(sign_in),
        };
    let current = form.current_password.unwrap_or_default();
    let new_password = form.new_password.unwrap_or_default();
    // An empty field is asked for again rather than checked, so that it never counts as a wrong
    // password toward the lockout.
    let mut errors = FieldErrors::default();
    if current.is_empty() {
        errors.add("current_password", "Enter your current password.");
    }
    if new_password.is_empty() {
        errors.add("new_password", "Enter a new password.");
    }
    let feedback = if errors.is_empty() {
        let sign_out_others = form
            .sign_out_other_sessions
            .as_deref()
            .is_some_and(|value| !matches!(value, "false" | "off" | "0"));
        let others = if sign_out_others {
            OtherSessions::EndAllBut(&handle)
        } else {
            OtherSessions::Keep
        };
        let outcome = state
            .app
            .change_password(
                session.user_id,
                &current,
                &new_password,
                others,
                &request_context(&req),
                state.clock.now(),
            )
            .await;
        match outcome {
            Ok(_) => return Ok(notice_on_account(Notice::PasswordChanged)),
            Err(ChangePasswordFailure::WrongPassword) => {
                Feedback::error("current_password", "The current password is not correct.")
            }
            Err(ChangePasswordFailure::WeakPassword(message)) => {
                Feedback::error("new_password", message)
            }
            Err(ChangePasswordFailure::Backend(err)) => return Err(err.into()),
        }
    } else {
        Feedback {
            notice: None,
            errors,
        }
    };
    account::render(
        &req,
        &state,
        (&handle, &session),
        StatusCode::BAD_REQUEST,
        1,
        &feedback,
    )
    .await
}
