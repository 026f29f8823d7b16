//! Sign-up: validate (the rules and their normalisation live in `validation`, shared by every
//! surface), hash, then create the user, its roles and the audit record in one transaction, so a
//! failure at any step leaves no trace. The stored username and email are the parsed ones (NFC).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::email::{TokenMail, send_verification};
use super::{Accounts, RegisterError, Registration, RequestContext, audit_event};
use crate::audit::{self, AuditAction, AuditOutcome};
use crate::db::stored;
use crate::error::IdentityError;
use crate::users::{self, Role, User, UserStatus, queries};
use crate::validation::{Email, Username, validate_password};

/// Index names from the migrations; a unique violation names one of them.
const USERNAME_INDEX: &str = "users_username_lower_key";
const EMAIL_INDEX: &str = "users_email_lower_key";

impl Accounts {
    /// Creates an active account holding `roles` (which must exist). Usernames and emails are
    /// unique case-insensitively and after NFC normalisation; the username is checked first.
    /// Writes nothing on any error.
    pub async fn register(
        &self,
        input: Registration,
        roles: &[Role],
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<User, RegisterError> {
        self.register_and_verify(input, roles, None, ctx, now).await
    }

    /// [`Accounts::register`], and with `verification` a verification mail for the new address
    /// queued in the same transaction.
    #[tracing::instrument(skip(self, input, verification, ctx), fields(username = %input.username))]
    pub async fn register_and_verify(
        &self,
        input: Registration,
        roles: &[Role],
        verification: Option<TokenMail>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<User, RegisterError> {
        let username = Username::parse(&input.username).map_err(RegisterError::Invalid)?;
        let email = Email::parse(&input.email).map_err(RegisterError::Invalid)?;
        validate_password(&input.password).map_err(RegisterError::Invalid)?;

        let password_hash = self.hasher.hash(input.password).await?;
        let now = stored(now);
        let user = User {
            id: uuid::Uuid::new_v4(),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            email_verified: false,
            password_hash,
            status: UserStatus::Active,
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        let roles: Vec<Role> = roles
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let event = audit_event(
            ctx,
            now,
            AuditAction::UserRegister,
            AuditOutcome::Success,
            Some(users::id_text(user.id)),
            serde_json::json!({ "username": user.username, "roles": roles }),
        );

        let ctx = ctx.clone();
        self.db
            .run(move |db| {
                db.write(|conn| {
                    if queries::username_taken(conn, &username)? {
                        return Err(Failure::Duplicate("username"));
                    }
                    if queries::email_taken(conn, &email)? {
                        return Err(Failure::Duplicate("email"));
                    }
                    queries::insert(conn, &user)?;
                    queries::grant_roles(conn, user.id, &roles)?;
                    audit::append(conn, &event)?;
                    if let Some(mail) = &verification {
                        send_verification(conn, user.id, &user.email, mail, &ctx, now)?;
                    }
                    Ok(user)
                })
            })
            .await
            .map_err(RegisterError::from)
            .inspect(|user| tracing::info!(user_id = %user.id, "registered a user"))
    }
}

/// Why the registration transaction rolled back.
enum Failure {
    Duplicate(&'static str),
    Internal(IdentityError),
}

/// A concurrent registration can pass the explicit checks and still lose at the unique index;
/// the index name says which field collided.
impl From<DieselError> for Failure {
    fn from(err: DieselError) -> Self {
        match duplicate_field(&err) {
            Some(field) => Failure::Duplicate(field),
            None => Failure::Internal(err.into()),
        }
    }
}

impl From<IdentityError> for Failure {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::Query(err) => Failure::from(err),
            other => Failure::Internal(other),
        }
    }
}

impl From<Failure> for RegisterError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Duplicate(field) => RegisterError::Duplicate { field },
            Failure::Internal(err) => RegisterError::Internal(err),
        }
    }
}

/// Postgres reports the index as the constraint name; SQLite only in the message
/// ("UNIQUE constraint failed: index 'users_username_lower_key'").
fn duplicate_field(err: &DieselError) -> Option<&'static str> {
    let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = err else {
        return None;
    };
    let names = |index: &str| {
        info.constraint_name().is_some_and(|name| name == index) || info.message().contains(index)
    };
    if names(USERNAME_INDEX) {
        Some("username")
    } else if names(EMAIL_INDEX) {
        Some("email")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{fixture, t0};

    fn user(username: &str, email: &str) -> User {
        User {
            id: uuid::Uuid::new_v4(),
            username: username.to_owned(),
            email: email.to_owned(),
            email_verified: false,
            password_hash: "$argon2id$placeholder".to_owned(),
            status: UserStatus::Active,
            failed_logins: 0,
            locked_until: None,
            created_at: t0(),
            updated_at: t0(),
        }
    }

    /// The race backstop, without the race: only the index stands between these rows.
    #[test]
    fn unique_index_violations_name_the_field() {
        let fx = fixture();
        let mut conn = fx.db.conn().unwrap();
        queries::insert(&mut conn, &user("dup", "dup@example.com")).unwrap();

        let err = queries::insert(&mut conn, &user("DUP", "other@example.com")).unwrap_err();
        assert_eq!(duplicate_field(&err), Some("username"), "{err}");
        let err = queries::insert(&mut conn, &user("other", "Dup@Example.com")).unwrap_err();
        assert_eq!(duplicate_field(&err), Some("email"), "{err}");

        let same_id = User {
            id: fx.db.find_user_by_login("dup").unwrap().unwrap().id,
            ..user("third", "third@example.com")
        };
        let err = queries::insert(&mut conn, &same_id).unwrap_err();
        assert_eq!(duplicate_field(&err), None, "{err}");
    }
}
