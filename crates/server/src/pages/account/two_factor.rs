//! The account's second factor (RFC 6238 TOTP with recovery codes), page by page:
//!
//! - `GET /account/totp?return_to=…`: the start, asking for the password when the sign-in is
//!   older than the re-authentication window;
//! - `POST /account/totp/enrol`: a new secret, as a QR code and as text (the only time either is
//!   shown), with the form for the first code;
//! - `POST /account/totp/confirm`: the code; the recovery codes, once, and on to `return_to`
//!   (a client's step-up comes through here for users without a second factor);
//! - `POST /account/totp/disable` and `POST /account/recovery-codes`: each behind the password.
//!
//! Every POST checks the CSRF token first; a browser without a session is sent to sign in and
//! back. The rules themselves (re-authentication, replay, auditing) are the application layer's.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::{Reauthentication, TwoFactorError};
use gatehouse_identity::TotpEnrolment;
use gatehouse_sessions::{BrowserSession, SessionHandle};
use serde::Deserialize;

use crate::app::AppState;
use crate::browser::{csrf_matches, csrf_token, current_session, request_context, safe_return_to};
use crate::pages::{PageError, form_page, html};

/// Where the pages lead when no (or no acceptable) `return_to` came with them.
const DEFAULT_RETURN: &str = "/account#security";
const EXPIRED_FORM: &str = "The form expired. Reload the page and try again.";

#[derive(Template)]
#[template(path = "totp_start.html")]
struct StartPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    needs_password: bool,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
struct EnrolPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    qr_svg: &'a str,
    secret: &'a str,
    otpauth_uri: &'a str,
    digits: u8,
    period_secs: u32,
    algorithm: &'a str,
}

#[derive(Template)]
#[template(path = "totp_confirm.html")]
struct ConfirmPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    start_url: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "totp_restart.html")]
struct RestartPage<'a> {
    message: &'a str,
    start_url: &'a str,
}

#[derive(Template)]
#[template(path = "totp_password.html")]
struct PasswordPage<'a> {
    title: &'a str,
    action: &'a str,
    button: &'a str,
    csrf_token: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    codes: &'a [String],
    continue_to: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// Every field optional so that a missing one is our message, not the extractor's.
#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    csrf_token: Option<String>,
    return_to: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    csrf_token: Option<String>,
    return_to: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    csrf_token: Option<String>,
    password: Option<String>,
}

/// The two changes that need the password every time, whatever the sign-in's age: each undoes
/// the protection the second factor gives.
#[derive(Debug, Clone, Copy)]
enum PasswordAction {
    Disable,
    NewRecoveryCodes,
}

impl PasswordAction {
    fn page<'a>(self, csrf_token: &'a str, error: Option<&'a str>) -> PasswordPage<'a> {
        let (title, action, button) = match self {
            PasswordAction::Disable => (
                "Turn off two-factor authentication",
                "/account/totp/disable",
                "Turn off",
            ),
            PasswordAction::NewRecoveryCodes => (
                "New recovery codes",
                "/account/recovery-codes",
                "Make new codes",
            ),
        };
        PasswordPage {
            title,
            action,
            button,
            csrf_token,
            error,
        }
    }
}

fn return_to_or_default(candidate: Option<&str>) -> String {
    safe_return_to(candidate).unwrap_or_else(|| DEFAULT_RETURN.to_owned())
}

fn with_return(path: &str, return_to: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", return_to);
    format!("{path}?{}", query.finish())
}

/// The start page's address, carrying `return_to` on.
fn start_url(return_to: &str) -> String {
    with_return("/account/totp", return_to)
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// No session: sign in, then come back to `resume`.
fn sign_in_first(resume: &str) -> HttpResponse {
    see_other(&with_return("/login", resume))
}

fn csrf_refused() -> PageError {
    PageError::forbidden(EXPIRED_FORM)
}

fn already_on() -> PageError {
    PageError::new(
        StatusCode::CONFLICT,
        "Already on",
        "Two-factor authentication is already on. To use another device, turn it off on your \
         account page and set it up again.",
    )
}

fn not_on() -> PageError {
    PageError::new(
        StatusCode::CONFLICT,
        "Two-factor authentication is off",
        "Two-factor authentication is not on for your account.",
    )
}

/// The session, or the redirect that signs in and comes back to `resume`.
async fn session_or_sign_in(
    state: &AppState,
    req: &HttpRequest,
    resume: &str,
) -> Result<Result<(SessionHandle, BrowserSession), HttpResponse>, PageError> {
    Ok(match current_session(state, req).await? {
        Some((_, handle, session)) => Ok((handle, session)),
        None => Err(sign_in_first(resume)),
    })
}

/// The outcomes every handler answers the same way; the others are for the caller to render.
fn common_failure(err: TwoFactorError) -> Result<HttpResponse, PageError> {
    match err {
        TwoFactorError::AlreadyEnabled => Err(already_on()),
        TwoFactorError::NotEnabled => Err(not_on()),
        // The account went while its session lived: nothing to change, sign in again.
        TwoFactorError::UnknownUser => Ok(see_other("/login")),
        TwoFactorError::Backend(err) => Err(err.into()),
        other => Err(PageError::bad_request(other.to_string())),
    }
}

fn start_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    return_to: &str,
    needs_password: bool,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let (token, fresh) = csrf_token(req);
    let page = StartPage {
        csrf_token: &token,
        return_to,
        needs_password,
        error,
    };
    form_page(state, status, &page, &token, fresh)
}

fn confirm_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    return_to: &str,
    error: &str,
) -> Result<HttpResponse, PageError> {
    let (token, fresh) = csrf_token(req);
    let page = ConfirmPage {
        csrf_token: &token,
        return_to,
        start_url: &start_url(return_to),
        error: Some(error),
    };
    form_page(state, status, &page, &token, fresh)
}

fn password_page(
    state: &AppState,
    req: &HttpRequest,
    action: PasswordAction,
    status: StatusCode,
    error: &str,
) -> Result<HttpResponse, PageError> {
    let (token, fresh) = csrf_token(req);
    form_page(
        state,
        status,
        &action.page(&token, Some(error)),
        &token,
        fresh,
    )
}

fn recovery_codes_page(codes: &[String], continue_to: &str) -> Result<HttpResponse, PageError> {
    html(StatusCode::OK, &RecoveryCodesPage { codes, continue_to })
}

/// `GET /account/totp`.
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = return_to_or_default(query.return_to.as_deref());
    let (_, session) = match session_or_sign_in(&state, &req, &start_url(&return_to)).await? {
        Ok(found) => found,
        Err(sign_in) => return Ok(sign_in),
    };
    if state.app.totp_status(session.user_id).await?.enabled {
        return Err(already_on());
    }
    let needs_password = !state
        .app
        .within_reauthentication_window(session.auth_time, state.clock.now());
    start_page(
        &state,
        &req,
        StatusCode::OK,
        &return_to,
        needs_password,
        None,
    )
}

/// `POST /account/totp/enrol`: a password in the form is always checked; without one, the
/// sign-in must be recent.
pub async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EnrolForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return Err(csrf_refused());
    }
    let return_to = return_to_or_default(form.return_to.as_deref());
    let (_, session) = match session_or_sign_in(&state, &req, &start_url(&return_to)).await? {
        Ok(found) => found,
        Err(sign_in) => return Ok(sign_in),
    };
    let reauthentication = match form.password.as_deref() {
        Some(password) if !password.is_empty() => Reauthentication::Password(password),
        _ => Reauthentication::SignedInAt(session.auth_time),
    };
    let outcome = state
        .app
        .begin_totp_enrolment(
            session.user_id,
            reauthentication,
            &request_context(&req),
            state.clock.now(),
        )
        .await;
    match outcome {
        Ok(enrolment) => enrol_page(&state, &req, &enrolment, &return_to),
        Err(TwoFactorError::ReauthenticationRequired) => start_page(
            &state,
            &req,
            StatusCode::UNAUTHORIZED,
            &return_to,
            true,
            Some("You signed in a while ago: enter your password to continue."),
        ),
        Err(TwoFactorError::WrongPassword) => start_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            &return_to,
            true,
            Some("The password is not correct."),
        ),
        Err(err) => common_failure(err),
    }
}

fn enrol_page(
    state: &AppState,
    req: &HttpRequest,
    enrolment: &TotpEnrolment,
    return_to: &str,
) -> Result<HttpResponse, PageError> {
    let (token, fresh) = csrf_token(req);
    let page = EnrolPage {
        csrf_token: &token,
        return_to,
        qr_svg: &enrolment.qr_svg,
        secret: &enrolment.secret_base32,
        otpauth_uri: &enrolment.otpauth_uri,
        digits: enrolment.parameters.digits,
        period_secs: enrolment.parameters.period_secs,
        algorithm: enrolment.parameters.algorithm.as_str(),
    };
    form_page(state, StatusCode::OK, &page, &token, fresh)
}

/// `POST /account/totp/confirm`. A wrong code cannot show the secret again (it is sealed once
/// shown), so the retry page has only the code field and a way to start over.
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return Err(csrf_refused());
    }
    let return_to = return_to_or_default(form.return_to.as_deref());
    let (handle, session) = match session_or_sign_in(&state, &req, &start_url(&return_to)).await? {
        Ok(found) => found,
        Err(sign_in) => return Ok(sign_in),
    };
    let code = form.code.unwrap_or_default();
    if code.trim().is_empty() {
        return confirm_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &return_to,
            "Enter the code your authenticator app shows.",
        );
    }
    let outcome = state
        .app
        .confirm_totp_enrolment(
            session.user_id,
            &code,
            Some(&handle),
            &request_context(&req),
            state.clock.now(),
        )
        .await;
    match outcome {
        Ok(codes) => recovery_codes_page(codes.codes(), &return_to),
        Err(TwoFactorError::InvalidCode) => confirm_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &return_to,
            "That code is not correct. Check the time on your phone and enter the code the app \
             shows now.",
        ),
        Err(TwoFactorError::NothingToConfirm) => html(
            StatusCode::CONFLICT,
            &RestartPage {
                message: "There is no set-up waiting for a code. Start again to get a new key.",
                start_url: &start_url(&return_to),
            },
        ),
        Err(err) => common_failure(err),
    }
}

/// `POST /account/totp/disable`.
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let action = PasswordAction::Disable;
    let (user_id, password) = match password_form(&state, &req, action, &form).await? {
        PasswordGate::Proceed { user_id, password } => (user_id, password),
        PasswordGate::Respond(response) => return Ok(response),
    };
    let outcome = state
        .app
        .disable_totp(user_id, password, &request_context(&req), state.clock.now())
        .await;
    match outcome {
        Ok(()) => Ok(see_other("/account")),
        Err(TwoFactorError::WrongPassword) => wrong_password(&state, &req, action),
        Err(err) => common_failure(err),
    }
}

/// `POST /account/recovery-codes`: a new set, the old one void.
pub async fn regenerate_recovery_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let action = PasswordAction::NewRecoveryCodes;
    let (user_id, password) = match password_form(&state, &req, action, &form).await? {
        PasswordGate::Proceed { user_id, password } => (user_id, password),
        PasswordGate::Respond(response) => return Ok(response),
    };
    let outcome = state
        .app
        .regenerate_recovery_codes(user_id, password, &request_context(&req), state.clock.now())
        .await;
    match outcome {
        Ok(codes) => recovery_codes_page(codes.codes(), DEFAULT_RETURN),
        Err(TwoFactorError::WrongPassword) => wrong_password(&state, &req, action),
        Err(err) => common_failure(err),
    }
}

fn wrong_password(
    state: &AppState,
    req: &HttpRequest,
    action: PasswordAction,
) -> Result<HttpResponse, PageError> {
    password_page(
        state,
        req,
        action,
        StatusCode::FORBIDDEN,
        "The password is not correct.",
    )
}

/// What the password forms' common gate decided.
enum PasswordGate<'f> {
    Proceed {
        user_id: uuid::Uuid,
        password: &'f str,
    },
    /// Sign in first, or the page asking for the password.
    Respond(HttpResponse),
}

/// The password forms' common gate: the CSRF token, then the session, then a password to
/// check. An empty field is asked for again rather than checked, so that it never counts as a
/// wrong password toward the lockout.
async fn password_form<'f>(
    state: &AppState,
    req: &HttpRequest,
    action: PasswordAction,
    form: &'f PasswordForm,
) -> Result<PasswordGate<'f>, PageError> {
    if !csrf_matches(req, form.csrf_token.as_deref()) {
        return Err(csrf_refused());
    }
    let Some((_, _, session)) = current_session(state, req).await? else {
        return Ok(PasswordGate::Respond(sign_in_first("/account")));
    };
    match form.password.as_deref() {
        Some(password) if !password.is_empty() => Ok(PasswordGate::Proceed {
            user_id: session.user_id,
            password,
        }),
        _ => Ok(PasswordGate::Respond(password_page(
            state,
            req,
            action,
            StatusCode::BAD_REQUEST,
            "Enter your password.",
        )?)),
    }
}
