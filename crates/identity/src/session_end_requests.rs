//! The session-end outbox: durable requests to end every session of a user, written by a process
//! that cannot reach the sessions itself and carried out by a server instance that can.
//!
//! The command line is a process of its own. On Postgres + Redis it could reach the session
//! store, but on the embedded default (SQLite + the in-process store) the sessions live in the
//! running server's memory, so `gatehouse user reset-2fa` writes a request here, in the same
//! transaction as the change that calls for it, and every server instance polls the table.
//!
//! Delivery is at least once. A claim is a lease: the claiming instance ends the sessions and
//! then completes (deletes) the request; if it fails or dies before that, another instance claims
//! the request again once the lease has run out. Ending every session of a user twice is
//! harmless.
//!
//! Claiming is the same statements on both backends, in one write transaction: a `SELECT` finds
//! the oldest due rows, a conditional `UPDATE` stamps those still due with the claim time and a
//! fresh random token, and a `SELECT` by that token reads back what this claim got. The `UPDATE`
//! repeats the "due" condition on purpose: on Postgres a second claimer that picked the same rows
//! waits for the first one's row locks and then re-checks that condition against the committed
//! rows (READ COMMITTED), which no longer meet it; SQLite's write transactions run one at a time.
//! So of several instances claiming at once, each request goes to exactly one.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::{DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::session_end_requests;
use crate::users::{id_text, parse_id};

/// Why every session of a user is to end, stored as a stable name (`second_factor_reset`).
/// Claimed requests carry the stored name as text, so requests written by another version still
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
pub enum SessionEndReason {
    /// An operator removed the user's second factor (`gatehouse user reset-2fa`).
    #[strum(serialize = "second_factor_reset")]
    SecondFactorReset,
    /// The password was reset through a mailed link: whoever held the old one is out.
    #[strum(serialize = "password_reset")]
    PasswordReset,
}

impl SessionEndReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A request this instance has claimed: end every session of `user_id`, then complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEndRequest {
    pub id: i64,
    pub user_id: uuid::Uuid,
    /// A [`SessionEndReason`]'s stored name.
    pub reason: String,
    /// Who asked (`cli`): the actor of what ending the sessions audits.
    pub requested_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// When this claim was made; its lease runs from here.
    pub claimed_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = session_end_requests)]
struct NewRequestRow<'a> {
    user_id: String,
    reason: &'static str,
    requested_by: Option<&'a str>,
    requested_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = session_end_requests)]
struct RequestRow {
    id: i64,
    user_id: String,
    reason: String,
    requested_by: Option<String>,
    requested_at: NaiveDateTime,
    claimed_at: Option<NaiveDateTime>,
}

impl TryFrom<RequestRow> for SessionEndRequest {
    type Error = IdentityError;

    fn try_from(row: RequestRow) -> Result<Self, IdentityError> {
        let claimed_at = row.claimed_at.ok_or_else(|| {
            IdentityError::Corrupt(format!("session end request {} lost its claim", row.id))
        })?;
        Ok(SessionEndRequest {
            id: row.id,
            user_id: parse_id(&row.user_id)?,
            reason: row.reason,
            requested_by: row.requested_by,
            requested_at: from_db(row.requested_at),
            claimed_at: from_db(claimed_at),
        })
    }
}

/// A new unclaimed request, in the caller's transaction if it has one.
pub(crate) fn enqueue(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    reason: SessionEndReason,
    requested_by: Option<&str>,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    diesel::insert_into(session_end_requests::table)
        .values(NewRequestRow {
            user_id: id_text(user_id),
            reason: reason.as_str(),
            requested_by,
            requested_at: to_db(now),
        })
        .execute(conn)?;
    // The row just written, read back in the same transaction (RETURNING is not available on
    // every SQLite this builds against).
    session_end_requests::table
        .filter(session_end_requests::user_id.eq(id_text(user_id)))
        .select(session_end_requests::id)
        .order(session_end_requests::id.desc())
        .first(conn)
}

/// Claims at most `limit` requests, oldest first: those never claimed and those whose claim is
/// older than `lease` at `now`. Run it in a write transaction; `lease` must be positive, or
/// concurrent claimers could take the same request.
pub(crate) fn claim(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<SessionEndRequest>, IdentityError> {
    use session_end_requests::dsl::{claim_token, claimed_at, id};

    let expired_before = to_db(now - lease);
    let due = || claimed_at.is_null().or(claimed_at.lt(expired_before));
    let token = uuid::Uuid::new_v4().simple().to_string();
    let oldest_due: Vec<i64> = session_end_requests::table
        .filter(due())
        .select(id)
        .order(id)
        .limit(limit.max(0))
        .load(conn)?;
    if oldest_due.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(
        session_end_requests::table
            .filter(id.eq_any(&oldest_due))
            .filter(due()),
    )
    .set((claimed_at.eq(to_db(now)), claim_token.eq(&token)))
    .execute(conn)?;
    session_end_requests::table
        .filter(claim_token.eq(&token))
        .order(id)
        .select(RequestRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SessionEndRequest::try_from)
        .collect()
}

/// Deletes a request whose work is done; whether it was still there (another instance whose
/// lease it outlived may have completed it first).
pub(crate) fn complete(conn: &mut DbConnection, request_id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(session_end_requests::table.find(request_id)).execute(conn)? > 0)
}

/// Requests not yet completed, claimed or not.
pub(crate) fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    session_end_requests::table.count().get_result(conn)
}
