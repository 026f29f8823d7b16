//! Queries on `users` and `user_roles`, written once for both backends. Case-insensitive
//! matching always goes through SQL `lower()` on both sides, so it agrees exactly with the
//! `lower(...)` unique indexes of the backend in use.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{LoginState, Role, User, UserRow, UserStatus, id_text};
use crate::db::{DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::{user_roles, users};
use crate::validation::{Email, Username, login_lookup_key};

#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(x: Text) -> Text;
}

pub(crate) fn find_by_id(
    conn: &mut DbConnection,
    id: uuid::Uuid,
) -> Result<Option<User>, IdentityError> {
    users::table
        .find(id_text(id))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// Usernames cannot contain `@` and emails must, so at most one row matches. The login is
/// looked up in NFC, as accounts are stored; one that cannot name an account (a control
/// character, a NUL that Postgres would refuse) is not found, without a query.
pub(crate) fn find_by_login(
    conn: &mut DbConnection,
    username_or_email: &str,
) -> Result<Option<User>, IdentityError> {
    let Some(key) = login_lookup_key(username_or_email) else {
        return Ok(None);
    };
    users::table
        .filter(
            lower(users::username)
                .eq(lower(&key))
                .or(lower(users::email).eq(lower(&key))),
        )
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

pub(crate) fn count(conn: &mut DbConnection) -> Result<i64, IdentityError> {
    Ok(users::table.count().get_result(conn)?)
}

pub(crate) fn roles_of(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
) -> Result<Vec<Role>, IdentityError> {
    user_roles::table
        .filter(user_roles::user_id.eq(id_text(user_id)))
        .select(user_roles::role)
        .order(user_roles::role.asc())
        .load::<String>(conn)?
        .iter()
        .map(|stored| Role::parse(stored))
        .collect()
}

pub(crate) fn username_taken(conn: &mut DbConnection, username: &Username) -> QueryResult<bool> {
    diesel::select(exists(
        users::table.filter(lower(users::username).eq(lower(username.as_str()))),
    ))
    .get_result(conn)
}

pub(crate) fn email_taken(conn: &mut DbConnection, email: &Email) -> QueryResult<bool> {
    diesel::select(exists(
        users::table.filter(lower(users::email).eq(lower(email.as_str()))),
    ))
    .get_result(conn)
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    id: String,
    username: &'a str,
    email: &'a str,
    email_verified: bool,
    password_hash: &'a str,
    status: &'static str,
    failed_logins: i32,
    locked_until: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

pub(crate) fn insert(conn: &mut DbConnection, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(NewUserRow {
            id: id_text(user.id),
            username: &user.username,
            email: &user.email,
            email_verified: user.email_verified,
            password_hash: &user.password_hash,
            status: user.status.as_str(),
            failed_logins: user.failed_logins,
            locked_until: user.locked_until.map(to_db),
            created_at: to_db(user.created_at),
            updated_at: to_db(user.updated_at),
        })
        .execute(conn)?;
    Ok(())
}

/// Grants `roles`, which must exist in `roles` and be free of repeats.
pub(crate) fn grant_roles(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    roles: &[Role],
) -> QueryResult<()> {
    let user_id = id_text(user_id);
    for role in roles {
        diesel::insert_into(user_roles::table)
            .values((
                user_roles::user_id.eq(&user_id),
                user_roles::role.eq(role.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Takes the row's write lock for the rest of the transaction, so that a read-decide-write on
/// the lockout counters cannot interleave with another login's. A no-op `UPDATE` does this on
/// both backends, where `SELECT … FOR UPDATE` exists only on Postgres. Returns whether the row
/// exists.
pub(crate) fn lock_row(conn: &mut DbConnection, user_id: uuid::Uuid) -> QueryResult<bool> {
    let touched = diesel::update(users::table.find(id_text(user_id)))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)?;
    Ok(touched > 0)
}

pub(crate) fn login_state(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
) -> Result<Option<LoginState>, IdentityError> {
    let row: Option<(String, i32, Option<NaiveDateTime>, Option<NaiveDateTime>)> = users::table
        .find(id_text(user_id))
        .select((
            users::status,
            users::failed_logins,
            users::failed_window_started_at,
            users::locked_until,
        ))
        .first(conn)
        .optional()?;
    row.map(|(status, failed_logins, window, locked_until)| {
        Ok(LoginState {
            status: UserStatus::parse(&status)?,
            failed_logins,
            window_started_at: window.map(from_db),
            locked_until: locked_until.map(from_db),
        })
    })
    .transpose()
}

pub(crate) fn save_login_state(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    state: &LoginState,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(users::table.find(id_text(user_id)))
        .set((
            users::status.eq(state.status.as_str()),
            users::failed_logins.eq(state.failed_logins),
            users::failed_window_started_at.eq(state.window_started_at.map(to_db)),
            users::locked_until.eq(state.locked_until.map(to_db)),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The account whose address is `email` (case-insensitively, in NFC as stored), if any.
pub(crate) fn find_by_email(
    conn: &mut DbConnection,
    email: &Email,
) -> Result<Option<User>, IdentityError> {
    users::table
        .filter(lower(users::email).eq(lower(email.as_str())))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// Makes `email` the account's address, verified.
pub(crate) fn set_email(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(users::table.find(id_text(user_id)))
        .set((
            users::email.eq(email),
            users::email_verified.eq(true),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the password hash.
pub(crate) fn set_password_hash(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    password_hash: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(users::table.find(id_text(user_id)))
        .set((
            users::password_hash.eq(password_hash),
            users::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}
