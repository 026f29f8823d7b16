//! `/api/v1/account`: the token holder's address and password. Verifying the address (a new
//! mail, or the six-digit code from it), changing it (the new address is pending until
//! verified), and changing the password (the current one typed again; other sessions end unless
//! asked not to).
//!
//! Bearer-authenticated like the rest of the account API (`account`, RFC 6750). Resends, code
//! attempts and changes of address count toward `rate_limits.email_verification_per_account`,
//! per account, before anything is read or written: a mailbox is not flooded and a code is not
//! guessed, whichever addresses the requests come from.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use gatehouse_app::{ChangePasswordFailure, OtherSessions};
use gatehouse_identity::{EmailChangeError, ResentVerification, VerifyEmailError};
use serde::{Deserialize, Serialize};

use super::account::{audit_context, json_body, private};
use super::bearer::{ACCOUNT_SCOPE, AccountToken, invalid_token};
use crate::app::{AppState, RateLimited};
use crate::problem::{Problem, ProblemKind};

/// Where a verification mail (link and code) went.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"sent_to": "alice@example.com"}))]
pub struct VerificationSent {
    /// The address the mail went to: the account's, or the pending new one.
    pub sent_to: String,
}

/// The code from the verification mail.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct ConfirmEmailRequest {
    /// The six-digit code of the latest verification mail (the `Code:` line).
    pub code: String,
}

/// A change of the account; the address is the only field that changes this way.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice@example.org"}))]
pub struct AccountUpdate {
    /// The new address, by the rules of sign-up (`RegisterRequest.email`). It becomes the
    /// account's once verified.
    #[schema(schema_with = super::users::email_schema)]
    pub email: String,
}

/// A change of password. Not `Debug`: it must never be printed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "current_password": "plume-atlas-47-quietly",
    "new_password": "cobalt-harbor-19-slowly",
    "sign_out_other_sessions": true
}))]
pub struct PasswordChangeRequest {
    #[schema(example = "plume-atlas-47-quietly")]
    pub current_password: String,
    #[schema(schema_with = super::users::password_schema)]
    pub new_password: String,
    /// End every other browser session of the user, with the tokens issued in them (the
    /// session this access token was issued in stays). Default `true`.
    #[serde(default = "sign_out_by_default")]
    #[schema(default = true)]
    pub sign_out_other_sessions: bool,
}

fn sign_out_by_default() -> bool {
    true
}

/// Counts one address operation of the account toward its limit.
async fn limit_account(
    state: &AppState,
    token: &AccountToken,
    now: DateTime<Utc>,
) -> Result<(), Problem> {
    let subject = token.user.id.to_string();
    match state
        .rate_limits
        .check(RateLimited::EmailVerificationAccount, Some(&subject), now)
        .await
    {
        Some(retry_after) => Err(Problem::rate_limited(retry_after, "for this account")),
        None => Ok(()),
    }
}

fn verify_problem(err: VerifyEmailError) -> Problem {
    match err {
        VerifyEmailError::WrongCode { remaining } => Problem::wrong_code(remaining),
        VerifyEmailError::NothingPending | VerifyEmailError::Invalid => Problem::new(
            ProblemKind::NoPendingVerification,
            "no verification is waiting for a code (the address is verified, or the code \
             expired): request a new mail with POST /api/v1/account/email-verification",
        ),
        VerifyEmailError::AlreadyUsed => Problem::new(
            ProblemKind::EmailAlreadyVerified,
            "the address is verified already",
        ),
        VerifyEmailError::AddressTaken => Problem::new(
            ProblemKind::Conflict,
            "the new address now belongs to another account; the account keeps its address",
        )
        .with_field("email"),
        VerifyEmailError::Internal(err) => err.into(),
    }
}

/// Sends a new verification mail.
///
/// To the pending new address if a change is pending, else to the account's address. The
/// previous link and code stop working.
#[utoipa::path(
    post,
    path = "/api/v1/account/email-verification",
    tag = "account",
    security(("bearer" = ["account"])),
    responses(
        (status = 202, description = "A verification mail (link and code) is on its way",
            body = VerificationSent),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 409, description = "The address is verified and no change is pending \
            (`urn:gatehouse:problem:email-already-verified`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, response = crate::api::openapi::AccountRateLimited),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn resend_verification(
    req: HttpRequest,
    token: AccountToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    limit_account(&state, &token, now).await?;
    let resent = state
        .app
        .resend_email_verification(token.user.id, &audit_context(&req, &token), now)
        .await?;
    match resent {
        Some(ResentVerification::Sent { to }) => {
            Ok(private(HttpResponse::Accepted()).json(VerificationSent { sent_to: to }))
        }
        Some(ResentVerification::AlreadyVerified) => Err(Problem::new(
            ProblemKind::EmailAlreadyVerified,
            "the address is verified and no change of address is pending",
        )),
        None => Err(invalid_token(ACCOUNT_SCOPE)),
    }
}

/// Verifies the address with the code from the verification mail.
///
/// The address the mail went to becomes the account's, verified (for a pending change, the old
/// address is replaced). Wrong codes count against the mail: after five it stops working.
#[utoipa::path(
    post,
    path = "/api/v1/account/email-verification/confirm",
    tag = "account",
    security(("bearer" = ["account"])),
    request_body(content = ConfirmEmailRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "The address is verified"),
        (status = 400, description = "The code is wrong (`urn:gatehouse:problem:invalid-code`, \
            `remaining` tries left; at 0 request a new mail), or the body is not JSON or misses, \
            mistypes or adds a field, or the content type is not JSON",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 409, description = "No verification is waiting for a code \
            (`urn:gatehouse:problem:no-pending-verification`), or the pending new address was \
            taken by another account meanwhile (`urn:gatehouse:problem:conflict`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 429, response = crate::api::openapi::AccountRateLimited),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn confirm_verification(
    req: HttpRequest,
    token: AccountToken,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    limit_account(&state, &token, now).await?;
    let input: ConfirmEmailRequest = json_body(&req, payload).await?;
    state
        .app
        .verify_email_code(
            token.user.id,
            input.code.trim(),
            &audit_context(&req, &token),
            now,
        )
        .await
        .map_err(verify_problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the account's address.
///
/// A verification mail goes to the new address and a notice to the current one; the account
/// keeps its address (shown with `pending_email` by `GET /api/v1/account`) until the new one is
/// verified. An address that belongs to another account gets the same answer (its owner is
/// told instead), so this does not reveal which addresses are registered.
#[utoipa::path(
    patch,
    path = "/api/v1/account",
    tag = "account",
    security(("bearer" = ["account"])),
    request_body(content = AccountUpdate, content_type = "application/json"),
    responses(
        (status = 202, description = "A verification mail is on its way to the new address",
            body = VerificationSent),
        (status = 400, description = "The address breaks a rule of the schema or is already the \
            account's (`field` is `email`), or the body is not JSON or misses, mistypes or adds \
            a field, or the content type is not JSON",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 429, response = crate::api::openapi::AccountRateLimited),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn change_email(
    req: HttpRequest,
    token: AccountToken,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let now = state.clock.now();
    limit_account(&state, &token, now).await?;
    let input: AccountUpdate = json_body(&req, payload).await?;
    state
        .app
        .request_email_change(
            token.user.id,
            &input.email,
            &audit_context(&req, &token),
            now,
        )
        .await
        .map_err(|err| match err {
            EmailChangeError::Invalid(field) => {
                Problem::new(ProblemKind::Validation, field.message).with_field(field.field)
            }
            EmailChangeError::Unchanged => Problem::new(
                ProblemKind::Validation,
                "this is already the account's address",
            )
            .with_field("email"),
            EmailChangeError::UnknownUser => invalid_token(ACCOUNT_SCOPE),
            EmailChangeError::Internal(err) => err.into(),
        })?;
    Ok(private(HttpResponse::Accepted()).json(VerificationSent {
        sent_to: input.email,
    }))
}

/// Changes the password.
///
/// Needs the current password (a wrong one counts toward the account's lockout). Unless
/// `sign_out_other_sessions` is `false`, every other browser session of the user ends with the
/// tokens issued in it; the session this access token was issued in (its `sid`) stays, and a
/// token issued outside a browser session keeps none, its own grant included. The user is
/// mailed a notice.
#[utoipa::path(
    post,
    path = "/api/v1/account/password",
    tag = "account",
    security(("bearer" = ["account"])),
    request_body(content = PasswordChangeRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "The password is changed"),
        (status = 400, description = "The new password breaks a rule of the schema (`field` is \
            `new_password`), or the body is not JSON or misses, mistypes or adds a field, or \
            the content type is not JSON",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::ScopeOrPassword),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn change_password(
    req: HttpRequest,
    token: AccountToken,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let input: PasswordChangeRequest = json_body(&req, payload).await?;
    let others = match (&token.sid, input.sign_out_other_sessions) {
        (_, false) => OtherSessions::Keep,
        (Some(current), true) => OtherSessions::EndAllBut(current),
        (None, true) => OtherSessions::EndAll,
    };
    state
        .app
        .change_password(
            token.user.id,
            &input.current_password,
            &input.new_password,
            others,
            &audit_context(&req, &token),
            state.clock.now(),
        )
        .await
        .map_err(|err| match err {
            ChangePasswordFailure::WrongPassword => {
                Problem::new(ProblemKind::WrongPassword, "the current password is wrong")
                    .with_field("current_password")
            }
            ChangePasswordFailure::WeakPassword(message) => {
                Problem::new(ProblemKind::Validation, message).with_field("new_password")
            }
            ChangePasswordFailure::Backend(err) => err.into(),
        })?;
    Ok(HttpResponse::NoContent().finish())
}
