//! The HTML error page: what a browser sees for any failure on a page route.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use gatehouse_identity::IdentityError;

use crate::telemetry::current_request_id;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    request_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    message: String,
    /// Seconds for `Retry-After` (RFC 9110 §10.2.3), on a 429.
    retry_after: Option<u64>,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Over a rate limit (RFC 6585 §4): 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!(
                    "Too many attempts from your network. Please try again in \
                     {retry_after_secs} seconds."
                ),
            )
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Request refused", message)
    }

    /// Unexpected: log the cause, show only the request id.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error on a page");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "An unexpected error occurred. Quote the request id below if you report it.",
        )
    }

    /// A backend (session store, database) is down: a 503 the user can retry.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "backend unavailable");
        Self::retry_later()
    }

    /// The 503 page, for an outage already logged where it was met. The server adds
    /// `Retry-After` (crate::unavailable).
    pub fn retry_later() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "Sign-in is temporarily unavailable. Please try again in a moment.",
        )
    }

    /// A protocol error (status and description from `gatehouse_authz`) as a page: 503 and 500
    /// keep their meaning; anything else is the request's fault, a 400 titled `title`.
    pub fn protocol(status: u16, title: &'static str, description: impl Into<String>) -> Self {
        match status {
            503 => Self::retry_later(),
            500 => Self::internal(&description.into()),
            _ => Self::new(StatusCode::BAD_REQUEST, title, description),
        }
    }
}

/// The one place a database failure becomes a page: unreachable is a 503 the user can retry
/// (logged as a warning: nothing is wrong with the request), anything else a 500.
impl From<IdentityError> for PageError {
    fn from(err: IdentityError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error = %err, "identity database unavailable");
            return Self::retry_later();
        }
        Self::internal(&err)
    }
}

/// A failure of the application layer: as above, by whichever backend failed.
impl From<gatehouse_app::AppError> for PageError {
    fn from(err: gatehouse_app::AppError) -> Self {
        match err {
            gatehouse_app::AppError::Identity(err) => Self::from(err),
            store => Self::unavailable(store),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let page = ErrorPage {
            title: self.title,
            message: &self.message,
            request_id: current_request_id(),
        };
        let body = page.render().unwrap_or_else(|_| self.message.clone());
        let mut response = HttpResponse::build(self.status);
        response
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"));
        if let Some(secs) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs));
        }
        response.body(body)
    }
}

/// Renders a page template as an HTML response that is never cached.
pub fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(|err| PageError::internal(&err))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

/// Renders a page that carries a form with the CSRF token from `crate::browser::csrf_token`;
/// a `fresh` token is also set as the double-submit cookie.
pub fn form_page(
    state: &crate::app::AppState,
    status: StatusCode,
    page: &impl Template,
    token: &str,
    fresh: bool,
) -> Result<HttpResponse, PageError> {
    let mut response = html(status, page)?;
    if fresh {
        response
            .add_cookie(&crate::browser::csrf_cookie(state, token))
            .map_err(|err| PageError::internal(&err))?;
    }
    Ok(response)
}
