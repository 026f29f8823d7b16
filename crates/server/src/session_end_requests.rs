//! The poller of the session-end outbox: every instance looks for requests to end all sessions
//! of a user (written by `gatehouse user reset-2fa`, which cannot reach an embedded server's
//! in-memory sessions) every [`POLL_INTERVAL`], and the application layer carries out what it
//! claims ([`Gatehouse::process_session_end_requests`]). Each request goes to one instance at a
//! time; one that fails comes back after [`LEASE`].

use std::sync::Arc;
use std::time::Duration;

use gatehouse_app::Gatehouse;
use tokio::task::JoinHandle;

use crate::clock::Clock;

/// How often an instance looks for requests: the command line promises the sessions end within
/// about this long.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long a claimed request is this instance's alone; far longer than ending a user's
/// sessions takes.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// Requests per claim; a fuller backlog drains in the rounds that follow at once.
const BATCH: usize = 20;

/// Runs the poller on the current runtime until the runtime stops.
pub fn spawn(app: Gatehouse, clock: Arc<dyn Clock>, every: Duration) -> JoinHandle<()> {
    crate::poller::spawn_rounds("session end requests", every, BATCH, move || {
        let (app, now) = (app.clone(), clock.now());
        async move { app.process_session_end_requests(now, LEASE, BATCH).await }
    })
}
