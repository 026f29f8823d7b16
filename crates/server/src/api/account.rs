//! `/api/v1/account`: the signed-in user's own account over REST (issue 9 §3): who they are,
//! their browser sessions (any of which they can end), and their second factor (RFC 6238 TOTP
//! with recovery codes). The address and password are changed in `account_credentials`.
//!
//! Every operation needs an access token with the `account` scope ([`AccountToken`], RFC
//! 6750); the user is the token's `sub`, the current session its `sid` (the session id of OIDC
//! Back-Channel Logout 1.0 §2.1, which is also a session's public id here). Handlers extract,
//! make one call into the application layer and map its result. Responses that describe the
//! account carry `Cache-Control: no-store` (RFC 9111 §5.2.2.5: a TOTP secret or recovery codes
//! must never sit in a cache).

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use chrono::{DateTime, Utc};
use gatehouse_app::{Reauthentication, SessionEnd, SessionRef, SessionView, TwoFactorError};
use gatehouse_identity::{EmailStatus, RequestContext, User};
use gatehouse_sessions::SessionHandle;
use serde::{Deserialize, Serialize};

use super::bearer::{ACCOUNT_SCOPE, AccountToken, invalid_token};
use super::read_body;
use crate::app::AppState;
use crate::browser::request_context;
use crate::problem::{Problem, ProblemKind, decode_json};

/// The account as its owner sees it: never the password hash, nor the status (a token for an
/// account that may not be used is refused before this is built).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0b8e3c52-8f5e-4f7a-9d6e-2f4c1a7b9e10",
    "username": "alice",
    "email": "alice@example.com",
    "email_verified": false,
    "pending_email": null,
    "totp_enabled": true,
    "created_at": "2026-11-30T10:57:00Z"
}))]
pub struct AccountView {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// A new address waiting for its verification (`PATCH /api/v1/account`); until then the
    /// account keeps `email`.
    pub pending_email: Option<String>,
    /// Whether sign-in asks for a TOTP code (a pending enrolment does not count).
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl AccountView {
    fn new(user: &User, email: EmailStatus, totp_enabled: bool) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: email.email,
            email_verified: email.verified,
            pending_email: email.pending,
            totp_enabled,
            created_at: user.created_at,
        }
    }
}

/// One live browser session of the user.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "5f2b0c8e4d1a7b3c9e6f0a2d4b8c1e3f5a7d9b0c2e4f6a8b1d3c5e7f9a0b2c4d",
    "created_at": "2026-11-30T10:57:00Z",
    "last_seen_at": "2026-11-30T11:20:00Z",
    "ip": "192.0.2.10",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "amr": ["pwd", "otp"],
    "current": true,
    "clients": ["mail-app"]
}))]
pub struct AccountSession {
    /// The session's public id: what `DELETE /api/v1/account/sessions/{id}` takes, and the
    /// `sid` of tokens issued in it.
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The last request seen with the session, at most five minutes stale; its start until then.
    pub last_seen_at: DateTime<Utc>,
    /// The address it was signed in from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How the user authenticated (OIDC `amr`, RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    /// The session this access token was issued in (its `sid`).
    pub current: bool,
    /// The clients that received tokens in this session, sorted.
    pub clients: Vec<String>,
}

impl AccountSession {
    fn new(view: SessionView, current: Option<&SessionHandle>) -> Self {
        let created_at = unix_time(view.session.created_at);
        Self {
            current: current == Some(&view.handle),
            id: view.handle.0,
            created_at,
            last_seen_at: view.session.last_seen_at.map_or(created_at, unix_time),
            ip: view.session.ip,
            user_agent: view.session.user_agent,
            amr: view.session.amr,
            clients: view.clients,
        }
    }
}

/// The answer to "sign out all other sessions".
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"count": 2}))]
pub struct EndedSessions {
    /// How many sessions ended.
    pub count: usize,
}

/// A TOTP enrolment waiting for its first code (`POST /api/v1/account/totp/confirm`).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/Gatehouse:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
}))]
pub struct TotpEnrolmentView {
    /// The shared secret, RFC 4648 base32 without padding, for manual entry.
    pub secret: String,
    /// The `otpauth://` URI authenticator apps read (usually from a QR code).
    pub otpauth_uri: String,
}

/// One-time recovery codes, shown once: only their hashes are kept.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"recovery_codes": [
    "7kq2-m9xd", "p4rt-8wza", "c6vh-2njf", "x3mb-q7ke", "t9gd-5yrp",
    "h2wn-k8cs", "b5fz-3tqv", "r8ja-6mxe", "n4ck-9hwd", "e7vs-2pbg"
]}))]
pub struct RecoveryCodesView {
    pub recovery_codes: Vec<String>,
}

/// The code that proves the new authenticator works.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct ConfirmTotpRequest {
    /// The code the authenticator shows now (RFC 6238: 6 digits by default).
    pub code: String,
}

/// The account's password, typed again to confirm a change. Not `Debug`: it must never be
/// printed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "plume-atlas-47-quietly"}))]
pub struct PasswordConfirmation {
    pub password: String,
}

/// A stored Unix time as a timestamp; the store only holds times it wrote itself.
fn unix_time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// Who is asking, for the audit trail: the request's address and agent, acting as the user.
pub(super) fn audit_context(req: &HttpRequest, token: &AccountToken) -> RequestContext {
    let mut ctx = request_context(req);
    ctx.actor = Some(token.user.id.to_string());
    ctx
}

pub(super) fn private(mut response: HttpResponseBuilder) -> HttpResponseBuilder {
    response.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    response
}

/// How each second-factor outcome reads to an API client.
fn two_factor_problem(err: TwoFactorError) -> Problem {
    let detail = err.to_string();
    match err {
        TwoFactorError::ReauthenticationRequired => Problem::new(
            ProblemKind::ReauthenticationRequired,
            "the sign-in behind this access token is older than the re-authentication window: \
             have the user sign in again (an authorization request with prompt=login or \
             max_age=0, OIDC Core §3.1.2.1) and use the new access token",
        ),
        TwoFactorError::WrongPassword => {
            Problem::new(ProblemKind::WrongPassword, detail).with_field("password")
        }
        TwoFactorError::AlreadyEnabled => Problem::new(
            ProblemKind::TwoFactorEnabled,
            format!("{detail}; switch it off first (DELETE /api/v1/account/totp)"),
        ),
        TwoFactorError::NothingToConfirm => Problem::new(
            ProblemKind::NoPendingEnrolment,
            "there is no enrolment to confirm; start one with POST /api/v1/account/totp",
        ),
        TwoFactorError::InvalidCode => {
            Problem::new(ProblemKind::InvalidCode, detail).with_field("code")
        }
        TwoFactorError::NotEnabled => Problem::new(ProblemKind::TwoFactorNotEnabled, detail),
        // The account went away after the token was checked: the token no longer names anyone.
        TwoFactorError::UnknownUser => invalid_token(ACCOUNT_SCOPE),
        TwoFactorError::Backend(err) => err.into(),
    }
}

/// Reads and decodes a JSON body (see `crate::problem::decode_json`).
pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, Problem> {
    let body = read_body(payload).await?;
    decode_json(req, &body)
}

/// The account of the token's user.
#[utoipa::path(
    get,
    path = "/api/v1/account",
    tag = "account",
    security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn show(
    token: AccountToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let Some(email) = state
        .app
        .email_status(token.user.id, state.clock.now())
        .await?
    else {
        // The account went away after the token was checked.
        return Err(invalid_token(ACCOUNT_SCOPE));
    };
    let totp = state.app.totp_status(token.user.id).await?;
    Ok(private(HttpResponse::Ok()).json(AccountView::new(&token.user, email, totp.enabled)))
}

/// Lists the user's live browser sessions, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/account/sessions",
    tag = "account",
    security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "Every live session of the user, oldest first; \
            `current` marks the one this access token was issued in",
            body = Vec<AccountSession>),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn list_sessions(
    token: AccountToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let sessions: Vec<AccountSession> = state
        .app
        .list_sessions(token.user.id, state.clock.now())
        .await?
        .into_iter()
        .map(|view| AccountSession::new(view, token.sid.as_ref()))
        .collect();
    Ok(private(HttpResponse::Ok()).json(sessions))
}

/// Ends one of the user's sessions.
///
/// As signing out there would: its cookie is refused from now on and the tokens issued in it
/// stop working (those with `offline_access` excepted); clients that received tokens in it get
/// a back-channel logout. Ending the current session revokes this access token too.
#[utoipa::path(
    delete,
    path = "/api/v1/account/sessions/{id}",
    tag = "account",
    security(("bearer" = ["account"])),
    params(("id" = String, Path, description = "The session's `id` from the session list",
        pattern = "^[0-9a-f]{64}$",
        example = "5f2b0c8e4d1a7b3c9e6f0a2d4b8c1e3f5a7d9b0c2e4f6a8b1d3c5e7f9a0b2c4d")),
    responses(
        (status = 204, description = "The session ended"),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 404, description = "The user has no live session with this id (unknown, \
            already ended, or another user's); nothing changed",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn end_session(
    req: HttpRequest,
    token: AccountToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let handle = SessionHandle(id.into_inner());
    let ended = state
        .app
        .end_session(
            SessionRef::OfUser(token.user.id, &handle),
            SessionEnd::SignedOutFromList,
            &audit_context(&req, &token),
            state.clock.now(),
        )
        .await?;
    if !ended {
        return Err(Problem::new(
            ProblemKind::NotFound,
            "you have no live session with this id",
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Signs out all other sessions.
///
/// Ends every session of the user but the one this access token was issued in (its `sid`),
/// each as `DELETE /api/v1/account/sessions/{id}` would. A token issued outside a browser
/// session (no `sid`) has no current session to keep, so every session ends.
#[utoipa::path(
    delete,
    path = "/api/v1/account/sessions",
    tag = "account",
    security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "How many sessions ended", body = EndedSessions),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn end_other_sessions(
    req: HttpRequest,
    token: AccountToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    // An empty handle names no session (handles are 64 hex digits), so none is kept.
    let keep = token.sid.clone().unwrap_or(SessionHandle(String::new()));
    let count = state
        .app
        .end_other_sessions(
            token.user.id,
            &keep,
            &audit_context(&req, &token),
            state.clock.now(),
        )
        .await?;
    Ok(private(HttpResponse::Ok()).json(EndedSessions { count }))
}

/// Starts (or restarts) a TOTP enrolment.
///
/// Needs a recent sign-in: the token's `auth_time` must lie within the re-authentication
/// window (ten minutes unless configured otherwise). Nothing is protected until the enrolment
/// is confirmed with a code.
#[utoipa::path(
    post,
    path = "/api/v1/account/totp",
    tag = "account",
    security(("bearer" = ["account"])),
    responses(
        (status = 200, description = "A new secret, pending until confirmed", body = TotpEnrolmentView),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, description = "The token lacks the `account` scope \
            (`urn:gatehouse:problem:insufficient-scope`, with a `WWW-Authenticate` challenge), \
            or the sign-in behind it is older than the re-authentication window \
            (`urn:gatehouse:problem:reauthentication-required`: sign in again)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "With insufficient_scope: \
                `Bearer realm=\"gatehouse\", error=\"insufficient_scope\", …, scope=\"account\"`"))),
        (status = 409, description = "Two-factor authentication is already on \
            (`urn:gatehouse:problem:two-factor-enabled`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn begin_totp(
    req: HttpRequest,
    token: AccountToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let Some(auth_time) = token.auth_time else {
        return Err(two_factor_problem(TwoFactorError::ReauthenticationRequired));
    };
    let enrolment = state
        .app
        .begin_totp_enrolment(
            token.user.id,
            Reauthentication::SignedInAt(auth_time),
            &audit_context(&req, &token),
            state.clock.now(),
        )
        .await
        .map_err(two_factor_problem)?;
    Ok(private(HttpResponse::Ok()).json(TotpEnrolmentView {
        secret: enrolment.secret_base32,
        otpauth_uri: enrolment.otpauth_uri,
    }))
}

/// Confirms the pending TOTP enrolment.
///
/// With a code from the new authenticator: two-factor authentication is on from now, and the
/// recovery codes are shown, once. The code counts as used (RFC 6238 §5.2).
#[utoipa::path(
    post,
    path = "/api/v1/account/totp/confirm",
    tag = "account",
    security(("bearer" = ["account"])),
    request_body(content = ConfirmTotpRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Two-factor authentication is on; the recovery codes",
            body = RecoveryCodesView),
        (status = 400, response = crate::api::openapi::BadBody),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::InsufficientScope),
        (status = 409, description = "No enrolment is waiting for a code \
            (`urn:gatehouse:problem:no-pending-enrolment`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 422, description = "The code is wrong or was already used \
            (`urn:gatehouse:problem:invalid-code`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn confirm_totp(
    req: HttpRequest,
    token: AccountToken,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let input: ConfirmTotpRequest = json_body(&req, payload).await?;
    let codes = state
        .app
        .confirm_totp_enrolment(
            token.user.id,
            &input.code,
            None,
            &audit_context(&req, &token),
            state.clock.now(),
        )
        .await
        .map_err(two_factor_problem)?;
    Ok(private(HttpResponse::Ok()).json(RecoveryCodesView {
        recovery_codes: codes.into_codes(),
    }))
}

/// Switches two-factor authentication off.
///
/// A pending enrolment too; the recovery codes stop working. Needs the password; a wrong one
/// counts toward the account's lockout like a failed sign-in.
#[utoipa::path(
    delete,
    path = "/api/v1/account/totp",
    tag = "account",
    security(("bearer" = ["account"])),
    request_body(content = PasswordConfirmation, content_type = "application/json"),
    responses(
        (status = 204, description = "Two-factor authentication is off"),
        (status = 400, response = crate::api::openapi::BadBody),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::ScopeOrPassword),
        (status = 409, description = "Two-factor authentication is not on \
            (`urn:gatehouse:problem:two-factor-not-enabled`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn disable_totp(
    req: HttpRequest,
    token: AccountToken,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let input: PasswordConfirmation = json_body(&req, payload).await?;
    state
        .app
        .disable_totp(
            token.user.id,
            &input.password,
            &audit_context(&req, &token),
            state.clock.now(),
        )
        .await
        .map_err(two_factor_problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the recovery codes.
///
/// A new set; the old set stops working. Needs the password (a wrong one counts toward
/// lockout) and two-factor authentication on.
#[utoipa::path(
    post,
    path = "/api/v1/account/recovery-codes",
    tag = "account",
    security(("bearer" = ["account"])),
    request_body(content = PasswordConfirmation, content_type = "application/json"),
    responses(
        (status = 200, description = "The new recovery codes, shown once", body = RecoveryCodesView),
        (status = 400, response = crate::api::openapi::BadBody),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::ScopeOrPassword),
        (status = 409, description = "Two-factor authentication is not on \
            (`urn:gatehouse:problem:two-factor-not-enabled`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn regenerate_recovery_codes(
    req: HttpRequest,
    token: AccountToken,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let input: PasswordConfirmation = json_body(&req, payload).await?;
    let codes = state
        .app
        .regenerate_recovery_codes(
            token.user.id,
            &input.password,
            &audit_context(&req, &token),
            state.clock.now(),
        )
        .await
        .map_err(two_factor_problem)?;
    Ok(private(HttpResponse::Ok()).json(RecoveryCodesView {
        recovery_codes: codes.into_codes(),
    }))
}
