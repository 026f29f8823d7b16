//! The one conversion between API time (`DateTime<Utc>`) and column time (`NaiveDateTime`, UTC).

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Postgres keeps microseconds and SQLite would keep nanoseconds; truncating here makes both
/// backends return exactly what was written, and the in-memory value equal the stored one.
pub(crate) fn to_db(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc().trunc_subsecs(6)
}

pub(crate) fn from_db(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// `at` as it will read back from the database.
pub(crate) fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    from_db(to_db(at))
}
