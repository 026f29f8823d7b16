//! The back-channel logout worker: the HTTP half of OpenID Connect Back-Channel Logout 1.0.
//!
//! What to send, to whom, when to try again and how the work is shared between instances is
//! decided in `gatehouse_authz::backchannel`; this module only moves bytes. Every instance runs
//! one worker, started with the server ([`BackchannelWorker::spawn`]). About once a second it
//! claims the deliveries that are due, POSTs each logout token as
//! `application/x-www-form-urlencoded` `logout_token=…` to the client's
//! `backchannel_logout_uri` (§2.5), and hands the answer back to `Authz`.
//!
//! The POST waits at most [`DELIVERY_TIMEOUT`] and never follows a redirect: the logout token is
//! meant for the registered URI alone, so a 3xx is an answer like any other (final, not
//! delivered). https endpoints are verified against the Mozilla root store (rustls).

use std::sync::Arc;
use std::time::Duration;

use gatehouse_authz::{Authz, DeliveryDisposition, DeliveryOutcome, LogoutDelivery};
use gatehouse_sessions::StoreError;
use tokio::task::{JoinHandle, JoinSet};

use crate::clock::Clock;

/// How often an idle worker looks for due deliveries.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest one POST may take, connecting included.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries claimed (and sent concurrently) per round; all of them finish well within the
/// claim's one-minute lease.
const BATCH: usize = 16;

/// Sends claimed logout tokens. Cheap to clone.
#[derive(Clone)]
pub struct BackchannelWorker {
    authz: Authz,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

impl BackchannelWorker {
    pub fn new(authz: Authz, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { authz, clock, http })
    }

    /// One round: claims what is due now, sends it concurrently and records each answer.
    /// Returns how many deliveries were tried.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let deliveries = self
            .authz
            .claim_backchannel_logouts(self.clock.now(), BATCH)
            .await?;
        let tried = deliveries.len();
        let mut sends = JoinSet::new();
        for delivery in deliveries {
            let worker = self.clone();
            sends.spawn(async move { worker.deliver(delivery).await });
        }
        while let Some(sent) = sends.join_next().await {
            match sent {
                Ok(Ok(_)) => {}
                // The job stays leased and comes back when its lease ends.
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "back-channel logout: cannot record the outcome");
                }
                Err(err) => {
                    tracing::error!(error = %err, "back-channel logout: delivery task failed")
                }
            }
        }
        Ok(tried)
    }

    /// POSTs one logout token (§2.5) and records the answer.
    pub async fn deliver(
        &self,
        delivery: LogoutDelivery,
    ) -> Result<DeliveryDisposition, StoreError> {
        let outcome = match self
            .http
            .post(delivery.uri())
            .form(&delivery.form())
            .send()
            .await
        {
            Ok(response) => DeliveryOutcome::Status(response.status().as_u16()),
            Err(err) => DeliveryOutcome::Unreachable(describe(&err)),
        };
        tracing::debug!(
            client_id = delivery.client_id(),
            job_id = delivery.job_id(),
            attempt = delivery.attempt(),
            outcome = %outcome.describe(),
            "back-channel logout POST"
        );
        let disposition = self
            .authz
            .finish_backchannel_logout(delivery, &outcome, self.clock.now())
            .await?;
        crate::metrics::backchannel_delivery(&disposition);
        Ok(disposition)
    }

    /// Runs rounds on the current runtime: every `every`, and at once again after a full batch.
    pub fn spawn(self, every: Duration) -> JoinHandle<()> {
        let worker = std::sync::Arc::new(self);
        crate::poller::spawn_rounds("back-channel logout", every, BATCH, move || {
            let worker = worker.clone();
            async move { worker.run_once().await }
        })
    }
}

/// The error and its causes on one line ("error sending request: … : connection refused").
fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        format!("timed out after {DELIVERY_TIMEOUT:?}")
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
