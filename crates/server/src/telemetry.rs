//! Logging: `tracing` with a pretty or JSON formatter, and the request-id middleware that puts an
//! id on every response (`x-request-id`) and into the span every log line of that request is in.

use std::io::IsTerminal as _;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingSettings};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being handled, for error bodies built far from the request.
    static REQUEST_ID: String;
}

/// The current request's id, or "-" outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level.
pub fn init(settings: &LoggingSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: escape codes corrupt log files and collectors,
    // and styling every span's fields costs time on each request.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    let _ = match settings.format {
        // Both formats print the enclosing spans' fields, so every line carries the request id.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// An incoming id is kept when it is short and plain (so a proxy's id threads through the logs);
/// anything else is replaced, so the header can never inject into a log line.
fn accept_incoming(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let plain = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plain.then(|| value.to_owned())
}

/// A random (v4) UUID in simple form. The bytes come from the thread-local CSPRNG rather than
/// `Uuid::new_v4`'s `getrandom` system call per request: an id must be unique, not secret.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .simple()
        .to_string()
}

pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(accept_incoming)
        .unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = std::time::Instant::now();
    let result = REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let status = response.status();
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            if status.is_server_error() {
                tracing::error!(status = status.as_u16(), latency_ms, "request failed");
            } else {
                tracing::debug!(status = status.as_u16(), latency_ms, "request done");
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            Ok(response)
        }
        Err(err) => {
            tracing::error!(error = %err, "request failed before a response");
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_ids_are_sanitised() {
        let ok = HeaderValue::from_static("abc-123_x.y");
        assert_eq!(accept_incoming(&ok).as_deref(), Some("abc-123_x.y"));
        let injected = HeaderValue::from_static("a b\" level=error");
        assert_eq!(accept_incoming(&injected), None);
        let long = HeaderValue::from_str(&"a".repeat(65)).unwrap();
        assert_eq!(accept_incoming(&long), None);
    }

    #[test]
    fn generated_ids_are_v4_uuids() {
        let id = new_request_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(id.len(), 32);
        assert_ne!(id, new_request_id());
    }
}
