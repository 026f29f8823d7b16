//! User accounts as stored: the `User` model, its status, and the row mapping to the `users`
//! table (ids as hyphenated-UUID text, status as text, timestamps as UTC).

pub(crate) mod queries;

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::from_db;
use crate::error::IdentityError;
use crate::schema::users;

/// Whether an account may log in. Its names (`active`, `locked`, `disabled`) are the stored
/// value, the API's and the console's, from this one definition.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum UserStatus {
    Active,
    /// Too many failed logins; see `User::locked_until`.
    Locked,
    /// Switched off by an administrator.
    Disabled,
}

impl UserStatus {
    /// The value stored in `users.status`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn parse(stored: &str) -> Result<Self, IdentityError> {
        stored
            .parse()
            .map_err(|_| IdentityError::Corrupt(format!("unknown user status `{stored}`")))
    }
}

/// What a user may do beyond their own account, granted by an administrator (or at bootstrap).
/// Stored by its name in `user_roles.role`, which references the `roles` table the migrations
/// seed: a role is added by a migration and a variant together.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Administers Gatehouse: everything.
    Admin,
    /// Manages users, their sessions, credentials and roles other than `admin`.
    UserAdmin,
    /// Manages OAuth clients.
    ClientAdmin,
    /// Reads everything, including the audit log; changes nothing.
    Auditor,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub(crate) fn parse(stored: &str) -> Result<Self, IdentityError> {
        stored
            .parse()
            .map_err(|_| IdentityError::Corrupt(format!("unknown role `{stored}`")))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user account. Deliberately not `Serialize`: it carries the password hash. Build a wire type
/// from the fields you mean to expose.
#[derive(Clone)]
pub struct User {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// Argon2 PHC string.
    pub password_hash: String,
    pub status: UserStatus,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("password_hash", &"<redacted>")
            .field("status", &self.status)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// `users` as Diesel reads it; `failed_window_started_at` stays internal to the lockout rules.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    email: String,
    email_verified: bool,
    password_hash: String,
    status: String,
    failed_logins: i32,
    locked_until: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = IdentityError;

    fn try_from(row: UserRow) -> Result<Self, IdentityError> {
        Ok(User {
            id: parse_id(&row.id)?,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            password_hash: row.password_hash,
            status: UserStatus::parse(&row.status)?,
            failed_logins: row.failed_logins,
            locked_until: row.locked_until.map(from_db),
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

pub(crate) fn parse_id(stored: &str) -> Result<uuid::Uuid, IdentityError> {
    uuid::Uuid::parse_str(stored)
        .map_err(|err| IdentityError::Corrupt(format!("user id `{stored}` is not a UUID: {err}")))
}

/// The text form every id column holds.
pub(crate) fn id_text(id: uuid::Uuid) -> String {
    id.hyphenated().to_string()
}

/// The columns the lockout rules read and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoginState {
    pub status: UserStatus,
    pub failed_logins: i32,
    pub window_started_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl LoginState {
    /// An account with no failures on record.
    pub(crate) fn clear() -> Self {
        LoginState {
            status: UserStatus::Active,
            failed_logins: 0,
            window_started_at: None,
            locked_until: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_password_hash() {
        let now = Utc::now();
        let user = User {
            id: uuid::Uuid::new_v4(),
            username: "alice".to_owned(),
            email: "alice@example.com".to_owned(),
            email_verified: false,
            password_hash: "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
            status: UserStatus::Active,
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        let shown = format!("{user:?}");
        assert!(shown.contains("alice@example.com"));
        assert!(!shown.contains("argon2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn status_round_trips_through_its_stored_form() {
        for status in [UserStatus::Active, UserStatus::Locked, UserStatus::Disabled] {
            assert_eq!(UserStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(UserStatus::parse("banned").is_err());
    }
}
