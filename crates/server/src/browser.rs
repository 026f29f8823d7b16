//! What every browser-facing handler shares: the session and CSRF cookies, the request context for
//! audit events, and the `return_to` check.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_identity::RequestContext;
use gatehouse_sessions::{BrowserSession, SessionHandle};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::pages::PageError;

pub const SESSION_COOKIE: &str = "gh_session";
pub const CSRF_COOKIE: &str = "gh_csrf";

/// The session cookie: `HttpOnly` (no script access), `SameSite=Lax` (sent on top-level navigations
/// from relying parties, not on cross-site subrequests), `Secure` when the issuer is https.
pub fn session_cookie(state: &AppState, secret: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, secret)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.cookies_secure())
        .max_age(CookieDuration::seconds(
            i64::try_from(state.settings.sessions.browser_session_ttl_secs).unwrap_or(i64::MAX),
        ))
        .finish()
}

pub fn expired_cookie(state: &AppState, name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.cookies_secure())
        .finish();
    cookie.make_removal();
    cookie
}

/// Double-submit CSRF token: a random value in a `SameSite=Strict` cookie that the form must echo.
/// A cross-site page can neither read the cookie nor make the browser send it.
pub fn csrf_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(CSRF_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.cookies_secure())
        .finish()
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The request's CSRF token, or a new one (the caller must then set the cookie).
pub fn csrf_token(req: &HttpRequest) -> (String, bool) {
    match req.cookie(CSRF_COOKIE) {
        Some(cookie) if well_formed(cookie.value()) => (cookie.value().to_owned(), false),
        _ => (random_token(), true),
    }
}

/// Compares the submitted token with the cookie in constant time.
pub fn csrf_matches(req: &HttpRequest, submitted: Option<&str>) -> bool {
    match (req.cookie(CSRF_COOKIE), submitted) {
        (Some(cookie), Some(submitted)) if well_formed(cookie.value()) => {
            bool::from(cookie.value().as_bytes().ct_eq(submitted.as_bytes()))
        }
        _ => false,
    }
}

/// Who is asking, for audit events: the client address of [`crate::client_ip`] (the peer, or
/// what a trusted proxy forwards; never a header of an untrusted peer), the user agent, and the
/// request id this response carries in `x-request-id`.
pub fn request_context(req: &HttpRequest) -> RequestContext {
    let request_id = crate::telemetry::current_request_id();
    RequestContext {
        org_id: None,
        ip: crate::client_ip::client_ip(req).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
        actor: None,
        // "-" outside a request (never, for a handler; but then there is no id to record).
        request_id: (request_id != "-").then_some(request_id),
    }
}

/// The logged-in browser session, if the cookie names a live one.
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<(String, SessionHandle, BrowserSession)>, PageError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let secret = cookie.value().to_owned();
    let found = state
        .app
        .session_for_cookie(&secret, state.clock.now())
        .await?;
    Ok(found.map(|(handle, session)| (secret, handle, session)))
}

/// `return_to` is honoured only for same-origin relative paths: one leading `/`, not `//` or `/\`
/// (both mean another host to browsers), no scheme, no control characters.
pub fn safe_return_to(candidate: Option<&str>) -> Option<String> {
    let path = candidate?.trim();
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.len() <= 2048;
    ok.then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_accepts_only_local_paths() {
        assert_eq!(
            safe_return_to(Some("/account?tab=1")).as_deref(),
            Some("/account?tab=1")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/ok\\..\\x",
            "javascript:alert(1)",
            "account",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad:?} must be refused");
        }
        assert_eq!(safe_return_to(None), None);
    }

    #[test]
    fn csrf_tokens_are_random_and_well_formed() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert!(well_formed(&a));
        assert!(!well_formed("short"));
    }
}
