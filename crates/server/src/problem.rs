//! Errors of the REST API, rendered as `application/problem+json` (RFC 9457).
//!
//! Policy: a client mistake gets a 4xx whose `type` is a stable URN and whose `detail` says what
//! to fix, with the offending `field` when there is one. Anything unexpected is logged in full
//! (inside the request span, so with the request id) and answered with an opaque 500 that carries
//! only the request id to quote. Every body carries `request_id`.
//!
//! Bearer-protected resources (RFC 6750) answer their 401 and 403 with the same problem body
//! plus the `WWW-Authenticate` challenge RFC 6750 §3 requires ([`Problem::with_challenge`]).

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use gatehouse_app::AppError;
use gatehouse_identity::IdentityError;
use serde::Serialize;

use crate::telemetry::current_request_id;

/// The kinds of problem the API reports. `type` URNs are part of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Validation,
    MalformedBody,
    UnsupportedMediaType,
    Conflict,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    Forbidden,
    /// No usable bearer token (RFC 6750 §3.1: none sent, or `invalid_token`).
    Unauthorized,
    /// The token is valid but lacks the scope the resource needs (RFC 6750 §3.1).
    InsufficientScope,
    /// The sign-in behind the token is too old for a sensitive change: sign in again.
    ReauthenticationRequired,
    /// The password typed again to confirm a change is wrong.
    WrongPassword,
    /// A one-time code (TOTP, RFC 6238) does not match or was already used.
    InvalidCode,
    /// A code typed into a form-like request (email verification, password reset) is wrong:
    /// the `invalid-code` type with 400, like the request's other field errors; `remaining`
    /// says how many tries are left.
    WrongCode,
    /// A mailed link's token (password reset) is unknown, expired, used or replaced.
    InvalidLinkToken,
    /// The account has a second factor and the request carried no code for it.
    SecondFactorRequired,
    /// The account's address is verified and no change of address is pending.
    EmailAlreadyVerified,
    /// No verification (of the address or of a new one) is waiting for a code.
    NoPendingVerification,
    /// The account already has a second factor.
    TwoFactorEnabled,
    /// The account has no second factor to act on.
    TwoFactorNotEnabled,
    /// No second-factor enrolment is waiting for confirmation.
    NoPendingEnrolment,
    /// Over a rate limit (RFC 6585 §4); `Retry-After` says when to try again.
    TooManyRequests,
    Internal,
    Unavailable,
}

impl ProblemKind {
    fn urn(self) -> &'static str {
        match self {
            Self::Validation => "urn:gatehouse:problem:validation",
            Self::MalformedBody => "urn:gatehouse:problem:malformed-body",
            Self::UnsupportedMediaType => "urn:gatehouse:problem:unsupported-media-type",
            Self::Conflict => "urn:gatehouse:problem:conflict",
            Self::NotFound => "urn:gatehouse:problem:not-found",
            Self::MethodNotAllowed => "urn:gatehouse:problem:method-not-allowed",
            Self::PayloadTooLarge => "urn:gatehouse:problem:payload-too-large",
            Self::Forbidden => "urn:gatehouse:problem:forbidden",
            Self::Unauthorized => "urn:gatehouse:problem:unauthorized",
            Self::InsufficientScope => "urn:gatehouse:problem:insufficient-scope",
            Self::ReauthenticationRequired => "urn:gatehouse:problem:reauthentication-required",
            Self::WrongPassword => "urn:gatehouse:problem:wrong-password",
            Self::InvalidCode | Self::WrongCode => "urn:gatehouse:problem:invalid-code",
            Self::InvalidLinkToken => "urn:gatehouse:problem:invalid-token",
            Self::SecondFactorRequired => "urn:gatehouse:problem:second-factor-required",
            Self::EmailAlreadyVerified => "urn:gatehouse:problem:email-already-verified",
            Self::NoPendingVerification => "urn:gatehouse:problem:no-pending-verification",
            Self::TwoFactorEnabled => "urn:gatehouse:problem:two-factor-enabled",
            Self::TwoFactorNotEnabled => "urn:gatehouse:problem:two-factor-not-enabled",
            Self::NoPendingEnrolment => "urn:gatehouse:problem:no-pending-enrolment",
            Self::TooManyRequests => "urn:gatehouse:problem:too-many-requests",
            Self::Internal => "urn:gatehouse:problem:internal",
            Self::Unavailable => "urn:gatehouse:problem:unavailable",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Validation => "Invalid field",
            Self::MalformedBody => "Malformed request body",
            Self::UnsupportedMediaType => "Unsupported content type",
            Self::Conflict => "Already exists",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::PayloadTooLarge => "Payload too large",
            Self::Forbidden => "Forbidden",
            Self::Unauthorized => "Authentication required",
            Self::InsufficientScope => "Insufficient scope",
            Self::ReauthenticationRequired => "Re-authentication required",
            Self::WrongPassword => "Wrong password",
            Self::InvalidCode | Self::WrongCode => "Invalid code",
            Self::InvalidLinkToken => "Invalid or expired link",
            Self::SecondFactorRequired => "Second factor required",
            Self::EmailAlreadyVerified => "Email address already verified",
            Self::NoPendingVerification => "No pending verification",
            Self::TwoFactorEnabled => "Two-factor authentication is on",
            Self::TwoFactorNotEnabled => "Two-factor authentication is off",
            Self::NoPendingEnrolment => "No pending enrolment",
            Self::TooManyRequests => "Too many requests",
            Self::Internal => "Internal server error",
            Self::Unavailable => "Service unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            // The issue fixes 400 for every malformed request, wrong content type included.
            Self::Validation
            | Self::MalformedBody
            | Self::UnsupportedMediaType
            | Self::WrongCode
            | Self::InvalidLinkToken
            | Self::SecondFactorRequired => StatusCode::BAD_REQUEST,
            Self::Conflict
            | Self::TwoFactorEnabled
            | Self::TwoFactorNotEnabled
            | Self::NoPendingEnrolment
            | Self::EmailAlreadyVerified
            | Self::NoPendingVerification => StatusCode::CONFLICT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            // RFC 6750 §3.1 fixes 403 for insufficient_scope; the other two are a valid token
            // whose holder must still prove something before the change goes ahead.
            Self::Forbidden
            | Self::InsufficientScope
            | Self::ReauthenticationRequired
            | Self::WrongPassword => StatusCode::FORBIDDEN,
            // Well-formed and understood, but the code in it is wrong (RFC 9110 §15.5.21).
            Self::InvalidCode => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    pub field: Option<String>,
    /// The `WWW-Authenticate` challenge of a bearer-protected resource (RFC 6750 §3).
    pub challenge: Option<HeaderValue>,
    /// Seconds for `Retry-After` (RFC 9110 §10.2.3), set by [`Problem::too_many_requests`].
    pub retry_after: Option<u64>,
    /// Tries left for a code ([`ProblemKind::WrongCode`]).
    pub remaining: Option<i32>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining: Option<i32>,
    request_id: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            field: None,
            challenge: None,
            retry_after: None,
            remaining: None,
        }
    }

    /// Over a per-IP rate limit (RFC 6585 §4): 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::rate_limited(retry_after_secs, "from this address")
    }

    /// Over a rate limit counted per `whose` ("for this account"): 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64, whose: &str) -> Self {
        let mut problem = Self::new(
            ProblemKind::TooManyRequests,
            format!("Too many requests {whose}. Retry after {retry_after_secs} s (Retry-After)."),
        );
        problem.retry_after = Some(retry_after_secs);
        problem
    }

    /// A wrong code with `remaining` tries left (400, `urn:gatehouse:problem:invalid-code`).
    pub fn wrong_code(remaining: i32) -> Self {
        let detail = if remaining > 0 {
            format!("the code is wrong; {remaining} more tries before it stops working")
        } else {
            "the code is wrong and no tries are left: request a new one".to_owned()
        };
        let mut problem = Self::new(ProblemKind::WrongCode, detail).with_field("code");
        problem.remaining = Some(remaining.max(0));
        problem
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// A backend (database, session store) cannot be reached; the caller may retry.
    pub fn unavailable() -> Self {
        Self::new(
            ProblemKind::Unavailable,
            "The service is temporarily unavailable. Retry after the time Retry-After gives.",
        )
    }

    /// An unexpected failure: the cause goes to the log, the client gets the request id only.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ProblemKind::Internal,
            "An unexpected error occurred. Quote the request id when you report it.",
        )
    }
}

/// The one place a database failure becomes a problem: unreachable is a 503
/// (`urn:gatehouse:problem:unavailable`, with `Retry-After` from crate::unavailable) logged as a
/// warning, anything else an opaque 500.
impl From<IdentityError> for Problem {
    fn from(err: IdentityError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error = %err, "identity database unavailable");
            return Self::unavailable();
        }
        Self::internal(&err)
    }
}

/// The application layer's backend failures follow the same policy as the database's.
impl From<AppError> for Problem {
    fn from(err: AppError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error = %err, "backing service unavailable");
            return Self::unavailable();
        }
        Self::internal(&err)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    fn error_response(&self) -> HttpResponse {
        let body = ProblemBody {
            kind: self.kind.urn(),
            title: self.kind.title(),
            status: self.kind.status().as_u16(),
            detail: &self.detail,
            field: self.field.as_deref(),
            remaining: self.remaining,
            request_id: current_request_id(),
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, "application/problem+json"));
        if let Some(challenge) = &self.challenge {
            response.insert_header((WWW_AUTHENTICATE, challenge.clone()));
        }
        if let Some(secs) = self.retry_after {
            // A refusal is about this moment: no cache may replay it after the window.
            response
                .insert_header((RETRY_AFTER, secs))
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
        }
        response.body(json)
    }
}

/// Decodes a JSON request body strictly: `Content-Type` must be JSON, the body must parse, and a
/// missing, unknown or mistyped field is named in the error.
pub fn decode_json<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
    body: &[u8],
) -> Result<T, Problem> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!(
                "Content-Type must be application/json, got {}",
                if content_type.is_empty() {
                    "none"
                } else {
                    content_type
                }
            ),
        ));
    }
    // Every body is an object; serde would also read a struct from an array of its fields.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::new(
            ProblemKind::MalformedBody,
            "the body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        // "." is the root and "?" an unknown segment (a syntax error inside a key): no field.
        let field = if path != "." && !path.is_empty() && !path.contains('?') {
            Some(path)
        } else {
            missing_or_unknown_field(&message)
        };
        let problem = Problem::new(ProblemKind::MalformedBody, message);
        match field {
            Some(field) => problem.with_field(field),
            None => problem,
        }
    })?;
    deserializer.end().map_err(|err| {
        Problem::new(
            ProblemKind::MalformedBody,
            format!("trailing data after the JSON value: {err}"),
        )
    })?;
    Ok(value)
}

/// serde reports a missing or unknown field at the parent's path; the name is in the message.
fn missing_or_unknown_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    (message.starts_with("missing field") || message.starts_with("unknown field"))
        .then(|| message[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: u8,
    }

    fn request(content_type: Option<&str>) -> actix_web::HttpRequest {
        let mut req = actix_web::test::TestRequest::default();
        if let Some(ct) = content_type {
            req = req.insert_header(("content-type", ct));
        }
        req.to_http_request()
    }

    #[test]
    fn missing_field_is_named() {
        let err = decode_json::<Body>(&request(Some("application/json")), br#"{"name":"x"}"#)
            .unwrap_err();
        assert_eq!(err.kind, ProblemKind::MalformedBody);
        assert_eq!(err.field.as_deref(), Some("age"));
    }

    #[test]
    fn mistyped_and_unknown_fields_are_named() {
        let req = request(Some("application/json; charset=utf-8"));
        let err = decode_json::<Body>(&req, br#"{"name":"x","age":"old"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("age"));
        let err = decode_json::<Body>(&req, br#"{"name":"x","age":1,"zzz":1}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("zzz"));
    }

    #[actix_web::test]
    async fn a_wrong_code_says_how_many_tries_are_left() {
        let response = Problem::wrong_code(3).error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "urn:gatehouse:problem:invalid-code");
        assert_eq!(body["field"], "code");
        assert_eq!(body["remaining"], 3);
        let response = Problem::new(ProblemKind::Validation, "x").error_response();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("remaining"));
    }

    #[test]
    fn wrong_content_type_and_bad_json_are_rejected() {
        let err = decode_json::<Body>(&request(Some("text/plain")), b"{}").unwrap_err();
        assert_eq!(err.kind, ProblemKind::UnsupportedMediaType);
        let err = decode_json::<Body>(&request(None), b"{}").unwrap_err();
        assert_eq!(err.kind, ProblemKind::UnsupportedMediaType);
        let err = decode_json::<Body>(&request(Some("application/json")), b"{nope").unwrap_err();
        assert_eq!(err.kind, ProblemKind::MalformedBody);
        assert_eq!(err.field, None);
    }
}
