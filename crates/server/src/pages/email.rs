//! The account's address in the browser: the link in the verification mail
//! (`GET /email/verify`, which uses the link up by design, so a second click says "already
//! verified"), the page that `registration.require_verified_email` sends an unverified user to
//! (`GET /email/unverified`), and the forms behind it and the account page: the code from the
//! mail, a new mail, a change of address. The rules are the application layer's
//! (`gatehouse_app::email`); these handlers check the CSRF token, the session and the
//! per-account rate limit, make one call and map its outcome.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_identity::{EmailChangeError, ResentVerification, VerifyEmailError};
use gatehouse_sessions::{BrowserSession, SessionHandle};
use serde::Deserialize;
use uuid::Uuid;

use super::account::{self, Feedback, session_for_form};
use super::{
    FieldErrors, Notice, PageError, form_page, html, notice_on_account, see_other, sign_in_first,
    with_return,
};
use crate::app::{AppState, RateLimited};
use crate::browser::{csrf_token, current_session, request_context, safe_return_to};

const ACCOUNT: &str = "/account";

#[derive(Template)]
#[template(path = "email_verified.html")]
struct VerifiedPage<'a> {
    email: &'a str,
}

#[derive(Template)]
#[template(path = "email_already_verified.html")]
struct AlreadyVerifiedPage;

#[derive(Template)]
#[template(path = "email_verify_failed.html")]
struct VerifyFailedPage<'a> {
    message: &'a str,
}

#[derive(Template)]
#[template(path = "email_unverified.html")]
struct UnverifiedPage<'a> {
    email: &'a str,
    pending: Option<&'a str>,
    return_to: &'a str,
    notice: Option<Notice>,
    errors: &'a FieldErrors,
    csrf_token: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UnverifiedQuery {
    return_to: Option<String>,
    notice: Option<String>,
}

/// Every field optional so that a missing one is our message, not the extractor's.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf_token: Option<String>,
    code: Option<String>,
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ResendForm {
    csrf_token: Option<String>,
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    csrf_token: Option<String>,
    email: Option<String>,
}

fn verify_failed(message: &str) -> Result<HttpResponse, PageError> {
    html(StatusCode::BAD_REQUEST, &VerifyFailedPage { message })
}

/// `GET /email/verify?token=`: uses the link (no session needed: the mailbox is the proof).
pub async fn verify_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(token) = query
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return verify_failed("This link is incomplete. Copy the whole link from the email.");
    };
    let outcome = state
        .app
        .verify_email_link(token, &request_context(&req), state.clock.now())
        .await;
    match outcome {
        Ok(verified) => html(
            StatusCode::OK,
            &VerifiedPage {
                email: &verified.email,
            },
        ),
        Err(VerifyEmailError::AlreadyUsed) => html(StatusCode::OK, &AlreadyVerifiedPage),
        Err(VerifyEmailError::AddressTaken) => verify_failed(
            "This address now belongs to another account, so it cannot be added to yours.",
        ),
        Err(VerifyEmailError::Internal(err)) => Err(err.into()),
        Err(
            VerifyEmailError::Invalid
            | VerifyEmailError::NothingPending
            | VerifyEmailError::WrongCode { .. },
        ) => verify_failed(
            "This link is not valid: it expired or a newer email replaced it. Sign in to send \
             a new one.",
        ),
    }
}

/// `GET /email/unverified?return_to=`: the code and resend forms, for a signed-in user with an
/// address (or a new address) to verify; anyone else goes on to `return_to`.
pub async fn unverified(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<UnverifiedQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref()).unwrap_or_default();
    let Some((_, _, session)) = current_session(&state, &req).await? else {
        return Ok(sign_in_first(&unverified_url(&return_to)));
    };
    let notice = Notice::parse(query.notice.as_deref());
    render_unverified(
        &req,
        &state,
        session.user_id,
        StatusCode::OK,
        &return_to,
        notice,
        &FieldErrors::default(),
    )
    .await
}

fn unverified_url(return_to: &str) -> String {
    if return_to.is_empty() {
        "/email/unverified".to_owned()
    } else {
        with_return("/email/unverified", return_to)
    }
}

/// Where a form of the verify page or the account page comes back to after signing in.
fn resume(return_to: &str) -> String {
    if return_to.is_empty() {
        ACCOUNT.to_owned()
    } else {
        unverified_url(return_to)
    }
}

fn landing(return_to: &str) -> &str {
    if return_to.is_empty() {
        ACCOUNT
    } else {
        return_to
    }
}

async fn render_unverified(
    req: &HttpRequest,
    state: &AppState,
    user_id: Uuid,
    status: StatusCode,
    return_to: &str,
    notice: Option<Notice>,
    errors: &FieldErrors,
) -> Result<HttpResponse, PageError> {
    let Some(address) = state.app.email_status(user_id, state.clock.now()).await? else {
        return Ok(see_other("/login"));
    };
    if address.verified && address.pending.is_none() {
        return Ok(see_other(landing(return_to)));
    }
    crate::security_headers::form_continues_to(req, return_to);
    let (token, fresh) = csrf_token(req);
    let page = UnverifiedPage {
        email: &address.email,
        pending: address.pending.as_deref(),
        return_to,
        notice,
        errors,
        csrf_token: &token,
    };
    form_page(state, status, &page, &token, fresh)
}

/// Counts one use of the account's verification forms (code attempts, resends, changes).
async fn within_account_limit(state: &AppState, user_id: Uuid) -> Result<(), PageError> {
    let subject = user_id.to_string();
    match state
        .rate_limits
        .check(
            RateLimited::EmailVerificationAccount,
            Some(&subject),
            state.clock.now(),
        )
        .await
    {
        Some(retry_after) => Err(PageError::too_many_requests(retry_after)),
        None => Ok(()),
    }
}

/// Where a refused code goes: the page the form was on (the verify page when it carried a
/// `return_to`, else the account page), with the error next to the code.
async fn code_refused(
    req: &HttpRequest,
    state: &AppState,
    signed_in: (&SessionHandle, &BrowserSession),
    return_to: &str,
    message: &str,
) -> Result<HttpResponse, PageError> {
    let errors = FieldErrors::one("code", message);
    if return_to.is_empty() {
        let feedback = Feedback {
            notice: None,
            errors,
        };
        return account::render(req, state, signed_in, StatusCode::BAD_REQUEST, 1, &feedback).await;
    }
    render_unverified(
        req,
        state,
        signed_in.1.user_id,
        StatusCode::BAD_REQUEST,
        return_to,
        None,
        &errors,
    )
    .await
}

/// `POST /account/email/verify`: the six-digit code from the mail.
pub async fn verify_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref()).unwrap_or_default();
    let (handle, session) = match session_for_form(
        &req,
        &state,
        form.csrf_token.as_deref(),
        &resume(&return_to),
    )
    .await?
    {
        Ok(found) => found,
        Err(sign_in) => return Ok(sign_in),
    };
    let signed_in = (&handle, &session);
    let code = form.code.as_deref().map(str::trim).unwrap_or_default();
    if code.is_empty() {
        return code_refused(
            &req,
            &state,
            signed_in,
            &return_to,
            "Enter the code from the email.",
        )
        .await;
    }
    within_account_limit(&state, session.user_id).await?;
    let outcome = state
        .app
        .verify_email_code(
            session.user_id,
            code,
            &request_context(&req),
            state.clock.now(),
        )
        .await;
    let message = match outcome {
        Ok(_) | Err(VerifyEmailError::AlreadyUsed) => {
            return Ok(if return_to.is_empty() {
                notice_on_account(Notice::EmailVerified)
            } else {
                see_other(&return_to)
            });
        }
        Err(VerifyEmailError::WrongCode { remaining }) if remaining > 0 => {
            "That code is not correct. Check the latest email and try again."
        }
        Err(VerifyEmailError::WrongCode { .. } | VerifyEmailError::Invalid) => {
            "This code no longer works (too many tries, expired or replaced). Send a new email."
        }
        Err(VerifyEmailError::NothingPending) => {
            "There is nothing to verify: your address is already verified."
        }
        Err(VerifyEmailError::AddressTaken) => {
            "This address now belongs to another account, so it cannot be added to yours."
        }
        Err(VerifyEmailError::Internal(err)) => return Err(err.into()),
    };
    code_refused(&req, &state, signed_in, &return_to, message).await
}

/// `POST /account/email/resend`: a new link and code (the previous ones die).
pub async fn resend(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ResendForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref()).unwrap_or_default();
    let (_, session) = match session_for_form(
        &req,
        &state,
        form.csrf_token.as_deref(),
        &resume(&return_to),
    )
    .await?
    {
        Ok(found) => found,
        Err(sign_in) => return Ok(sign_in),
    };
    within_account_limit(&state, session.user_id).await?;
    let outcome = state
        .app
        .resend_email_verification(session.user_id, &request_context(&req), state.clock.now())
        .await?;
    let notice = match outcome {
        Some(ResentVerification::Sent { .. }) => Notice::VerificationSent,
        Some(ResentVerification::AlreadyVerified) => Notice::EmailAlreadyVerified,
        // The account went while its session lived.
        None => return Ok(see_other("/login")),
    };
    if return_to.is_empty() || notice == Notice::EmailAlreadyVerified {
        return Ok(notice_on_account(notice));
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", &return_to);
    query.append_pair("notice", notice.name());
    Ok(see_other(&format!("/email/unverified?{}", query.finish())))
}

/// `POST /account/email`: a new address, pending until its link or code is used.
pub async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let (handle, session) =
        match session_for_form(&req, &state, form.csrf_token.as_deref(), ACCOUNT).await? {
            Ok(found) => found,
            Err(sign_in) => return Ok(sign_in),
        };
    let refused = |message: String| Feedback::error("email", message);
    let email = form.email.as_deref().map(str::trim).unwrap_or_default();
    let feedback = if email.is_empty() {
        refused("Enter the new email address.".to_owned())
    } else {
        within_account_limit(&state, session.user_id).await?;
        match state
            .app
            .request_email_change(
                session.user_id,
                email,
                &request_context(&req),
                state.clock.now(),
            )
            .await
        {
            Ok(()) => return Ok(notice_on_account(Notice::EmailChangeSent)),
            Err(EmailChangeError::Invalid(err)) => refused(err.message),
            Err(EmailChangeError::Unchanged) => {
                refused("That is already your email address.".to_owned())
            }
            Err(EmailChangeError::UnknownUser) => return Ok(see_other("/login")),
            Err(EmailChangeError::Internal(err)) => return Err(err.into()),
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
