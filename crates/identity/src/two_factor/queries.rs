//! Queries on `totp_credentials` and `recovery_codes`, written once for both backends.
//!
//! The statements that spend something are conditional `UPDATE`s whose affected-row count is
//! the verdict: on Postgres a second concurrent statement waits for the first one's row lock and
//! then re-checks its `WHERE` against the committed row (READ COMMITTED), on SQLite writers are
//! serialised, so of several concurrent uses of one code exactly one changes a row.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;

use super::totp::TotpParameters;
use crate::db::{DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::{recovery_codes, totp_credentials};
use crate::users::id_text;

/// A credential as stored, its secret still sealed.
pub(crate) struct StoredCredential {
    pub(crate) sealed_secret: String,
    pub(crate) parameters: TotpParameters,
    /// The last time step a code was accepted for (RFC 6238 §5.2).
    pub(crate) last_used_step: Option<u64>,
    pub(crate) confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = totp_credentials)]
struct CredentialRow {
    secret_sealed: String,
    algorithm: String,
    digits: i32,
    period: i32,
    last_used_step: Option<i64>,
    confirmed_at: Option<NaiveDateTime>,
}

impl CredentialRow {
    fn into_stored(self, user_id: &str) -> Result<StoredCredential, IdentityError> {
        let corrupt =
            |what: String| IdentityError::Corrupt(format!("TOTP credential of {user_id}: {what}"));
        let parameters = TotpParameters {
            algorithm: self.algorithm.parse().map_err(corrupt)?,
            digits: u8::try_from(self.digits)
                .map_err(|_| corrupt(format!("{} digits", self.digits)))?,
            period_secs: u32::try_from(self.period)
                .map_err(|_| corrupt(format!("a period of {} s", self.period)))?,
        };
        let last_used_step = self
            .last_used_step
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt("a negative last used step".to_owned()))?;
        Ok(StoredCredential {
            sealed_secret: self.secret_sealed,
            parameters,
            last_used_step,
            confirmed_at: self.confirmed_at.map(from_db),
        })
    }
}

/// A time step as the `BIGINT` column holds it.
pub(crate) fn step_value(step: u64) -> Result<i64, IdentityError> {
    i64::try_from(step)
        .map_err(|_| IdentityError::Corrupt(format!("time step {step} is out of range")))
}

pub(crate) fn find(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
) -> Result<Option<StoredCredential>, IdentityError> {
    let user_id = id_text(user_id);
    totp_credentials::table
        .find(&user_id)
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()?
        .map(|row| row.into_stored(&user_id))
        .transpose()
}

/// A new pending credential; there must be none for the user.
pub(crate) fn insert_pending(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    sealed_secret: &str,
    parameters: TotpParameters,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(totp_credentials::table)
        .values((
            totp_credentials::user_id.eq(id_text(user_id)),
            totp_credentials::secret_sealed.eq(sealed_secret),
            totp_credentials::algorithm.eq(parameters.algorithm.as_str()),
            totp_credentials::digits.eq(i32::from(parameters.digits)),
            totp_credentials::period.eq(period_value(parameters)),
            totp_credentials::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Overwrites a pending credential with a new secret; a confirmed one is left alone. Returns
/// whether a row changed.
pub(crate) fn replace_pending(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    sealed_secret: &str,
    parameters: TotpParameters,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let changed = diesel::update(
        totp_credentials::table
            .find(id_text(user_id))
            .filter(totp_credentials::confirmed_at.is_null()),
    )
    .set((
        totp_credentials::secret_sealed.eq(sealed_secret),
        totp_credentials::algorithm.eq(parameters.algorithm.as_str()),
        totp_credentials::digits.eq(i32::from(parameters.digits)),
        totp_credentials::period.eq(period_value(parameters)),
        totp_credentials::last_used_step.eq(None::<i64>),
        totp_credentials::created_at.eq(to_db(now)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

fn period_value(parameters: TotpParameters) -> i32 {
    // `TotpParameters::check` caps the period far below `i32::MAX`.
    i32::try_from(parameters.period_secs).unwrap_or(i32::MAX)
}

/// Accepts `step` for the credential whose secret is still `sealed_secret`, if no code of that
/// step or a later one was accepted yet (RFC 6238 §5.2). With `confirm_at` the credential must
/// be pending and is confirmed at that time; without, it must be confirmed already. Returns
/// whether this call won: `false` also when the credential was replaced, confirmed or removed
/// meanwhile.
pub(crate) fn accept_step(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    sealed_secret: &str,
    step: u64,
    confirm_at: Option<DateTime<Utc>>,
) -> Result<bool, IdentityError> {
    let step = step_value(step)?;
    let credential = totp_credentials::table
        .find(id_text(user_id))
        .filter(totp_credentials::secret_sealed.eq(sealed_secret))
        .filter(
            totp_credentials::last_used_step
                .is_null()
                .or(totp_credentials::last_used_step.lt(step)),
        );
    let changed = match confirm_at {
        Some(now) => diesel::update(credential.filter(totp_credentials::confirmed_at.is_null()))
            .set((
                totp_credentials::last_used_step.eq(step),
                totp_credentials::confirmed_at.eq(to_db(now)),
            ))
            .execute(conn)?,
        None => diesel::update(credential.filter(totp_credentials::confirmed_at.is_not_null()))
            .set(totp_credentials::last_used_step.eq(step))
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// `None` without a credential, else whether it is confirmed.
pub(crate) fn state(conn: &mut DbConnection, user_id: uuid::Uuid) -> QueryResult<Option<bool>> {
    Ok(totp_credentials::table
        .find(id_text(user_id))
        .select(totp_credentials::confirmed_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .map(|confirmed_at| confirmed_at.is_some()))
}

/// Removes the credential and every recovery code; returns whether there was a credential.
pub(crate) fn delete_all(conn: &mut DbConnection, user_id: uuid::Uuid) -> QueryResult<bool> {
    let user_id = id_text(user_id);
    let removed = diesel::delete(totp_credentials::table.find(&user_id)).execute(conn)? > 0;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&user_id)))
        .execute(conn)?;
    Ok(removed)
}

/// The user's recovery codes become exactly `hashes`, unused.
pub(crate) fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    hashes: &[String],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let user_id = id_text(user_id);
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&user_id)))
        .execute(conn)?;
    // One statement per code: `MultiConnection` has no multi-row `INSERT` (SQLite's lacks
    // `DEFAULT`). Ten short statements inside the caller's transaction.
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(&user_id),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Marks the unused code with this hash used; returns whether this call spent it.
pub(crate) fn spend_recovery_code(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    code_hash: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let changed = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(id_text(user_id)))
            .filter(recovery_codes::code_hash.eq(code_hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(to_db(now)))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Whether the user has a code with this hash, used or not.
pub(crate) fn has_recovery_code(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    code_hash: &str,
) -> QueryResult<bool> {
    diesel::select(exists(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(id_text(user_id)))
            .filter(recovery_codes::code_hash.eq(code_hash)),
    ))
    .get_result(conn)
}

pub(crate) fn count_unused_recovery_codes(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(id_text(user_id)))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}
