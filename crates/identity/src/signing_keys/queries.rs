//! Queries on `signing_keys`, written once for both backends.
//!
//! Rotation is a compare-and-swap: the `UPDATE` that retires the active key names the kid the
//! caller saw, so of two instances rotating from the same key only the first matches a row (on
//! Postgres the second waits on the row lock, then finds it retired; SQLite's immediate
//! transactions queue them). Expecting no active key compares against the absence of one, so
//! two rotations from an empty table may both win in turn (the second promotes the first's next
//! key); the partial unique indexes still keep it to one active and one next key.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::{KeyStatus, SigningKeyRow, StoredSigningKey};
use crate::db::{Database, DbConnection, to_db};
use crate::error::IdentityError;
use crate::schema::signing_keys;

/// Oldest first.
pub(crate) fn list(conn: &mut DbConnection) -> Result<Vec<StoredSigningKey>, IdentityError> {
    signing_keys::table
        .select(SigningKeyRow::as_select())
        .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
        .load(conn)?
        .into_iter()
        .map(StoredSigningKey::try_from)
        .collect()
}

#[derive(Insertable)]
#[diesel(table_name = signing_keys)]
struct NewSigningKeyRow<'a> {
    kid: &'a str,
    alg: &'a str,
    status: &'static str,
    sealed_private_key: &'a str,
    created_at: NaiveDateTime,
    activated_at: Option<NaiveDateTime>,
    published_until: Option<NaiveDateTime>,
}

fn insert_row(
    conn: &mut DbConnection,
    key: &StoredSigningKey,
    status: KeyStatus,
) -> QueryResult<usize> {
    diesel::insert_into(signing_keys::table)
        .values(NewSigningKeyRow {
            kid: &key.kid,
            alg: &key.alg,
            status: status.as_str(),
            sealed_private_key: &key.sealed_private_key,
            created_at: to_db(key.created_at),
            activated_at: key.activated_at.map(to_db),
            published_until: key.published_until.map(to_db),
        })
        .execute(conn)
}

/// `false` when a unique index refuses the row: another instance stored the active or next
/// key of that algorithm first.
pub(crate) fn insert(
    conn: &mut DbConnection,
    key: &StoredSigningKey,
) -> Result<bool, IdentityError> {
    match insert_row(conn, key, key.status) {
        Ok(_) => Ok(true),
        Err(err) if is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Why a rotation transaction rolled back.
enum Rotation {
    /// The compare-and-swap found another state: someone else rotated first.
    Lost,
    Failed(IdentityError),
}

impl From<DieselError> for Rotation {
    fn from(err: DieselError) -> Self {
        if is_unique_violation(&err) {
            Rotation::Lost
        } else {
            Rotation::Failed(err.into())
        }
    }
}

impl From<IdentityError> for Rotation {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::Query(err) => Rotation::from(err),
            other => Rotation::Failed(other),
        }
    }
}

/// See `Database::rotate_signing_keys`. `new_next` is stored with status `next` whatever its
/// `status` says; its `alg` must be `alg`.
pub(crate) fn rotate(
    db: &Database,
    alg: &str,
    expected_active_kid: Option<&str>,
    retired_published_until: DateTime<Utc>,
    new_next: &StoredSigningKey,
    now: DateTime<Utc>,
) -> Result<bool, IdentityError> {
    if new_next.alg != alg {
        // A caller bug, not a lost race: the index could not guard the wrong algorithm's slot.
        return Err(IdentityError::Query(DieselError::QueryBuilderError(
            format!(
                "rotating {alg} keys: the new next key {} is for {}",
                new_next.kid, new_next.alg
            )
            .into(),
        )));
    }
    let rotated = db.write(|conn| {
        let of_alg = signing_keys::alg.eq(alg);
        let won = match expected_active_kid {
            Some(kid) => {
                let retired = diesel::update(
                    signing_keys::table
                        .filter(signing_keys::kid.eq(kid))
                        .filter(of_alg)
                        .filter(signing_keys::status.eq(KeyStatus::Active.as_str())),
                )
                .set((
                    signing_keys::status.eq(KeyStatus::Retired.as_str()),
                    signing_keys::published_until.eq(to_db(retired_published_until)),
                ))
                .execute(conn)?;
                retired == 1
            }
            None => !diesel::select(exists(
                signing_keys::table
                    .filter(of_alg)
                    .filter(signing_keys::status.eq(KeyStatus::Active.as_str())),
            ))
            .get_result::<bool>(conn)?,
        };
        if !won {
            return Err(Rotation::Lost);
        }
        diesel::update(
            signing_keys::table
                .filter(of_alg)
                .filter(signing_keys::status.eq(KeyStatus::Next.as_str())),
        )
        .set((
            signing_keys::status.eq(KeyStatus::Active.as_str()),
            signing_keys::activated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
        insert_row(conn, new_next, KeyStatus::Next)?;
        Ok(())
    });
    match rotated {
        Ok(()) => Ok(true),
        Err(Rotation::Lost) => Ok(false),
        Err(Rotation::Failed(err)) => Err(err),
    }
}

/// Retired keys past `published_until`; a retired key without one is kept.
pub(crate) fn delete_unpublished(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::delete(
        signing_keys::table
            .filter(signing_keys::status.eq(KeyStatus::Retired.as_str()))
            .filter(signing_keys::published_until.lt(to_db(now))),
    )
    .execute(conn)
}

fn is_unique_violation(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}
