//! `Retry-After` on every 503 (RFC 9110 §10.2.3: a 503 "MAY send a Retry-After header field to
//! suggest an appropriate amount of time for the client to wait before retrying").
//!
//! A 503 here always means a backend (database, session store) is unreachable, and each surface
//! renders it in its own format (`temporarily_unavailable` JSON, problem+json, an HTML page, the
//! readiness report). Rather than each remembering the header, this middleware adds it to any
//! 503 that lacks one.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;

/// Seconds a client should wait: the pool notices a database that came back within a fraction
/// of this (`gatehouse_identity`'s checkout module), and the session store reconnects on demand.
pub const RETRY_AFTER_SECS: u32 = 1;

/// Adds `Retry-After: 1` to a 503 response that has no `Retry-After`.
pub async fn retry_after(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(req).await?;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        let headers = response.headers_mut();
        if !headers.contains_key(RETRY_AFTER) {
            headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
    }
    Ok(response)
}
