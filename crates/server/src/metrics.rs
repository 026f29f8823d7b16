//! Prometheus metrics: the process-wide recorder, the `/metrics` listener (`metrics.listen`, a
//! listener of its own so the public port never serves it), the HTTP request metrics, the
//! session-store wrapper that times every store operation, and the gauges sampled in the
//! background (outbox backlog, signing-key age).
//!
//! Every crate records through the `metrics` facade; with no recorder installed (`metrics.listen
//! = "off"`) each call is a no-op. Names follow Prometheus' conventions (`gatehouse_` prefix,
//! counters end in `_total`, durations are `_seconds` histograms); every label takes its value
//! from a closed set (a route pattern, never a path; an RFC error code; a limiter's name), so no
//! request can create a series. [`CATALOGUE`] lists them all; `docs/metrics.md` documents them
//! and `deploy/grafana/gatehouse.json` charts them (a test keeps the three in step).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use gatehouse_authz::DeliveryDisposition;
use gatehouse_identity::Database;
use gatehouse_sessions::{KvStore, StoreError};
use gatehouse_tokens::keystore::KeyManager;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use parking_lot::RwLock;
use serde::Deserialize;

use crate::clock::Clock;

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `/metrics` is served: `host:port`, or `off` (or empty) for no listener and no
    /// recording at all.
    pub listen: MetricsListen,
}

/// `metrics.listen`: an address, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    Off,
    On(SocketAddr),
}

impl<'de> Deserialize<'de> for MetricsListen {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("off") {
            return Ok(MetricsListen::Off);
        }
        text.parse().map(MetricsListen::On).map_err(|_| {
            serde::de::Error::custom(format!(
                "expected host:port (e.g. 127.0.0.1:9464) or \"off\", got {text:?}"
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric: its name, kind, labels and meaning.
pub struct MetricInfo {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn metric(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricInfo {
    MetricInfo {
        name,
        kind,
        labels,
        help,
    }
}

/// Every metric Gatehouse records. Where an event is recorded is said in `docs/metrics.md`.
pub const CATALOGUE: &[MetricInfo] = &[
    metric(
        "gatehouse_http_requests_total",
        Kind::Counter,
        &["route", "method", "status"],
        "HTTP requests answered, by route pattern, method and status class",
    ),
    metric(
        "gatehouse_http_request_duration_seconds",
        Kind::Histogram,
        &["route", "method"],
        "Time from receiving a request to its response head, by route pattern and method",
    ),
    metric(
        "gatehouse_tokens_issued_total",
        Kind::Counter,
        &["grant_type"],
        "Token responses issued at /token, by grant type",
    ),
    metric(
        "gatehouse_token_errors_total",
        Kind::Counter,
        &["error"],
        "Error responses of /token, by OAuth error code (RFC 6749 §5.2)",
    ),
    metric(
        "gatehouse_sign_ins_total",
        Kind::Counter,
        &["method", "result"],
        "Sign-in steps by step (password, second_factor) and result",
    ),
    metric(
        "gatehouse_second_factor_total",
        Kind::Counter,
        &["method", "result"],
        "Second-factor codes checked, by method (totp, recovery_code) and result \
         (success, bad_code, replayed_code, no_second_factor)",
    ),
    metric(
        "gatehouse_lockouts_total",
        Kind::Counter,
        &[],
        "Accounts locked after repeated failures",
    ),
    metric(
        "gatehouse_refresh_reuse_detected_total",
        Kind::Counter,
        &[],
        "Refresh tokens presented again after rotation; each revokes its family (RFC 9700 §4.14.2)",
    ),
    metric(
        "gatehouse_rate_limited_total",
        Kind::Counter,
        &["limiter"],
        "Requests refused by a rate limit, by limiter",
    ),
    metric(
        "gatehouse_outbox_pending",
        Kind::Gauge,
        &[],
        "Mails in the outbox waiting to be sent (sampled every 15 s)",
    ),
    metric(
        "gatehouse_outbox_deliveries_total",
        Kind::Counter,
        &["result"],
        "Outbox delivery attempts by result (sent, retry, failed, claim_lost)",
    ),
    metric(
        "gatehouse_backchannel_deliveries_total",
        Kind::Counter,
        &["result"],
        "Back-channel logout POSTs by result (delivered, retry, failed)",
    ),
    metric(
        "gatehouse_password_hash_duration_seconds",
        Kind::Histogram,
        &[],
        "Time one Argon2 hash or verification takes",
    ),
    metric(
        "gatehouse_password_hash_queue_wait_seconds",
        Kind::Histogram,
        &[],
        "Time a password hash waits for a hashing slot and a blocking thread",
    ),
    metric(
        "gatehouse_session_store_duration_seconds",
        Kind::Histogram,
        &["operation"],
        "Session store (Redis or in-process) operation latency, by operation",
    ),
    metric(
        "gatehouse_session_store_errors_total",
        Kind::Counter,
        &["operation"],
        "Session store operations that failed, by operation",
    ),
    metric(
        "gatehouse_db_pool_wait_seconds",
        Kind::Histogram,
        &[],
        "Time a database checkout waited for a pooled connection",
    ),
    metric(
        "gatehouse_db_query_duration_seconds",
        Kind::Histogram,
        &[],
        "Time a pooled database connection was held (the queries of one checkout)",
    ),
    metric(
        "gatehouse_db_pool_errors_total",
        Kind::Counter,
        &["kind"],
        "Database pool failures: checkouts that timed out, connections that could not be opened",
    ),
    metric(
        "gatehouse_signing_key_age_seconds",
        Kind::Gauge,
        &["alg"],
        "Age of the active signing key, by algorithm (sampled every 15 s)",
    ),
];

/// Latency buckets (seconds): from a cache hit (100 µs) to a request that is about to time out.
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often histograms are compacted when nobody scrapes (the exporter keeps raw samples until
/// then).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How often the sampled gauges are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (tests build many applications in one process) and
/// returns its handle; `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)
            {
                Ok(builder) => builder,
                Err(err) => {
                    tracing::error!(error = %err, "metrics: invalid buckets");
                    return None;
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(err) = metrics::set_global_recorder(recorder) {
                tracing::error!(error = %err, "metrics: another recorder is installed");
                return None;
            }
            describe_and_register();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(error = %err, "metrics: no upkeep thread; scrapes compact instead");
            }
            Some(handle)
        })
        .as_ref()
}

/// Whether a recorder is installed (by this application or, in tests, another one).
pub fn enabled() -> bool {
    RECORDER.get().is_some_and(Option::is_some)
}

/// Counter series that exist from the start at zero (Prometheus' advice for known label values),
/// so that a rate or an alert sees the series before its first event. Series with labels known
/// only at run time (routes, limiters, store operations) appear with their first use.
const PRESET_COUNTERS: &[(&str, &[(&str, &str)])] = &[
    (
        "gatehouse_tokens_issued_total",
        &[("grant_type", "authorization_code")],
    ),
    (
        "gatehouse_tokens_issued_total",
        &[("grant_type", "refresh_token")],
    ),
    (
        "gatehouse_tokens_issued_total",
        &[("grant_type", "client_credentials")],
    ),
    (
        "gatehouse_token_errors_total",
        &[("error", "invalid_request")],
    ),
    (
        "gatehouse_token_errors_total",
        &[("error", "invalid_client")],
    ),
    (
        "gatehouse_token_errors_total",
        &[("error", "invalid_grant")],
    ),
    (
        "gatehouse_sign_ins_total",
        &[("method", "password"), ("result", "success")],
    ),
    (
        "gatehouse_sign_ins_total",
        &[("method", "password"), ("result", "failure")],
    ),
    (
        "gatehouse_sign_ins_total",
        &[("method", "second_factor"), ("result", "success")],
    ),
    (
        "gatehouse_sign_ins_total",
        &[("method", "second_factor"), ("result", "failure")],
    ),
    (
        "gatehouse_second_factor_total",
        &[("method", "totp"), ("result", "success")],
    ),
    (
        "gatehouse_second_factor_total",
        &[("method", "totp"), ("result", "bad_code")],
    ),
    (
        "gatehouse_second_factor_total",
        &[("method", "totp"), ("result", "replayed_code")],
    ),
    ("gatehouse_outbox_deliveries_total", &[("result", "sent")]),
    ("gatehouse_outbox_deliveries_total", &[("result", "failed")]),
    (
        "gatehouse_backchannel_deliveries_total",
        &[("result", "delivered")],
    ),
    (
        "gatehouse_backchannel_deliveries_total",
        &[("result", "failed")],
    ),
    ("gatehouse_db_pool_errors_total", &[("kind", "timeout")]),
    ("gatehouse_db_pool_errors_total", &[("kind", "connect")]),
];

/// Descriptions (the `# HELP` lines), and the label-free and [`PRESET_COUNTERS`] series at zero.
/// `increment(0)`: another application of the same process (tests) may have counted already.
fn describe_and_register() {
    for (name, labels) in PRESET_COUNTERS {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(key, value)| metrics::Label::from_static_parts(key, value))
            .collect();
        metrics::counter!(*name, labels).increment(0);
    }
    for info in CATALOGUE {
        match info.kind {
            Kind::Counter => {
                metrics::describe_counter!(info.name, info.help);
                if info.labels.is_empty() {
                    metrics::counter!(info.name).increment(0);
                }
            }
            Kind::Gauge => metrics::describe_gauge!(info.name, info.help),
            Kind::Histogram => {
                metrics::describe_histogram!(info.name, metrics::Unit::Seconds, info.help)
            }
        }
    }
}

/// The running `/metrics` listener.
pub struct MetricsEndpoint {
    pub address: SocketAddr,
    handle: ServerHandle,
}

impl MetricsEndpoint {
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Installs the recorder and starts the `/metrics` listener on the current runtime, or does
/// nothing when `metrics.listen` is off.
pub fn start(settings: &MetricsSettings) -> anyhow::Result<Option<MetricsEndpoint>> {
    let MetricsListen::On(address) = settings.listen else {
        return Ok(None);
    };
    let Some(handle) = install() else {
        anyhow::bail!("metrics.listen: the metrics recorder could not be installed");
    };
    let listener = TcpListener::bind(address)
        .with_context(|| format!("metrics.listen: cannot bind {address}"))?;
    let address = listener.local_addr()?;
    let server = serve(listener, handle)?;
    let endpoint = MetricsEndpoint {
        address,
        handle: server.handle(),
    };
    tokio::spawn(server);
    tracing::info!(%address, "metrics: serving /metrics");
    Ok(Some(endpoint))
}

/// One worker, no signal handling of its own (the application stops it with the server).
fn serve(listener: TcpListener, handle: &'static PrometheusHandle) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(handle))
            .route("/metrics", web::get().to(render))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

async fn render(handle: web::Data<&'static PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(handle.render())
}

/// Keeps the sampled gauges current: the outbox backlog (one `COUNT` per status) and the age of
/// each active signing key. Only when recording.
pub fn spawn_gauges(db: Database, keys: Arc<KeyManager>, clock: Arc<dyn Clock>) {
    if !enabled() {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(GAUGE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = clock.now();
            for (alg, since) in keys.active_since() {
                let age = (now - since).num_milliseconds() as f64 / 1000.0;
                metrics::gauge!("gatehouse_signing_key_age_seconds", "alg" => alg.name())
                    .set(age.max(0.0));
            }
            let db = db.clone();
            match tokio::task::spawn_blocking(move || db.count_outbox_mail()).await {
                Ok(Ok((pending, _, _))) => {
                    metrics::gauge!("gatehouse_outbox_pending").set(pending as f64);
                }
                Ok(Err(err)) => tracing::debug!(error = %err, "metrics: cannot count the outbox"),
                Err(err) => tracing::debug!(error = %err, "metrics: outbox count failed"),
            }
        }
    });
}

/// `gatehouse_outbox_deliveries_total{result}`.
pub fn outbox_delivery(result: &'static str) {
    metrics::counter!("gatehouse_outbox_deliveries_total", "result" => result).increment(1);
}

/// `gatehouse_backchannel_deliveries_total{result}`.
pub fn backchannel_delivery(disposition: &DeliveryDisposition) {
    let result = match disposition {
        DeliveryDisposition::Delivered => "delivered",
        DeliveryDisposition::RetryAt(_) => "retry",
        DeliveryDisposition::Failed => "failed",
    };
    metrics::counter!("gatehouse_backchannel_deliveries_total", "result" => result).increment(1);
}

// --- HTTP requests -------------------------------------------------------------------------

/// The `method` label: the standard methods by name, anything else `other` (a client may send
/// any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

const METHODS: usize = 8;

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn status_index(status: StatusCode) -> usize {
    usize::from(status.as_u16() / 100)
        .saturating_sub(1)
        .min(STATUS_CLASSES.len() - 1)
}

/// The `route` label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// One route's series, resolved on first use: per method a duration histogram, per method and
/// status class a request counter.
struct RouteSeries {
    route: Arc<str>,
    durations: [OnceLock<Histogram>; METHODS],
    requests: [[OnceLock<Counter>; STATUS_CLASSES.len()]; METHODS],
}

impl RouteSeries {
    fn new(route: &str) -> Self {
        Self {
            route: Arc::from(route),
            durations: Default::default(),
            requests: Default::default(),
        }
    }
}

/// Route patterns are a fixed set (the application's routes plus [`UNMATCHED_ROUTE`]), so this
/// map stops growing after each route's first request; after that a request costs a read lock,
/// one hash of the pattern and two atomic updates.
static ROUTES: OnceLock<RwLock<HashMap<Box<str>, Arc<RouteSeries>>>> = OnceLock::new();

fn route_series(route: &str) -> Arc<RouteSeries> {
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(series) = routes.read().get(route) {
        return Arc::clone(series);
    }
    Arc::clone(
        routes
            .write()
            .entry(Box::from(route))
            .or_insert_with(|| Arc::new(RouteSeries::new(route))),
    )
}

/// Records one answered request. `route` is the matched pattern (`/api/v1/users/{id}`), never
/// the path.
pub fn record_request(route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let series = route_series(route);
    let m = method_index(method);
    let label = method_label(method);
    series.durations[m]
        .get_or_init(|| {
            metrics::histogram!(
                "gatehouse_http_request_duration_seconds",
                "route" => series.route.to_string(),
                "method" => label
            )
        })
        .record(elapsed);
    let s = status_index(status);
    series.requests[m][s]
        .get_or_init(|| {
            metrics::counter!(
                "gatehouse_http_requests_total",
                "route" => series.route.to_string(),
                "method" => label,
                "status" => STATUS_CLASSES[s]
            )
        })
        .increment(1);
}

// --- Session store -------------------------------------------------------------------------

/// The store's operations, as the `operation` label names them.
#[derive(Clone, Copy)]
enum StoreOp {
    Put,
    PutIfAbsent,
    Get,
    Take,
    ReplaceIf,
    Delete,
    ExistsAny,
    GetMany,
    Increment,
    SetAdd,
    SetRemove,
    SetMembers,
    SortedAdd,
    SortedAddTrimmed,
    SortedCountFrom,
    SortedMembersFrom,
    SortedClaimDue,
    SortedRemove,
    SortedScore,
    Ping,
}

const STORE_OPS: [&str; 20] = [
    "put",
    "put_if_absent",
    "get",
    "take",
    "replace_if",
    "delete",
    "exists_any",
    "get_many",
    "increment",
    "set_add",
    "set_remove",
    "set_members",
    "sorted_add",
    "sorted_add_trimmed",
    "sorted_count_from",
    "sorted_members_from",
    "sorted_claim_due",
    "sorted_remove",
    "sorted_score",
    "ping",
];

/// A [`KvStore`] that times every operation and counts its failures, then forwards it.
struct InstrumentedStore {
    inner: Arc<dyn KvStore>,
    durations: Vec<Histogram>,
    errors: Vec<Counter>,
}

/// Wraps the session store when metrics are recorded; otherwise returns it as it is, so an
/// instance without metrics pays nothing.
pub fn instrument_store(store: Arc<dyn KvStore>) -> Arc<dyn KvStore> {
    if !enabled() {
        return store;
    }
    Arc::new(InstrumentedStore {
        inner: store,
        durations: STORE_OPS
            .iter()
            .map(|op| metrics::histogram!("gatehouse_session_store_duration_seconds", "operation" => *op))
            .collect(),
        errors: STORE_OPS
            .iter()
            .map(|op| metrics::counter!("gatehouse_session_store_errors_total", "operation" => *op))
            .collect(),
    })
}

impl InstrumentedStore {
    async fn timed<T>(
        &self,
        op: StoreOp,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = operation.await;
        let index = op as usize;
        if let Some(histogram) = self.durations.get(index) {
            histogram.record(started.elapsed());
        }
        if result.is_err()
            && let Some(counter) = self.errors.get(index)
        {
            counter.increment(1);
        }
        result
    }
}

#[async_trait::async_trait]
impl KvStore for InstrumentedStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.timed(StoreOp::Put, self.inner.put(key, value, ttl))
            .await
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.timed(
            StoreOp::PutIfAbsent,
            self.inner.put_if_absent(key, value, ttl),
        )
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed(StoreOp::Get, self.inner.get(key)).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed(StoreOp::Take, self.inner.take(key)).await
    }

    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.timed(
            StoreOp::ReplaceIf,
            self.inner.replace_if(key, expected, new, ttl),
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.timed(StoreOp::Delete, self.inner.delete(key)).await
    }

    async fn exists_any(&self, keys: &[&str]) -> Result<bool, StoreError> {
        self.timed(StoreOp::ExistsAny, self.inner.exists_any(keys))
            .await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.timed(StoreOp::GetMany, self.inner.get_many(keys))
            .await
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.timed(StoreOp::Increment, self.inner.increment(key, ttl))
            .await
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<usize, StoreError> {
        self.timed(StoreOp::SetAdd, self.inner.set_add(key, member, ttl))
            .await
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.timed(StoreOp::SetRemove, self.inner.set_remove(key, member))
            .await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.timed(StoreOp::SetMembers, self.inner.set_members(key))
            .await
    }

    async fn sorted_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.timed(
            StoreOp::SortedAdd,
            self.inner.sorted_add(key, member, score, ttl),
        )
        .await
    }

    async fn sorted_add_trimmed(
        &self,
        key: &str,
        member: &str,
        score: i64,
        drop_scores_below: i64,
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        self.timed(
            StoreOp::SortedAddTrimmed,
            self.inner
                .sorted_add_trimmed(key, member, score, drop_scores_below, ttl),
        )
        .await
    }

    async fn sorted_count_from(&self, key: &str, min_score: i64) -> Result<u64, StoreError> {
        self.timed(
            StoreOp::SortedCountFrom,
            self.inner.sorted_count_from(key, min_score),
        )
        .await
    }

    async fn sorted_members_from(
        &self,
        key: &str,
        min_score: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.timed(
            StoreOp::SortedMembersFrom,
            self.inner.sorted_members_from(key, min_score),
        )
        .await
    }

    async fn sorted_claim_due(
        &self,
        key: &str,
        due_by: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.timed(
            StoreOp::SortedClaimDue,
            self.inner.sorted_claim_due(key, due_by, lease_until, limit),
        )
        .await
    }

    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        self.timed(StoreOp::SortedRemove, self.inner.sorted_remove(key, member))
            .await
    }

    async fn sorted_score(&self, key: &str, member: &str) -> Result<Option<i64>, StoreError> {
        self.timed(StoreOp::SortedScore, self.inner.sorted_score(key, member))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(StoreOp::Ping, self.inner.ping()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrapper {
        listen: MetricsListen,
    }

    fn parse(text: &str) -> Result<MetricsListen, serde_json::Error> {
        serde_json::from_value::<Wrapper>(serde_json::json!({ "listen": text })).map(|w| w.listen)
    }

    #[test]
    fn listen_is_an_address_or_off() {
        assert_eq!(
            parse("127.0.0.1:9464").unwrap(),
            MetricsListen::On("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(parse("off").unwrap(), MetricsListen::Off);
        assert_eq!(parse("OFF").unwrap(), MetricsListen::Off);
        assert_eq!(parse("").unwrap(), MetricsListen::Off);
        let err = parse("localhost").unwrap_err().to_string();
        assert!(err.contains("host:port"), "{err}");
    }

    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn load_with_listen(value: &str) -> Result<crate::Settings, crate::config::ConfigError> {
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            jail.set_env("GATEHOUSE__METRICS__LISTEN", value);
            result = Some(crate::Settings::load(None));
            Ok(())
        });
        result.unwrap()
    }

    #[test]
    fn the_listener_is_on_loopback_by_default_and_the_environment_overrides_it() {
        let defaults = crate::Settings::defaults().unwrap();
        assert_eq!(
            defaults.metrics.listen,
            MetricsListen::On("127.0.0.1:9464".parse().unwrap())
        );
        let off = load_with_listen("off").unwrap();
        assert_eq!(off.metrics.listen, MetricsListen::Off);
        let elsewhere = load_with_listen("10.1.2.3:9100").unwrap();
        assert_eq!(
            elsewhere.metrics.listen,
            MetricsListen::On("10.1.2.3:9100".parse().unwrap())
        );
        let err = load_with_listen("everywhere").unwrap_err().to_string();
        assert!(
            err.contains("metrics.listen") || err.contains("listen"),
            "{err}"
        );
    }

    #[test]
    fn labels_come_from_closed_sets() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_index(&odd), METHODS - 1);
        assert_eq!(STATUS_CLASSES[status_index(StatusCode::OK)], "2xx");
        assert_eq!(STATUS_CLASSES[status_index(StatusCode::SEE_OTHER)], "3xx");
        assert_eq!(STATUS_CLASSES[status_index(StatusCode::NOT_FOUND)], "4xx");
        assert_eq!(
            STATUS_CLASSES[status_index(StatusCode::SERVICE_UNAVAILABLE)],
            "5xx"
        );
        assert_eq!(STATUS_CLASSES[status_index(StatusCode::CONTINUE)], "1xx");
    }

    #[test]
    fn the_catalogue_follows_the_naming_rules() {
        let mut seen = std::collections::HashSet::new();
        for info in CATALOGUE {
            assert!(info.name.starts_with("gatehouse_"), "{}", info.name);
            assert!(seen.insert(info.name), "{} twice", info.name);
            match info.kind {
                Kind::Counter => assert!(info.name.ends_with("_total"), "{}", info.name),
                Kind::Histogram => assert!(info.name.ends_with("_seconds"), "{}", info.name),
                Kind::Gauge => assert!(!info.name.ends_with("_total"), "{}", info.name),
            }
        }
        assert_eq!(STORE_OPS.len(), StoreOp::Ping as usize + 1);
    }

    /// `docs/metrics.md` names every metric with its labels.
    #[test]
    fn the_reference_documents_every_metric() {
        let docs = include_str!("../../../docs/metrics.md");
        for info in CATALOGUE {
            assert!(docs.contains(&format!("`{}`", info.name)), "{}", info.name);
            for label in info.labels {
                assert!(
                    docs.contains(&format!("`{label}`")),
                    "{}: {label}",
                    info.name
                );
            }
        }
    }
}
