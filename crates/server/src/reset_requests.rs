//! Password reset requests are carried out off the request path.
//!
//! `POST /password/forgot` and `POST /api/v1/password-resets` must answer the same, byte for
//! byte and in about the same time, whether or not the address has an account. Looking the
//! address up, issuing the link and queueing its mail take a database write that an unknown
//! address does not; so the handler only hands the request to this queue and answers at once.
//!
//! The queue is bounded: a flood of requests (from many addresses, past the per-IP limits)
//! cannot grow memory or a backlog of tasks without bound. When it is full the request is
//! dropped and logged; the answer was the same anyway, and the person can ask again.

use std::sync::Arc;

use gatehouse_app::Gatehouse;
use gatehouse_identity::RequestContext;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::clock::Clock;

/// Requests waiting at most; beyond, new ones are dropped.
pub const QUEUE_CAPACITY: usize = 1024;

struct ResetRequest {
    email: String,
    ctx: RequestContext,
    /// The request's span, so the work logs under its request id.
    span: tracing::Span,
}

/// The handle handlers submit to; cheap to clone.
#[derive(Clone)]
pub struct ResetRequests {
    queue: mpsc::Sender<ResetRequest>,
}

impl ResetRequests {
    /// Starts the worker on the current runtime.
    pub fn spawn(app: Gatehouse, clock: Arc<dyn Clock>) -> Self {
        let (queue, mut requests) = mpsc::channel::<ResetRequest>(QUEUE_CAPACITY);
        tokio::spawn(async move {
            while let Some(request) = requests.recv().await {
                let outcome = app
                    .request_password_reset(&request.email, &request.ctx, clock.now())
                    .instrument(request.span.clone())
                    .await;
                let _entered = request.span.enter();
                match outcome {
                    Ok(()) => {}
                    Err(err) if err.is_unavailable() => {
                        tracing::warn!(error = %err, "password reset not requested: backend unavailable");
                    }
                    Err(err) => tracing::error!(error = %err, "password reset request failed"),
                }
            }
        });
        Self { queue }
    }

    /// Queues a request for `email`; never waits.
    pub fn submit(&self, email: &str, ctx: RequestContext) {
        let request = ResetRequest {
            email: email.to_owned(),
            ctx,
            span: tracing::Span::current(),
        };
        if let Err(err) = self.queue.try_send(request) {
            tracing::warn!(
                reason = match err {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "worker stopped",
                },
                "password reset request dropped"
            );
        }
    }
}
