//! The mail outbox: a mail is a row written in the same transaction as the change that causes
//! it (a registration, a reset request), so it is sent if and only if that change committed;
//! a server instance's worker sends it later, so no request waits on SMTP.
//!
//! Delivery works like the session-end outbox (`crate::session_end_requests`): claiming is a
//! lease taken with the same statements on both backends in one write transaction (a `SELECT`
//! of the oldest due rows, a conditional `UPDATE` that repeats the "due" condition and stamps a
//! fresh random token, a `SELECT` by that token), so of several instances claiming at once each
//! mail goes to exactly one. Only the holder of the current claim token can mark a mail sent or
//! failed. A failed attempt puts the mail back with a growing delay ([`MailRetryPolicy`]); after
//! the last allowed attempt it is `dead` and stays in the table for the operator.
//!
//! Delivery is at least once: an instance that sent a mail and died before marking it sent lets
//! it go out again after the lease. The Message-ID stays the same, so receivers can tell.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::{DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::mail_outbox;

/// Where a mail stands, stored by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum MailStatus {
    /// Waiting for its (next) attempt, or being sent.
    Pending,
    Sent,
    /// Every allowed attempt failed.
    Dead,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A rendered mail to queue; the sender adds the From.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub message_id: String,
}

/// A mail this instance has claimed: send it, then mark it sent or failed with `claim_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    pub id: i64,
    pub claim_token: String,
    pub mail: OutboxMail,
    /// Failed attempts before this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// A queued mail as the operator (and the tests) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub mail: OutboxMail,
    pub status: MailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// How long to wait after each failed attempt; one attempt more than there are delays is
/// allowed, then the mail is dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRetryPolicy {
    pub delays: Vec<chrono::Duration>,
}

impl Default for MailRetryPolicy {
    /// 30 s, 2 min, 10 min, 1 h: five attempts over about 73 minutes, enough to ride out a
    /// relay's restart or a short outage without flooding it.
    fn default() -> Self {
        MailRetryPolicy {
            delays: vec![
                chrono::Duration::seconds(30),
                chrono::Duration::minutes(2),
                chrono::Duration::minutes(10),
                chrono::Duration::hours(1),
            ],
        }
    }
}

impl MailRetryPolicy {
    /// Attempts a mail gets before it is dead.
    pub fn max_attempts(&self) -> i32 {
        i32::try_from(self.delays.len())
            .unwrap_or(i32::MAX - 1)
            .saturating_add(1)
    }

    /// When to try again after `failed` attempts in all, or `None`: give up.
    fn retry_at(&self, failed: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let index = usize::try_from(failed.checked_sub(1)?).ok()?;
        self.delays.get(index).map(|delay| now + *delay)
    }
}

/// What a failed attempt did to the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailFailure {
    /// Back to pending, not before `at`.
    Retry { at: DateTime<Utc> },
    /// That was the last allowed attempt.
    Dead,
    /// This claim is no longer the mail's (its lease ran out and another instance took it).
    ClaimLost,
}

#[derive(Insertable)]
#[diesel(table_name = mail_outbox)]
struct NewRow<'a> {
    recipient: &'a str,
    subject: &'a str,
    text_body: &'a str,
    html_body: &'a str,
    message_id: &'a str,
    status: &'static str,
    attempts: i32,
    created_at: NaiveDateTime,
    next_attempt_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
struct Row {
    id: i64,
    recipient: String,
    subject: String,
    text_body: String,
    html_body: String,
    message_id: String,
    status: String,
    attempts: i32,
    created_at: NaiveDateTime,
    next_attempt_at: NaiveDateTime,
    claim_token: Option<String>,
    sent_at: Option<NaiveDateTime>,
    last_error: Option<String>,
}

impl Row {
    fn mail(&self) -> OutboxMail {
        OutboxMail {
            to: self.recipient.clone(),
            subject: self.subject.clone(),
            text_body: self.text_body.clone(),
            html_body: self.html_body.clone(),
            message_id: self.message_id.clone(),
        }
    }

    fn status(&self) -> Result<MailStatus, IdentityError> {
        self.status.parse().map_err(|_| {
            IdentityError::Corrupt(format!(
                "mail {} has an unknown status {:?}",
                self.id, self.status
            ))
        })
    }

    fn into_entry(self) -> Result<OutboxEntry, IdentityError> {
        Ok(OutboxEntry {
            id: self.id,
            mail: self.mail(),
            status: self.status()?,
            attempts: self.attempts,
            next_attempt_at: from_db(self.next_attempt_at),
            sent_at: self.sent_at.map(from_db),
            last_error: self.last_error,
        })
    }

    fn into_claimed(self) -> Result<ClaimedMail, IdentityError> {
        let mail = self.mail();
        let claim_token = self
            .claim_token
            .ok_or_else(|| IdentityError::Corrupt(format!("mail {} lost its claim", self.id)))?;
        Ok(ClaimedMail {
            id: self.id,
            claim_token,
            mail,
            attempts: self.attempts,
            created_at: from_db(self.created_at),
        })
    }
}

/// Queues a mail, due at once, in the caller's transaction: call it inside `Database::write`
/// with the change that causes the mail, so both commit or neither does.
pub(crate) fn enqueue(
    conn: &mut DbConnection,
    mail: &OutboxMail,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values(NewRow {
            recipient: &mail.to,
            subject: &mail.subject,
            text_body: &mail.text_body,
            html_body: &mail.html_body,
            message_id: &mail.message_id,
            status: MailStatus::Pending.as_str(),
            attempts: 0,
            created_at: to_db(now),
            next_attempt_at: to_db(now),
        })
        .execute(conn)?;
    Ok(())
}

/// Claims at most `limit` pending mails whose attempt is due at `now`, oldest first, skipping
/// those another claim holds for less than `lease`. Run it in a write transaction; `lease`
/// must be positive.
pub(crate) fn claim(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<ClaimedMail>, IdentityError> {
    use mail_outbox::dsl::{claim_token, claimed_at, id, next_attempt_at, status};

    let due_at = to_db(now);
    let expired_before = to_db(now - lease);
    let due = || {
        status
            .eq(MailStatus::Pending.as_str())
            .and(next_attempt_at.le(due_at))
            .and(claimed_at.is_null().or(claimed_at.lt(expired_before)))
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let oldest_due: Vec<i64> = mail_outbox::table
        .filter(due())
        .select(id)
        .order(id)
        .limit(limit.max(0))
        .load(conn)?;
    if oldest_due.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(
        mail_outbox::table
            .filter(id.eq_any(&oldest_due))
            .filter(due()),
    )
    .set((claimed_at.eq(due_at), claim_token.eq(&token)))
    .execute(conn)?;
    mail_outbox::table
        .filter(claim_token.eq(&token))
        .order(id)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_claimed)
        .collect()
}

/// The claimed mail went out. Whether this claim still held it.
pub(crate) fn mark_sent(
    conn: &mut DbConnection,
    mail_id: i64,
    token: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    use mail_outbox::dsl::{claim_token, claimed_at, id, last_error, sent_at, status};

    let updated = diesel::update(
        mail_outbox::table
            .filter(id.eq(mail_id))
            .filter(claim_token.eq(token))
            .filter(status.eq(MailStatus::Pending.as_str())),
    )
    .set((
        status.eq(MailStatus::Sent.as_str()),
        sent_at.eq(Some(to_db(now))),
        claimed_at.eq(None::<NaiveDateTime>),
        claim_token.eq(None::<String>),
        last_error.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(updated > 0)
}

/// The claimed mail's attempt failed with `error`: back to pending after the policy's delay, or
/// dead after its last attempt. Run it in a write transaction.
pub(crate) fn mark_failed(
    conn: &mut DbConnection,
    mail_id: i64,
    token: &str,
    error: &str,
    now: DateTime<Utc>,
    policy: &MailRetryPolicy,
) -> QueryResult<MailFailure> {
    use mail_outbox::dsl::{
        attempts, claim_token, claimed_at, id, last_error, next_attempt_at, status,
    };

    let mine = || {
        mail_outbox::table
            .filter(id.eq(mail_id))
            .filter(claim_token.eq(token))
            .filter(status.eq(MailStatus::Pending.as_str()))
    };
    let Some(before) = mine().select(attempts).first::<i32>(conn).optional()? else {
        return Ok(MailFailure::ClaimLost);
    };
    let failed = before.saturating_add(1);
    let (outcome, new_status, retry_at) = match policy.retry_at(failed, now) {
        Some(at) => (MailFailure::Retry { at }, MailStatus::Pending, at),
        None => (MailFailure::Dead, MailStatus::Dead, now),
    };
    let updated = diesel::update(mine())
        .set((
            status.eq(new_status.as_str()),
            attempts.eq(failed),
            next_attempt_at.eq(to_db(retry_at)),
            claimed_at.eq(None::<NaiveDateTime>),
            claim_token.eq(None::<String>),
            last_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(if updated > 0 {
        outcome
    } else {
        MailFailure::ClaimLost
    })
}

/// The queued mail with this Message-ID, if any.
pub(crate) fn find_by_message_id(
    conn: &mut DbConnection,
    message_id: &str,
) -> Result<Option<OutboxEntry>, IdentityError> {
    mail_outbox::table
        .filter(mail_outbox::message_id.eq(message_id))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_entry)
        .transpose()
}

/// Mails in each status: (pending, sent, dead).
pub(crate) fn count_by_status(conn: &mut DbConnection) -> QueryResult<(i64, i64, i64)> {
    let count = |conn: &mut DbConnection, wanted: MailStatus| {
        mail_outbox::table
            .filter(mail_outbox::status.eq(wanted.as_str()))
            .count()
            .get_result::<i64>(conn)
    };
    Ok((
        count(conn, MailStatus::Pending)?,
        count(conn, MailStatus::Sent)?,
        count(conn, MailStatus::Dead)?,
    ))
}
