//! Mail delivery in the server: the worker that sends what the outbox holds (see
//! `gatehouse_identity`'s mail outbox) through the configured transport (`gatehouse_mail`), and
//! `gatehouse mail test`, which sends one mail directly to check the transport.
//!
//! Every instance runs a worker. It claims due mails with a lease, sends each, and marks it
//! sent, or failed (retried after 30 s, 2 min, 10 min, 1 h, then dead). Claims never hand one
//! mail to two instances at once; request handlers only ever write outbox rows.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use gatehouse_identity::{
    ClaimedMail, Database, IdentityError, MailFailure, MailRetryPolicy, OutboxMail,
};
use gatehouse_mail::{Delivery, MailError, Mailer, RenderedMail, TestMail};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Settings;

/// How often an instance looks for due mail when the last round found none.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a claimed mail is this instance's alone: far longer than an SMTP exchange may take
/// (each command times out after 20 s).
pub const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// Mails per claim; a fuller backlog drains in the rounds that follow at once.
const BATCH: usize = 20;

/// Builds the transport from `[email]`. Inside the runtime (the SMTP pool lives on it).
pub fn mailer(settings: &Settings) -> anyhow::Result<Mailer> {
    let config = settings.email.mail_config()?;
    Mailer::new(&config).context("email: cannot build the mail transport")
}

/// A rendered mail as the outbox stores it.
pub fn to_outbox(mail: RenderedMail) -> OutboxMail {
    OutboxMail {
        to: mail.to,
        subject: mail.subject,
        text_body: mail.text_body,
        html_body: mail.html_body,
        message_id: mail.message_id,
    }
}

fn from_outbox(mail: OutboxMail) -> RenderedMail {
    RenderedMail {
        to: mail.to,
        subject: mail.subject,
        text_body: mail.text_body,
        html_body: mail.html_body,
        message_id: mail.message_id,
    }
}

/// Sends the outbox's due mail; see the module docs.
#[derive(Clone)]
pub struct MailWorker {
    db: Database,
    mailer: Arc<Mailer>,
    clock: Arc<dyn Clock>,
    policy: MailRetryPolicy,
}

impl MailWorker {
    pub fn new(db: Database, mailer: Arc<Mailer>, clock: Arc<dyn Clock>) -> MailWorker {
        MailWorker {
            db,
            mailer,
            clock,
            policy: MailRetryPolicy::default(),
        }
    }

    /// One round: claims up to a batch of due mails and sends them one after the other. How
    /// many it claimed.
    pub async fn run_once(&self) -> Result<usize, IdentityError> {
        let now = self.clock.now();
        let claimed = self
            .db
            .run(move |db| db.claim_mail(now, LEASE, BATCH))
            .await?;
        let count = claimed.len();
        for mail in claimed {
            self.deliver(mail).await?;
        }
        Ok(count)
    }

    async fn deliver(&self, claimed: ClaimedMail) -> Result<(), IdentityError> {
        let mail = from_outbox(claimed.mail.clone());
        let result = self.mailer.send(&mail).await;
        let now = self.clock.now();
        match result {
            Ok(delivery) => {
                tracing::info!(
                    to = %mail.to,
                    message_id = %mail.message_id,
                    attempt = claimed.attempts + 1,
                    "mail sent: {delivery}"
                );
                crate::metrics::outbox_delivery("sent");
                let held = self
                    .db
                    .run(move |db| db.mark_mail_sent(&claimed, now))
                    .await?;
                if !held {
                    tracing::warn!(
                        message_id = %mail.message_id,
                        "mail sent after its claim ran out; it may go out twice"
                    );
                }
            }
            Err(err) => {
                // A mail that cannot be built will not build next time either.
                let policy = match err {
                    MailError::Recipient { .. } | MailError::Build(_) => {
                        MailRetryPolicy { delays: Vec::new() }
                    }
                    _ => self.policy.clone(),
                };
                let error = err.to_string();
                let failure = self
                    .db
                    .run(move |db| db.mark_mail_failed(&claimed, &error, now, &policy))
                    .await?;
                crate::metrics::outbox_delivery(match failure {
                    MailFailure::Retry { .. } => "retry",
                    MailFailure::Dead => "failed",
                    MailFailure::ClaimLost => "claim_lost",
                });
                match failure {
                    MailFailure::Retry { at } => tracing::warn!(
                        to = %mail.to,
                        message_id = %mail.message_id,
                        error = %err,
                        retry_at = %at,
                        "mail not sent; retrying later"
                    ),
                    // An address the mail library refuses (a local part over RFC 5321's 64
                    // octets, a domain IDNA rejects) came from a user, not from a fault here.
                    MailFailure::Dead if matches!(err, MailError::Recipient { .. }) => {
                        tracing::warn!(
                            to = %mail.to,
                            message_id = %mail.message_id,
                            error = %err,
                            "mail cannot be sent to this address; dropped"
                        );
                    }
                    MailFailure::Dead => tracing::error!(
                        to = %mail.to,
                        message_id = %mail.message_id,
                        error = %err,
                        "mail not sent; giving up"
                    ),
                    MailFailure::ClaimLost => tracing::warn!(
                        message_id = %mail.message_id,
                        error = %err,
                        "mail not sent and its claim ran out"
                    ),
                }
            }
        }
        Ok(())
    }

    /// Runs the worker on the current runtime until the runtime stops.
    pub fn spawn(self, every: Duration) -> JoinHandle<()> {
        let worker = std::sync::Arc::new(self);
        crate::poller::spawn_rounds("mail outbox", every, BATCH, move || {
            let worker = worker.clone();
            async move { worker.run_once().await }
        })
    }
}

/// `gatehouse mail …`
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send one test mail now through the configured transport (not the outbox) and print the
    /// server's answer; exits with 1 and the exact failure if it cannot be sent.
    Test {
        /// The recipient.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
    },
}

pub async fn run_command(command: MailCommand, settings: Settings) -> anyhow::Result<()> {
    match command {
        MailCommand::Test { to } => {
            let delivery = send_test_mail(&settings, &to).await?;
            println!("test mail to {to}: {delivery}");
            Ok(())
        }
    }
}

/// Renders the test mail and sends it through the configured transport at once.
pub async fn send_test_mail(settings: &Settings, to: &str) -> anyhow::Result<Delivery> {
    let mailer = mailer(settings)?;
    let issuer = settings.issuer();
    let mail = TestMail { issuer: &issuer }.render(to, mailer.from())?;
    // The transport's own words, once (its error already carries its cause).
    mailer
        .send(&mail)
        .await
        .map_err(|err| anyhow::anyhow!("cannot send the test mail to {to}: {err}"))
}
