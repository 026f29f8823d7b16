//! The append-only audit trail: who did what to whom, from where, and whether it worked.
//! `details` is free-form JSON, stored as text so the schema is the same on both backends.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::{DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::audit_events;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    /// The value stored in `audit_events.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    fn parse(stored: &str) -> Result<Self, IdentityError> {
        match stored {
            "success" => Ok(AuditOutcome::Success),
            "failure" => Ok(AuditOutcome::Failure),
            other => Err(IdentityError::Corrupt(format!(
                "unknown audit outcome `{other}`"
            ))),
        }
    }
}

/// An event to record. `action` is a dotted verb such as `user.register` or `login.failure`.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    pub details: serde_json::Value,
}

/// A recorded event; `id` grows with insertion order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    pub details: serde_json::Value,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditRow<'a> {
    occurred_at: NaiveDateTime,
    actor: Option<&'a str>,
    action: &'a str,
    target: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    outcome: &'static str,
    details: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    id: i64,
    occurred_at: NaiveDateTime,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
    details: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = IdentityError;

    fn try_from(row: AuditRow) -> Result<Self, IdentityError> {
        let details = serde_json::from_str(&row.details).map_err(|err| {
            IdentityError::Corrupt(format!("audit event {}: details: {err}", row.id))
        })?;
        Ok(AuditEvent {
            id: row.id,
            occurred_at: from_db(row.occurred_at),
            actor: row.actor,
            action: row.action,
            target: row.target,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: AuditOutcome::parse(&row.outcome)?,
            details,
        })
    }
}

/// Fields are recorded as given, except that a NUL becomes U+FFFD: the trail records what was
/// attempted (a login name is whatever was typed), and Postgres refuses a NUL in text, which
/// would otherwise turn a refused attempt into a failed request. `details` is JSON text, in which
/// serde_json already escapes every control character.
pub(crate) fn append(conn: &mut DbConnection, event: &NewAuditEvent) -> QueryResult<()> {
    let actor = event.actor.as_deref().map(storable);
    let action = storable(&event.action);
    let target = event.target.as_deref().map(storable);
    let ip = event.ip.as_deref().map(storable);
    let user_agent = event.user_agent.as_deref().map(storable);
    diesel::insert_into(audit_events::table)
        .values(NewAuditRow {
            occurred_at: to_db(event.occurred_at),
            actor: actor.as_deref(),
            action: &action,
            target: target.as_deref(),
            ip: ip.as_deref(),
            user_agent: user_agent.as_deref(),
            outcome: event.outcome.as_str(),
            details: event.details.to_string(),
        })
        .execute(conn)?;
    Ok(())
}

/// `text` with every NUL replaced by U+FFFD REPLACEMENT CHARACTER, borrowed when there is none.
fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Events share timestamps when the clock is coarse or injected; `id` breaks the tie in
/// insertion order.
pub(crate) fn recent(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<AuditEvent>, IdentityError> {
    audit_events::table
        .select(AuditRow::as_select())
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit.max(0))
        .load(conn)?
        .into_iter()
        .map(AuditEvent::try_from)
        .collect()
}
