//! The connection pool's metrics, through r2d2's event hooks (names in `docs/metrics.md`):
//! how long a checkout waited for a connection, how long work held it (the database latency a
//! request sees), checkouts that timed out and connections that could not be opened.

use diesel::r2d2::event::{CheckinEvent, CheckoutEvent, HandleEvent, TimeoutEvent};
use metrics::{Counter, Histogram};

/// Handles resolved once when the pool is built, so a checkout costs two atomic updates and no
/// registry look-up.
#[derive(Debug)]
pub(crate) struct PoolMetrics {
    wait: Histogram,
    held: Histogram,
    timeouts: Counter,
}

impl PoolMetrics {
    pub(crate) fn new() -> Self {
        Self {
            wait: metrics::histogram!("gatehouse_db_pool_wait_seconds"),
            held: metrics::histogram!("gatehouse_db_query_duration_seconds"),
            timeouts: metrics::counter!("gatehouse_db_pool_errors_total", "kind" => "timeout"),
        }
    }
}

impl HandleEvent for PoolMetrics {
    fn handle_checkout(&self, event: CheckoutEvent) {
        self.wait.record(event.duration());
    }

    fn handle_timeout(&self, _event: TimeoutEvent) {
        self.timeouts.increment(1);
    }

    fn handle_checkin(&self, event: CheckinEvent) {
        self.held.record(event.duration());
    }
}

/// A connection the pool could not open (the database down or refusing); counted where the pool
/// reports it (`LogPoolErrors`).
pub(crate) fn connect_failed() {
    metrics::counter!("gatehouse_db_pool_errors_total", "kind" => "connect").increment(1);
}
