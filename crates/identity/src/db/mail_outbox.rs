//! `Database` entry points of the mail outbox (`crate::mail_outbox`). Flows that cause a mail
//! inside their own transaction call `mail_outbox::enqueue` with its connection instead of
//! [`Database::enqueue_mail`].

use chrono::{DateTime, Utc};

use super::Database;
use crate::error::IdentityError;
use crate::mail_outbox::{
    self, ClaimedMail, MailFailure, MailRetryPolicy, OutboxEntry, OutboxMail,
};

impl Database {
    /// Queues one mail on its own, due at once.
    pub fn enqueue_mail(&self, mail: &OutboxMail, now: DateTime<Utc>) -> Result<(), IdentityError> {
        self.write_statement(|conn| Ok(mail_outbox::enqueue(conn, mail, now)?))
    }

    /// Claims at most `limit` due mails, oldest first, for `lease` (positive): none of them is
    /// handed to another claimer before `now + lease`, however many instances claim at once.
    #[tracing::instrument(skip(self))]
    pub fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedMail>, IdentityError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(|conn| mail_outbox::claim(conn, now, lease, limit))
    }

    /// The claimed mail was sent. Whether the claim still held it.
    pub fn mark_mail_sent(
        &self,
        claimed: &ClaimedMail,
        now: DateTime<Utc>,
    ) -> Result<bool, IdentityError> {
        self.write_statement(|conn| {
            Ok(mail_outbox::mark_sent(
                conn,
                claimed.id,
                &claimed.claim_token,
                now,
            )?)
        })
    }

    /// The claimed mail's attempt failed: retried after `policy`'s next delay, or dead.
    pub fn mark_mail_failed(
        &self,
        claimed: &ClaimedMail,
        error: &str,
        now: DateTime<Utc>,
        policy: &MailRetryPolicy,
    ) -> Result<MailFailure, IdentityError> {
        self.write(|conn| {
            Ok::<_, IdentityError>(mail_outbox::mark_failed(
                conn,
                claimed.id,
                &claimed.claim_token,
                error,
                now,
                policy,
            )?)
        })
    }

    /// The queued mail with this Message-ID.
    pub fn find_outbox_mail(&self, message_id: &str) -> Result<Option<OutboxEntry>, IdentityError> {
        self.read(|conn| mail_outbox::find_by_message_id(conn, message_id))
    }

    /// Queued mails by status: (pending, sent, dead).
    pub fn count_outbox_mail(&self) -> Result<(i64, i64, i64), IdentityError> {
        self.read(|conn| Ok(mail_outbox::count_by_status(conn)?))
    }
}
