//! The protocol errors this crate answers with, and their HTTP mapping.
//!
//! Policy:
//! - A client-caused failure is an [`OAuthError`] whose `error` is the RFC code (RFC 6749 §5.2,
//!   §4.1.2.1; RFC 7009 §2.2.1; RFC 7662 §2.3; OIDC Core §3.1.2.6) and whose
//!   `error_description` says what to fix, never why an internal check failed.
//! - Anything unexpected (database, store, crypto) is logged here with its cause and leaves as
//!   an opaque `server_error` (500), or `temporarily_unavailable` (503) when the session store
//!   or the database cannot be reached (`IdentityError::is_unavailable`): the caller can retry,
//!   nothing is wrong with its request. The server adds `Retry-After` to every 503.
//! - Bearer-protected resources (userinfo) answer with a [`BearerError`] (RFC 6750 §3).
//!
//! Descriptions only ever hold the characters RFC 6749 §5.2 allows (%x20-21 / %x23-5B /
//! %x5D-7E); [`sanitize_description`] enforces that for both the JSON body and the redirect.

use std::fmt;

use gatehouse_identity::IdentityError;
use gatehouse_sessions::StoreError;
use gatehouse_tokens::TokenError;
use serde_json::{Value, json};

/// The realm of every `WWW-Authenticate` challenge we send.
pub const REALM: &str = "gatehouse";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    /// OIDC Core §3.1.2.6: the `request` parameter (a request object) is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 8628 §3.5: the user has not yet approved or denied the device request.
    AuthorizationPending,
    /// RFC 8628 §3.5: still pending, and the device polls faster than its interval.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
    /// RFC 8707 §2 and RFC 8693 §2.2.2: the requested resource or audience is unknown, not
    /// allowed for the client, or malformed.
    InvalidTarget,
}

impl ErrorCode {
    /// The registered error code (RFC 6749 §11.4, RFC 6750 §6.2, OIDC Core §3.1.2.6, RFC 8628
    /// §3.5).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidTarget => "invalid_target",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error response of the token, introspection and revocation endpoints (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Whether the client tried HTTP Basic authentication (RFC 6749 §5.2 makes the
    /// `WWW-Authenticate` header a MUST in that case).
    pub basic_attempted: bool,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            basic_attempted: false,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    /// The opaque answer to an internal failure; the cause goes to the log only.
    pub(crate) fn server_error(context: &str, cause: &dyn fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Self::new(
            ErrorCode::ServerError,
            "the authorization server encountered an unexpected condition",
        )
    }

    /// A backend is down; the client may retry (`Retry-After` says when).
    fn temporarily_unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the authorization server is temporarily unavailable, retry later",
        )
    }

    pub(crate) fn with_basic_attempted(mut self, attempted: bool) -> Self {
        self.basic_attempted = attempted;
        self
    }

    /// RFC 6749 §5.2: 400 unless the client failed to authenticate (401); RFC 6749 §4.1.2.1
    /// mirrors 500/503 for `server_error` / `temporarily_unavailable`.
    pub fn status(&self) -> u16 {
        match self.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }

    /// RFC 6749 §5.2: a 401 for `invalid_client` MUST carry a challenge for the scheme the
    /// client used when it used HTTP Basic; we send it for every `invalid_client` so that a
    /// client that sent nothing learns which scheme to use.
    pub fn www_authenticate(&self) -> Option<String> {
        (self.code == ErrorCode::InvalidClient).then(|| format!("Basic realm=\"{REALM}\""))
    }

    /// The JSON body (RFC 6749 §5.2).
    pub fn body(&self) -> Value {
        json!({
            "error": self.code.as_str(),
            "error_description": sanitize_description(&self.description),
        })
    }
}

impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "session store unavailable");
                Self::temporarily_unavailable()
            }
            corrupt @ StoreError::Corrupt(_) => Self::server_error("session store", &corrupt),
        }
    }
}

/// The one place a database failure becomes a protocol error: unreachable is
/// `temporarily_unavailable` (RFC 6749 §5.2 for the token endpoint, §4.1.2.1 for the
/// authorization endpoint's redirect), logged as a warning since the outage is not this
/// request's fault; anything else is a `server_error`.
impl From<IdentityError> for OAuthError {
    fn from(err: IdentityError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(cause = %err, "identity database unavailable");
            return Self::temporarily_unavailable();
        }
        Self::server_error("identity database", &err)
    }
}

/// Only for minting: a token we fail to sign is our fault. Verification failures are never
/// converted this way; they become `invalid_grant`, `invalid_token` or "inactive".
impl From<TokenError> for OAuthError {
    fn from(err: TokenError) -> Self {
        Self::server_error("token signing", &err)
    }
}

/// An error of a bearer-protected resource (RFC 6750 §3).
#[derive(Debug)]
pub struct BearerError {
    /// `None`: the request carried no token, so (RFC 6750 §3.1) no error code is sent.
    pub code: Option<ErrorCode>,
    pub description: String,
}

impl BearerError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            description: description.into(),
        }
    }

    /// No token was presented.
    pub fn missing() -> Self {
        Self {
            code: None,
            description: "a bearer access token is required".to_owned(),
        }
    }

    pub fn invalid_token() -> Self {
        // RFC 6750 §3.1 / tokens crate policy: one answer for every reason a token fails.
        Self::new(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
        )
    }

    /// RFC 6750 §3.1: 401 for a missing or invalid token, 400 for a malformed request, 403 for
    /// insufficient scope; internal failures keep their 500/503.
    pub fn status(&self) -> u16 {
        match self.code {
            None | Some(ErrorCode::InvalidToken) => 401,
            Some(ErrorCode::InsufficientScope) => 403,
            Some(ErrorCode::ServerError) => 500,
            Some(ErrorCode::TemporarilyUnavailable) => 503,
            Some(_) => 400,
        }
    }

    /// RFC 6750 §3: `Bearer realm="gatehouse"`, plus `error` and `error_description` for the
    /// three codes RFC 6750 §3.1 defines. Server-side failures get the bare challenge.
    pub fn www_authenticate(&self) -> String {
        match self.code {
            Some(
                code @ (ErrorCode::InvalidRequest
                | ErrorCode::InvalidToken
                | ErrorCode::InsufficientScope),
            ) => format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                code.as_str(),
                sanitize_description(&self.description)
            ),
            _ => format!("Bearer realm=\"{REALM}\""),
        }
    }

    /// The JSON body; empty when no token was presented (RFC 6750 §3.1: no error information).
    pub fn body(&self) -> Value {
        match self.code {
            Some(code) => json!({
                "error": code.as_str(),
                "error_description": sanitize_description(&self.description),
            }),
            None => json!({}),
        }
    }
}

impl From<OAuthError> for BearerError {
    fn from(err: OAuthError) -> Self {
        Self {
            code: Some(err.code),
            description: err.description,
        }
    }
}

impl fmt::Display for BearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{}: {}", code.as_str(), self.description),
            None => f.write_str(&self.description),
        }
    }
}

impl std::error::Error for BearerError {}

/// RFC 6749 §4.1.2.1 / §5.2: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E.
/// Anything else (quotes, backslashes, non-ASCII, controls) becomes a space, which also keeps
/// the value safe inside a quoted-string of `WWW-Authenticate` (RFC 6750 §3).
pub fn sanitize_description(description: &str) -> String {
    description
        .chars()
        .map(|ch| match ch {
            '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => ch,
            _ => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_challenge_follow_rfc_6749_section_5_2() {
        let client = OAuthError::invalid_client("unknown client");
        assert_eq!(client.status(), 401);
        assert_eq!(
            client.www_authenticate().as_deref(),
            Some("Basic realm=\"gatehouse\"")
        );
        let grant = OAuthError::invalid_grant("nope");
        assert_eq!(grant.status(), 400);
        assert_eq!(grant.www_authenticate(), None);
        assert_eq!(
            OAuthError::new(ErrorCode::TemporarilyUnavailable, "x").status(),
            503
        );
        assert_eq!(OAuthError::new(ErrorCode::ServerError, "x").status(), 500);
    }

    #[test]
    fn an_unreachable_database_is_temporarily_unavailable_anything_else_a_server_error() {
        // `IdentityError::is_unavailable` itself is tested in the identity crate.
        let err = OAuthError::from(IdentityError::Connect("connection refused".to_owned()));
        assert_eq!(err.code, ErrorCode::TemporarilyUnavailable);
        assert_eq!(err.status(), 503);
        assert_eq!(err.body()["error"], "temporarily_unavailable");

        let corrupt = OAuthError::from(IdentityError::Corrupt("bad id".to_owned()));
        assert_eq!(corrupt.code, ErrorCode::ServerError);
        assert_eq!(corrupt.status(), 500);
        let bearer = BearerError::from(OAuthError::from(IdentityError::Connect("x".to_owned())));
        assert_eq!(bearer.status(), 503);
    }

    #[test]
    fn descriptions_are_restricted_to_the_allowed_characters() {
        assert_eq!(sanitize_description("a \"b\" \\c é\n"), "a  b   c   ");
        let body = OAuthError::invalid_request("bad \"x\"").body();
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_description"], "bad  x ");
    }

    #[test]
    fn bearer_errors_follow_rfc_6750_section_3() {
        let missing = BearerError::missing();
        assert_eq!(missing.status(), 401);
        assert_eq!(missing.www_authenticate(), "Bearer realm=\"gatehouse\"");
        assert_eq!(missing.body(), json!({}));

        let invalid = BearerError::invalid_token();
        assert_eq!(invalid.status(), 401);
        assert!(
            invalid
                .www_authenticate()
                .starts_with("Bearer realm=\"gatehouse\", error=\"invalid_token\"")
        );
        let scope = BearerError::new(ErrorCode::InsufficientScope, "needs openid");
        assert_eq!(scope.status(), 403);
        assert_eq!(
            BearerError::new(ErrorCode::InvalidRequest, "x").status(),
            400
        );
    }
}
