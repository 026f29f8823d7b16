//! Logging: `tracing` with a pretty or JSON formatter, and the request-id middleware that puts an
//! id on every response (`x-request-id`) and into the span every log line of that request is in.
//!
//! Levels follow who is at fault: ERROR is for server faults an operator must look at; a client's
//! mistake (a malformed request, a dropped connection, a 4xx) is DEBUG. actix-http reports some
//! client mistakes at ERROR (`stream error: request parse error: …`), which would let any client
//! fill the error log; [`ClientFaultDemotion`] re-levels exactly those to DEBUG and leaves every
//! other ERROR of the HTTP stack (service, body and internal errors) as it is.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::field::{Field, Visit};
use tracing::{Event, Instrument, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

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
    let ansi = std::io::stderr().is_terminal();
    install(filter, settings.format, std::io::stderr, ansi);
}

/// Installs the subscriber [`init`] does, at `level` (an `EnvFilter` directive, `RUST_LOG`
/// ignored), writing to `writer`: for tests and tools that read the log as an operator would.
/// false if a global subscriber was installed already.
pub fn init_with_writer<W>(format: LogFormat, level: &str, writer: W) -> bool
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("debug"));
    install(filter, format, writer, false)
}

fn install<W>(filter: EnvFilter, format: LogFormat, writer: W, ansi: bool) -> bool
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    // Both formats print the enclosing spans' fields, so every line carries the request id,
    // the route and the client address.
    let output = match format {
        LogFormat::Json => output
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .boxed(),
        LogFormat::Pretty => output.boxed(),
    };
    // try_init: a second call (tests) keeps the first subscriber instead of panicking.
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(ClientFaultDemotion)
        .try_init()
        .is_ok()
}

/// Where actix-http logs at ERROR what a client caused, by target and message prefix. Anything
/// else those modules log at ERROR (`service error`, `body error`, `internal error`, a failing
/// response body) is a server fault and stays an ERROR.
const CLIENT_FAULTS: &[(&str, &str)] = &[
    // Malformed request line or headers, an oversized head, an invalid Content-Length.
    (
        "actix_http::h1::dispatcher",
        "stream error: request parse error",
    ),
    // The connection was reset or broken by the peer.
    ("actix_http::h1::dispatcher", "stream error: I/O error"),
    // A client too slow to send its request head, or to close.
    (
        "actix_http::h1::dispatcher",
        "stream error: request did not complete",
    ),
    (
        "actix_http::h1::dispatcher",
        "stream error: connection shutdown timeout",
    ),
    // A handler answered (e.g. 400) without reading a body the client kept sending.
    (
        "actix_http::h1::dispatcher",
        "stream error: handler dropped payload",
    ),
    // The peer stopped reading.
    ("actix_http::h1::dispatcher", "write zero"),
    // More unparsed request head than actix-http buffers.
    ("actix_http::h1::decoder", "MAX_BUFFER_SIZE"),
];

/// Whether an ERROR event from `target` with this message was caused by the client.
fn is_client_fault(target: &str, message: &str) -> bool {
    CLIENT_FAULTS
        .iter()
        .any(|(t, prefix)| target == *t && message.starts_with(prefix))
}

/// A layer that turns actix-http's client-caused ERROR events into DEBUG events: the original is
/// disabled for the whole subscriber and the same message is logged again at DEBUG (target this
/// module, field `source` naming the original target), where the level filter decides as usual.
/// Both happen in `event_enabled`, the one hook that can withhold an event from every layer; a
/// level cannot be changed in place because it is part of the event's static metadata.
struct ClientFaultDemotion;

impl<S: Subscriber> Layer<S> for ClientFaultDemotion {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || !metadata.target().starts_with("actix_http::") {
            return true;
        }
        let mut message = MessageText::default();
        event.record(&mut message);
        if !is_client_fault(metadata.target(), &message.0) {
            return true;
        }
        tracing::debug!(
            source = metadata.target(),
            "client connection: {}",
            message.0
        );
        false
    }
}

/// The `message` field of an event, as text.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
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
    // The route pattern (`/reset-password/{token}`), never the path: a path can carry a secret,
    // and the pattern is what the metrics are labelled with.
    let route = req.match_pattern();
    let route = route.as_deref().unwrap_or(crate::metrics::UNMATCHED_ROUTE);
    // The proxy-aware address (`server.trusted_proxies`), the same value audit and limits use.
    let client_ip = crate::client_ip::client_ip(req.request());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route,
        client_ip = client_ip.map(tracing::field::display),
    );
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let result = REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    let elapsed = started.elapsed();
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let status = response.status();
            crate::metrics::record_request(route, &method, status, elapsed);
            let latency_ms = elapsed.as_secs_f64() * 1000.0;
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
            // An error that never became a response (a middleware or extractor refusing the
            // request) is the client's unless it maps to a 5xx.
            let status = err.as_response_error().status_code();
            crate::metrics::record_request(route, &method, status, elapsed);
            if status.is_server_error() {
                tracing::error!(error = %err, "request failed before a response");
            } else {
                tracing::debug!(error = %err, "request refused before a response");
            }
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
    fn client_caused_http_errors_are_recognised() {
        let dispatcher = "actix_http::h1::dispatcher";
        for message in [
            "stream error: request parse error: invalid Header provided",
            "stream error: request parse error: message head is too large",
            "stream error: I/O error: Connection reset by peer (os error 104)",
            "stream error: request did not complete within the specified timeout",
            "write zero; closing",
        ] {
            assert!(is_client_fault(dispatcher, message), "{message}");
        }
        assert!(is_client_fault(
            "actix_http::h1::decoder",
            "MAX_BUFFER_SIZE unprocessed data reached, closing"
        ));
    }

    #[test]
    fn server_faults_of_the_http_stack_stay_errors() {
        let dispatcher = "actix_http::h1::dispatcher";
        for message in [
            "stream error: service error",
            "stream error: body error: broken",
            "stream error: internal error",
            "Response payload stream error: Custom",
            "Internal server error: unexpected eof",
        ] {
            assert!(!is_client_fault(dispatcher, message), "{message}");
        }
        // The same words from anywhere else are not ours to re-level.
        assert!(!is_client_fault(
            "gatehouse_server::app",
            "stream error: request parse error: x"
        ));
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
