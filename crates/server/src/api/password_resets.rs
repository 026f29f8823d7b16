//! `/api/v1/password-resets`: a forgotten password, over REST. A request mails a reset link
//! (`{issuer}/password/reset?token=…`) to the account at an address; completing it with the
//! link's token sets a new password and ends every session and grant of the user.
//!
//! A request answers the same, in the same time, whether the address has an account or not:
//! both rate limits are counted first (per client IP, `rate_limits.password_reset_per_ip`, and
//! per address, `password_reset_per_account`), then the work runs in the background and the
//! answer is a fixed 202. A completion counts toward the IP's limit and the target account's.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use gatehouse_app::ResetFailure;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::read_body;
use crate::app::{AppState, RateLimited};
use crate::browser::request_context;
use crate::problem::{Problem, ProblemKind, decode_json};

/// A request for a reset link.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice@example.com"}))]
pub struct PasswordResetRequest {
    #[schema(schema_with = reset_email_schema)]
    pub email: String,
}

/// Any string up to the longest address: whether it is one is not the caller's business to
/// learn here, so a malformed address is accepted (and mails nobody) like an unknown one.
fn reset_email_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "The account's address (surrounding spaces and letter case do not matter).",
        ))
        .examples(["alice@example.com"])
        .min_length(Some(1))
        .max_length(Some(gatehouse_identity::EMAIL_MAX_CHARS))
        .build()
}

/// The one answer to a reset request.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "accepted"}))]
pub struct PasswordResetAccepted {
    pub status: ResetRequestStatus,
}

/// A reset request is only ever accepted: whether a link went out is not said.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResetRequestStatus {
    Accepted,
}

/// A new password from a reset link. Not `Debug`: it must never be printed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "token": "q2Xv9kR4mZ8tLw1nB6yC3pH7sD0fJ5gA",
    "new_password": "cobalt-harbor-19-slowly"
}))]
pub struct PasswordResetCompletion {
    /// The `token` parameter of the mailed link.
    #[schema(example = "q2Xv9kR4mZ8tLw1nB6yC3pH7sD0fJ5gA")]
    pub token: String,
    #[schema(schema_with = super::users::password_schema)]
    pub new_password: String,
    /// For an account with a second factor: a code from the authenticator app (RFC 6238) or
    /// a recovery code.
    #[schema(example = "492039")]
    pub code: Option<String>,
}

fn private(mut response: HttpResponseBuilder) -> HttpResponseBuilder {
    response.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    response
}

async fn limit(
    state: &AppState,
    request: RateLimited,
    subject: Option<&str>,
    whose: &str,
) -> Result<(), Problem> {
    match state
        .rate_limits
        .check(request, subject, state.clock.now())
        .await
    {
        Some(retry_after) => Err(Problem::rate_limited(retry_after, whose)),
        None => Ok(()),
    }
}

/// Asks for a reset link.
///
/// If an active account has this address, a reset link goes to it (valid once, for
/// `password_reset.ttl_secs`; it replaces older links). The answer is the same whether or not
/// one has: it says nothing about which addresses are registered.
#[utoipa::path(
    post,
    path = "/api/v1/password-resets",
    tag = "password-resets",
    request_body(content = PasswordResetRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted; a link is mailed if an account has the address",
            body = PasswordResetAccepted),
        (status = 400, description = "`email` is empty or over 254 characters (`field` names \
            it), or the body is not JSON or misses, mistypes or adds a field, or the content \
            type is not JSON",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 429, response = crate::api::openapi::PasswordResetRateLimited),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn request(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let ctx = request_context(&req);
    limit(
        &state,
        RateLimited::PasswordReset,
        ctx.ip.as_deref(),
        "from this address",
    )
    .await?;
    let body = read_body(payload).await?;
    let input: PasswordResetRequest = decode_json(&req, &body)?;
    let length = input.email.chars().count();
    if length == 0 || length > gatehouse_identity::EMAIL_MAX_CHARS {
        return Err(Problem::new(
            ProblemKind::Validation,
            format!(
                "an address has 1 to {} characters",
                gatehouse_identity::EMAIL_MAX_CHARS
            ),
        )
        .with_field("email"));
    }
    let address = input.email.trim().to_lowercase();
    limit(
        &state,
        RateLimited::PasswordResetAccount,
        Some(&address),
        "for this address",
    )
    .await?;
    // Looking the address up, writing the link and queueing the mail take a time that tells
    // whether the account exists: it happens after the answer (`crate::reset_requests`).
    state.reset_requests.submit(&input.email, ctx);
    let accepted = PasswordResetAccepted {
        status: ResetRequestStatus::Accepted,
    };
    Ok(private(HttpResponse::Accepted()).json(accepted))
}

fn invalid_link() -> Problem {
    Problem::new(
        ProblemKind::InvalidLinkToken,
        "this reset link is not valid (unknown, expired, used or replaced by a newer one): \
         request a new one with POST /api/v1/password-resets",
    )
    .with_field("token")
}

/// Sets a new password with a reset link's token.
///
/// For an account with a second factor, `code` must carry a TOTP or recovery code; wrong codes
/// count toward the account's lockout and against the link. Once done, the link is used up and
/// every browser session and grant of the user ends (back-channel logouts included); the user
/// is mailed a notice.
#[utoipa::path(
    post,
    path = "/api/v1/password-resets/complete",
    tag = "password-resets",
    request_body(content = PasswordResetCompletion, content_type = "application/json"),
    responses(
        (status = 204, description = "The password is set; every session of the user ended",
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "The token is unknown, expired, used or replaced \
            (`urn:gatehouse:problem:invalid-token`); the new password breaks a rule of the \
            schema (`urn:gatehouse:problem:validation`, `field` is `new_password`); the account \
            has a second factor and `code` is missing \
            (`urn:gatehouse:problem:second-factor-required`) or wrong \
            (`urn:gatehouse:problem:invalid-code`, `remaining` tries left on the link); or the \
            body is not JSON or misses, mistypes or adds a field, or the content type is not \
            JSON",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 429, response = crate::api::openapi::PasswordResetRateLimited),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn complete(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let ctx = request_context(&req);
    limit(
        &state,
        RateLimited::PasswordReset,
        ctx.ip.as_deref(),
        "from this address",
    )
    .await?;
    let body = read_body(payload).await?;
    let input: PasswordResetCompletion = decode_json(&req, &body)?;
    let now = state.clock.now();
    let target = state
        .app
        .password_reset_target(&input.token, now)
        .await?
        .ok_or_else(invalid_link)?;
    limit(
        &state,
        RateLimited::PasswordResetAccount,
        Some(&target.user_id.to_string()),
        "for this account",
    )
    .await?;
    state
        .app
        .complete_password_reset(
            &input.token,
            &input.new_password,
            input.code.as_deref(),
            &ctx,
            now,
        )
        .await
        .map_err(|err| match err {
            ResetFailure::InvalidToken => invalid_link(),
            ResetFailure::WeakPassword(message) => {
                Problem::new(ProblemKind::Validation, message).with_field("new_password")
            }
            ResetFailure::SecondFactorRequired => Problem::new(
                ProblemKind::SecondFactorRequired,
                "the account has a second factor: send a code from the authenticator app or a \
                 recovery code in `code`",
            )
            .with_field("code"),
            ResetFailure::InvalidCode { remaining } => Problem::wrong_code(remaining),
            ResetFailure::Backend(err) => err.into(),
        })?;
    Ok(private(HttpResponse::NoContent()).finish())
}
