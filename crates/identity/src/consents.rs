//! What each user has allowed each client (OpenID Connect Core §3.1.2.4): the scopes granted,
//! remembered so the consent page is shown only for scopes not yet granted. A consent only
//! grows until it is revoked; `granted_at` is when it was first given.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::clients::is_plausible_client_id;
use crate::db::{Database, DbConnection, from_db, from_json_array, to_db, to_json_array};
use crate::error::IdentityError;
use crate::schema::consents;
use crate::users::id_text;

/// Two first grants for one pair can both find no row and both insert; the loser's retry finds
/// the winner's row and merges into it. One retry suffices, the third attempt is a margin.
const GRANT_ATTEMPTS: usize = 3;

pub(crate) fn find(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    client_id: &str,
) -> Result<Option<Vec<String>>, IdentityError> {
    // No client has such an id, so there is no consent for it (and no query to refuse a NUL).
    if !is_plausible_client_id(client_id) {
        return Ok(None);
    }
    let user_id = id_text(user_id);
    consents::table
        .find((&user_id, client_id))
        .select(consents::scopes)
        .first::<String>(conn)
        .optional()?
        .map(|stored| from_json_array(&stored, &consent_name(&user_id, client_id)))
        .transpose()
}

/// Adds `scopes` to the user's consent for the client, creating it if need be.
pub(crate) fn grant(
    db: &Database,
    user_id: uuid::Uuid,
    client_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    let mut attempt = 1;
    loop {
        match db.write(|conn| merge(conn, user_id, client_id, scopes, now)) {
            Err(IdentityError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _,
            ))) if attempt < GRANT_ATTEMPTS => attempt += 1,
            result => return result,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = consents)]
struct NewConsentRow<'a> {
    user_id: &'a str,
    client_id: &'a str,
    scopes: String,
    granted_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Read-merge-write under the row's lock, so concurrent grants add up instead of the last one
/// winning. The lock is a no-op `UPDATE`, which works on both backends (as in `users::queries`).
fn merge(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    client_id: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    let user_id = id_text(user_id);
    let locked = diesel::update(consents::table.find((&user_id, client_id)))
        .set(consents::updated_at.eq(consents::updated_at))
        .execute(conn)?;
    if locked == 0 {
        let merged: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
        diesel::insert_into(consents::table)
            .values(NewConsentRow {
                user_id: &user_id,
                client_id,
                scopes: to_json_array(&merged.into_iter().collect::<Vec<_>>()),
                granted_at: to_db(now),
                updated_at: to_db(now),
            })
            .execute(conn)?;
        return Ok(());
    }
    let stored: String = consents::table
        .find((&user_id, client_id))
        .select(consents::scopes)
        .first(conn)?;
    let mut merged: BTreeSet<String> =
        from_json_array(&stored, &consent_name(&user_id, client_id))?
            .into_iter()
            .collect();
    merged.extend(scopes.iter().cloned());
    diesel::update(consents::table.find((&user_id, client_id)))
        .set((
            consents::scopes.eq(to_json_array(&merged.into_iter().collect::<Vec<_>>())),
            consents::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn revoke(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    client_id: &str,
) -> QueryResult<bool> {
    if !is_plausible_client_id(client_id) {
        return Ok(false);
    }
    let deleted =
        diesel::delete(consents::table.find((id_text(user_id), client_id))).execute(conn)?;
    Ok(deleted > 0)
}

/// `(client_id, scopes, granted_at)` for each client the user has consented to, by client id.
#[expect(clippy::type_complexity, reason = "mirrors `Database::list_consents`")]
pub(crate) fn list(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
) -> Result<Vec<(String, Vec<String>, DateTime<Utc>)>, IdentityError> {
    let user_id = id_text(user_id);
    consents::table
        .filter(consents::user_id.eq(&user_id))
        .select((consents::client_id, consents::scopes, consents::granted_at))
        .order(consents::client_id.asc())
        .load::<(String, String, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(client_id, stored, granted_at)| {
            let scopes = from_json_array(&stored, &consent_name(&user_id, &client_id))?;
            Ok((client_id, scopes, from_db(granted_at)))
        })
        .collect()
}

fn consent_name(user_id: &str, client_id: &str) -> String {
    format!("consent of user {user_id} for client {client_id}: scopes")
}
