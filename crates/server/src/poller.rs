//! The loop every background worker runs (back-channel logout delivery, the mail outbox, the
//! session-end outbox): a round every interval, and another at once while rounds come back
//! full, so a backlog drains without waiting for the ticker. A failed round (the database or
//! the session store is down, which `/readyz` and the requests reaching them report) is logged
//! at debug and tried again at the next tick.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

/// Spawns the loop on the current runtime until the runtime stops. `round` handles up to
/// `batch` items and says how many it handled; `what` names the work in the log.
pub fn spawn_rounds<F, Fut, E>(
    what: &'static str,
    every: Duration,
    batch: usize,
    mut round: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, E>> + Send,
    E: Display,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            loop {
                match round().await {
                    Ok(handled) if handled >= batch => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::debug!(error = %err, "{what}: round failed; tried again later");
                        break;
                    }
                }
            }
        }
    })
}
