//! Queries of the admin API: users.
//!
//! The list is ordered by `lower(username)` then `id` and continues after the last pair of the
//! previous page (a keyset cursor), so a page costs an index range scan of `limit` rows whatever
//! its depth: `lower(username) >= key AND (lower(username) > key OR id > last_id)`, whose first
//! conjunct the unique index on `lower(username)` answers. The search is a case-insensitive
//! prefix of the username or of the email, `lower(col) LIKE lower('prefix%') ESCAPE '\'` with `%`,
//! `_` and `\` of the prefix escaped; on Postgres the `text_pattern_ops` indexes of migration
//! `2026-11-30-000007_user_search` answer it (a bitmap OR of two index range scans). SQLite
//! cannot use an index for `LIKE` on an expression, so there an ASCII prefix becomes the range
//! of `lower(col)` values it allows instead (`>= prefix AND < successor`, binary order, which
//! SQLite's expression indexes on `lower(col)` answer); Postgres gets no range, since its
//! `lower(col)` indexes follow the database's collation, in whose order a prefix's values need
//! not be contiguous.
//!
//! An organisation narrows the list to its members (`id IN (SELECT user_id FROM
//! organization_members WHERE org_id = …)`, answered by the membership's primary key), in SQL on
//! both backends, so the page, the search and the total agree.
//!
//! `total` counts with the same filters, without the cursor; when nothing but a status filters,
//! it is read from the counters of [`counts`] instead, since counting those rows would read the
//! whole table (~0.2 s at a million users).
//!
//! Changes that could take the last active `admin` away (a role change, a lock, disabling,
//! deleting) re-check it inside their transaction, under the row locks of every account holding
//! `admin`, so two administrators demoting each other at once cannot both succeed: the
//! permission gate decides first, this is the backstop.

mod counts;

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::db::{DbConnection, stored, to_db};
use crate::error::IdentityError;
use crate::schema::{organization_members, roles, totp_credentials, user_roles, users};
use crate::users::{LoginState, UserRow, id_text, queries};
use crate::validation::login_lookup_key;
use crate::{Backend as DbBackend, Database, Email, Role, User, UserStatus};

pub use counts::StatusCounts;
pub(crate) use counts::status_counts as stored_status_counts;
pub(crate) use counts::status_counts;

type Backend = <DbConnection as diesel::Connection>::Backend;

#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(x: Text) -> Text;
}

/// Which users a list shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// A prefix of the username or of the email, any case.
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    /// Users holding this role.
    pub role: Option<Role>,
    /// Members of this organisation (any role in it): a join on `organization_members`, so an
    /// organisation admin's list, search and total never see anyone else.
    pub organization: Option<uuid::Uuid>,
}

/// Where a page of the list continues: after this `(lower(username), id)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserCursor {
    pub key: String,
    pub id: uuid::Uuid,
}

impl UserCursor {
    /// base64url (no padding) of the JSON pair `[key, id]`: opaque to clients.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&(&self.key, self.id)).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// `None` for anything [`UserCursor::encode`] did not make.
    pub fn decode(cursor: &str) -> Option<UserCursor> {
        let json = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (key, id): (String, uuid::Uuid) = serde_json::from_slice(&json).ok()?;
        Some(UserCursor { key, id })
    }
}

/// A user as administrators see it: the account, its roles and whether it has a second factor.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub user: User,
    /// Sorted by name, as [`Database::roles_of`] gives them.
    pub roles: Vec<Role>,
    /// A confirmed TOTP credential.
    pub totp_enabled: bool,
}

/// One page of users.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<UserSummary>,
    /// Where the next page starts, when more users match.
    pub next: Option<UserCursor>,
    /// How many users match the filter (all pages).
    pub total: i64,
}

/// A role as the `roles` table describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub id: String,
    pub description: String,
}

/// Why an administrator's change of a user was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminUserError {
    /// It would leave no active account holding `admin`.
    #[error("the last admin cannot lose the admin role, be locked, disabled or deleted")]
    LastAdmin,
    /// Another account has this value (the field is named).
    #[error("another user has this {0}")]
    Duplicate(&'static str),
    #[error(transparent)]
    Backend(#[from] IdentityError),
}

impl From<diesel::result::Error> for AdminUserError {
    fn from(err: diesel::result::Error) -> Self {
        AdminUserError::Backend(err.into())
    }
}

/// The escaped `LIKE` pattern matching values that start with `prefix`, or `None` for a prefix
/// no account can have (a control character).
fn prefix_pattern(prefix: &str) -> Option<String> {
    let prefix = login_lookup_key(prefix)?;
    let mut pattern = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

/// The first string after every string that starts with `prefix`, in code point order (which
/// is UTF-8's byte order, SQLite's `BINARY`): the last character that has a successor, moved on
/// by one; `None` if none has.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A search as SQL conditions on `lower(username)` and `lower(email)`.
#[derive(Debug, PartialEq, Eq)]
struct Search {
    /// The escaped `LIKE` pattern.
    pattern: String,
    /// On SQLite, `[from, to)`: the values of `lower(col)` that start with the prefix, used
    /// instead of the pattern, since the expression indexes answer a range and not a `LIKE`.
    /// Only for an ASCII prefix, where Rust's lowercase, SQLite's `lower()` (ASCII only, or
    /// ICU's) and its ASCII-case-insensitive `LIKE` all agree.
    range: Option<(String, String)>,
}

/// The search of `filter`: `Ok(None)` without one, `Err(())` for a search nothing can match.
fn search_of(filter: &UserFilter, backend: DbBackend) -> Result<Option<Search>, ()> {
    let Some(search) = filter.search.as_deref().filter(|search| !search.is_empty()) else {
        return Ok(None);
    };
    let pattern = prefix_pattern(search).ok_or(())?;
    let range = match backend {
        DbBackend::Sqlite if search.is_ascii() => {
            let from = search.to_ascii_lowercase();
            prefix_successor(&from).map(|to| (from, to))
        }
        _ => None,
    };
    Ok(Some(Search { pattern, range }))
}

/// The filtered query.
fn filtered(filter: &UserFilter, search: Option<&Search>) -> users::BoxedQuery<'static, Backend> {
    let mut query = users::table.into_boxed::<Backend>();
    if let Some(search) = search {
        query = match &search.range {
            None => query.filter(
                lower(users::username)
                    .like(lower(search.pattern.clone()))
                    .escape('\\')
                    .or(lower(users::email)
                        .like(lower(search.pattern.clone()))
                        .escape('\\')),
            ),
            // The range says exactly what the `LIKE` would (for an ASCII prefix), and without
            // it the count reads only the indexes, not every matching row.
            Some((from, to)) => query.filter(
                lower(users::username)
                    .ge(from.clone())
                    .and(lower(users::username).lt(to.clone()))
                    .or(lower(users::email)
                        .ge(from.clone())
                        .and(lower(users::email).lt(to.clone()))),
            ),
        };
    }
    if let Some(status) = filter.status {
        query = query.filter(users::status.eq(status.as_str()));
    }
    if let Some(role) = filter.role {
        query = query.filter(
            users::id.eq_any(
                user_roles::table
                    .filter(user_roles::role.eq(role.as_str()))
                    .select(user_roles::user_id),
            ),
        );
    }
    if let Some(org) = filter.organization {
        query = query.filter(
            users::id.eq_any(
                organization_members::table
                    .filter(organization_members::org_id.eq(id_text(org)))
                    .select(organization_members::user_id),
            ),
        );
    }
    query
}

/// At most `limit` users matching `filter` after `after` (from the start without it), in the
/// list's order, and the exact number matching `filter`.
pub fn list_users(
    db: &Database,
    filter: &UserFilter,
    after: Option<&UserCursor>,
    limit: i64,
) -> Result<UserPage, IdentityError> {
    let limit = limit.max(1);
    let Ok(search) = search_of(filter, db.backend()) else {
        return Ok(UserPage {
            users: Vec::new(),
            next: None,
            total: 0,
        });
    };
    db.read(|conn| {
        let mut query = filtered(filter, search.as_ref());
        if let Some(after) = after {
            let key = after.key.clone();
            query = query.filter(
                lower(users::username).ge(key.clone()).and(
                    lower(users::username)
                        .gt(key)
                        .or(users::id.gt(id_text(after.id))),
                ),
            );
        }
        // One more than asked says whether another page follows.
        let query = query
            .select((UserRow::as_select(), lower(users::username)))
            .limit(limit + 1);
        let query = if search.is_some() {
            // The same order, by an expression no index has. Otherwise Postgres may walk the
            // whole `lower(username)` index in order, filtering, to find the first matches of
            // a broad prefix (0.3 s for "o" on 100,000 users), where fetching every match
            // through the search indexes and keeping the first `limit` costs what counting
            // them for `total` costs anyway.
            query.order((
                lower(users::username).concat(String::new()).asc(),
                users::id.asc(),
            ))
        } else {
            query.order((lower(users::username).asc(), users::id.asc()))
        };
        let mut rows: Vec<(UserRow, String)> = query.load(conn)?;
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > wanted;
        rows.truncate(wanted);
        let mut users = Vec::with_capacity(rows.len());
        let mut last_key = None;
        for (row, key) in rows {
            users.push(User::try_from(row)?);
            last_key = Some(key);
        }
        let next = match (more, last_key, users.last()) {
            (true, Some(key), Some(last)) => Some(UserCursor { key, id: last.id }),
            _ => None,
        };
        let total = if search.is_none() && filter.role.is_none() && filter.organization.is_none() {
            status_counts(conn)?.matching(filter.status)
        } else {
            filtered(filter, search.as_ref()).count().get_result(conn)?
        };
        Ok(UserPage {
            users: summarise(conn, users)?,
            next,
            total,
        })
    })
}

/// Roles and second factors of `users`, two queries for the whole page.
fn summarise(conn: &mut DbConnection, users: Vec<User>) -> Result<Vec<UserSummary>, IdentityError> {
    let ids: Vec<String> = users.iter().map(|user| id_text(user.id)).collect();
    let mut roles: HashMap<String, Vec<Role>> = HashMap::new();
    for (user_id, role) in user_roles::table
        .filter(user_roles::user_id.eq_any(&ids))
        .select((user_roles::user_id, user_roles::role))
        .load::<(String, String)>(conn)?
    {
        roles.entry(user_id).or_default().push(Role::parse(&role)?);
    }
    let with_totp: Vec<String> = totp_credentials::table
        .filter(totp_credentials::user_id.eq_any(&ids))
        .filter(totp_credentials::confirmed_at.is_not_null())
        .select(totp_credentials::user_id)
        .load(conn)?;
    Ok(users
        .into_iter()
        .map(|user| {
            let id = id_text(user.id);
            let mut roles = roles.remove(&id).unwrap_or_default();
            roles.sort_by_key(|role| role.as_str());
            UserSummary {
                totp_enabled: with_totp.contains(&id),
                roles,
                user,
            }
        })
        .collect())
}

/// One user with roles and second-factor state; `None` if there is no such user.
pub fn find_user(db: &Database, id: uuid::Uuid) -> Result<Option<UserSummary>, IdentityError> {
    db.read(|conn| {
        let Some(user) = queries::find_by_id(conn, id)? else {
            return Ok(None);
        };
        Ok(summarise(conn, vec![user])?.pop())
    })
}

/// How many active accounts other than `id` hold `admin`.
pub fn other_active_admins(db: &Database, id: uuid::Uuid) -> Result<i64, IdentityError> {
    db.read(|conn| Ok(count_other_active_admins(conn, id)?))
}

fn count_other_active_admins(conn: &mut DbConnection, id: uuid::Uuid) -> QueryResult<i64> {
    users::table
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .filter(users::id.ne(id_text(id)))
        .filter(
            users::id.eq_any(
                user_roles::table
                    .filter(user_roles::role.eq(Role::Admin.as_str()))
                    .select(user_roles::user_id),
            ),
        )
        .count()
        .get_result(conn)
}

/// Inside a write transaction about to take `admin` (the role, or its use) from `id`: takes the
/// row lock of every account holding `admin` (so concurrent such changes queue), then refuses
/// if `id` holds it and no other active account does.
fn keep_an_admin(conn: &mut DbConnection, id: uuid::Uuid) -> Result<(), AdminUserError> {
    let admins = user_roles::table
        .filter(user_roles::role.eq(Role::Admin.as_str()))
        .select(user_roles::user_id);
    diesel::update(users::table.filter(users::id.eq_any(admins)))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)?;
    let holds_admin = queries::roles_of(conn, id)?.contains(&Role::Admin);
    if holds_admin && count_other_active_admins(conn, id)? == 0 {
        return Err(AdminUserError::LastAdmin);
    }
    Ok(())
}

/// What an administrator changes on an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// A new address (already validated). Unless `email_verified` says otherwise, a new
    /// address is unverified.
    pub email: Option<Email>,
    pub email_verified: Option<bool>,
    /// `Active` (which also lifts a lock and clears the failure counter) or `Disabled`.
    pub status: Option<UserStatus>,
}

/// Applies `changes`; the account after them, or `None` if there is no such user.
pub fn update_user(
    db: &Database,
    id: uuid::Uuid,
    changes: &UserChanges,
    now: DateTime<Utc>,
) -> Result<Option<User>, AdminUserError> {
    let now = stored(now);
    db.write(|conn| {
        let Some(user) = queries::find_by_id(conn, id)? else {
            return Ok(None);
        };
        if let Some(email) = changes
            .email
            .as_ref()
            .filter(|email| email.as_str() != user.email)
        {
            let other = queries::find_by_email(conn, email)?;
            if other.is_some_and(|other| other.id != id) {
                return Err(AdminUserError::Duplicate("email"));
            }
            diesel::update(users::table.find(id_text(id)))
                .set((
                    users::email.eq(email.as_str()),
                    users::email_verified.eq(changes.email_verified.unwrap_or(false)),
                    users::updated_at.eq(to_db(now)),
                ))
                .execute(conn)
                .map_err(duplicate_email)?;
        }
        if let Some(verified) = changes.email_verified {
            diesel::update(users::table.find(id_text(id)))
                .set((
                    users::email_verified.eq(verified),
                    users::updated_at.eq(to_db(now)),
                ))
                .execute(conn)?;
        }
        match changes.status {
            Some(UserStatus::Active) => {
                queries::save_login_state(conn, id, &LoginState::clear(), now)?
            }
            Some(status) => {
                keep_an_admin(conn, id)?;
                diesel::update(users::table.find(id_text(id)))
                    .set((
                        users::status.eq(status.as_str()),
                        users::updated_at.eq(to_db(now)),
                    ))
                    .execute(conn)?;
            }
            None => {}
        }
        Ok(queries::find_by_id(conn, id)?)
    })
}

/// A concurrent change of address can pass the check and still lose at the unique index.
fn duplicate_email(err: diesel::result::Error) -> AdminUserError {
    match &err {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => AdminUserError::Duplicate("email"),
        _ => err.into(),
    }
}

/// Locks the account until `until` (until unlocked, without it); the failure counter stays.
pub fn lock_user(
    db: &Database,
    id: uuid::Uuid,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<User>, AdminUserError> {
    let now = stored(now);
    db.write(|conn| {
        let Some(state) = queries::login_state(conn, id)? else {
            return Ok(None);
        };
        keep_an_admin(conn, id)?;
        let locked = LoginState {
            status: UserStatus::Locked,
            locked_until: until.map(stored),
            ..state
        };
        queries::save_login_state(conn, id, &locked, now)?;
        Ok(queries::find_by_id(conn, id)?)
    })
}

/// Lifts a lock and clears the failure counter (a disabled account stays disabled).
pub fn unlock_user(
    db: &Database,
    id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<Option<User>, IdentityError> {
    let now = stored(now);
    db.write(|conn| {
        let Some(state) = queries::login_state(conn, id)? else {
            return Ok(None);
        };
        let cleared = LoginState {
            status: if state.status == UserStatus::Disabled {
                UserStatus::Disabled
            } else {
                UserStatus::Active
            },
            ..LoginState::clear()
        };
        queries::save_login_state(conn, id, &cleared, now)?;
        queries::find_by_id(conn, id)
    })
}

/// Replaces the user's roles; the roles now (sorted by name), or `None` if there is no such user.
pub fn set_user_roles(
    db: &Database,
    id: uuid::Uuid,
    roles: &[Role],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Role>>, AdminUserError> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    let now = stored(now);
    db.write(|conn| {
        if queries::find_by_id(conn, id)?.is_none() {
            return Ok(None);
        }
        if !roles.contains(&Role::Admin) {
            keep_an_admin(conn, id)?;
        }
        diesel::delete(user_roles::table.filter(user_roles::user_id.eq(id_text(id))))
            .execute(conn)?;
        queries::grant_roles(conn, id, &roles)?;
        diesel::update(users::table.find(id_text(id)))
            .set(users::updated_at.eq(to_db(now)))
            .execute(conn)?;
        Ok(Some(queries::roles_of(conn, id)?))
    })
}

/// Deletes the account; its roles, second factor, recovery codes, mail tokens and consents go
/// with it (`ON DELETE CASCADE`). The deleted account, or `None` if there was none.
pub fn delete_user(db: &Database, id: uuid::Uuid) -> Result<Option<User>, AdminUserError> {
    db.write(|conn| {
        let Some(user) = queries::find_by_id(conn, id)? else {
            return Ok(None);
        };
        keep_an_admin(conn, id)?;
        diesel::delete(users::table.find(id_text(id))).execute(conn)?;
        Ok(Some(user))
    })
}

/// Every role, by id.
pub fn list_roles(db: &Database) -> Result<Vec<RoleInfo>, IdentityError> {
    db.read(|conn| {
        Ok(roles::table
            .select((roles::id, roles::description))
            .order(roles::id.asc())
            .load::<(String, String)>(conn)?
            .into_iter()
            .map(|(id, description)| RoleInfo { id, description })
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = UserCursor {
            key: "alice".into(),
            id: uuid::Uuid::from_u128(7),
        };
        assert_eq!(UserCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(UserCursor::decode("not a cursor"), None);
        assert_eq!(UserCursor::decode(&URL_SAFE_NO_PAD.encode("[1,2]")), None);
    }

    #[test]
    fn successors_follow_every_string_with_the_prefix() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a_").as_deref(), Some("a`"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        for after in ["ab", "abc", "ab\u{10FFFF}x", "ab~"] {
            assert!(after < "ac", "{after:?}");
        }
    }

    #[test]
    fn sqlite_searches_get_a_lowercase_range_postgres_ones_none() {
        let filter = UserFilter {
            search: Some("Ol_".into()),
            ..UserFilter::default()
        };
        let sqlite = search_of(&filter, DbBackend::Sqlite).unwrap().unwrap();
        assert_eq!(sqlite.pattern, "Ol\\_%");
        assert_eq!(sqlite.range, Some(("ol_".into(), "ol`".into())));
        let postgres = search_of(&filter, DbBackend::Postgres).unwrap().unwrap();
        assert_eq!(postgres.range, None);
        let accented = UserFilter {
            search: Some("Jos\u{E9}".into()),
            ..UserFilter::default()
        };
        assert_eq!(
            search_of(&accented, DbBackend::Sqlite)
                .unwrap()
                .unwrap()
                .range,
            None
        );
        assert_eq!(
            search_of(&UserFilter::default(), DbBackend::Sqlite),
            Ok(None)
        );
    }

    #[test]
    fn patterns_escape_like_wildcards() {
        assert_eq!(prefix_pattern("ab").as_deref(), Some("ab%"));
        assert_eq!(prefix_pattern("a_b%c\\").as_deref(), Some("a\\_b\\%c\\\\%"));
        assert_eq!(prefix_pattern("a\0"), None);
    }
}
