//! Handing out pooled connections that answer, without a round trip on every checkout.
//!
//! The pool does not test a connection before handing it out (`test_on_check_out(false)`: that
//! is a `SELECT 1` before every query on the hot paths). A database restart, though, ends every
//! pooled connection at once while the pool still holds them, and nothing notices until a query
//! fails on each. Three rules make a restarted database usable by the very next request:
//!
//! 1. A connection that comes back lost (a query failed with a connection-level error, see
//!    `error::is_connection_lost`) is marked, so r2d2 drops it, and the loss is counted.
//! 2. A connection that has not answered since the last counted loss, or for longer than
//!    [`IDLE_RECHECK`], is pinged before it is handed out; a dead one is dropped and the next
//!    one taken. A busy pool pays nothing; a quiet one, which is exactly when a restart goes
//!    unnoticed, pays one round trip per connection.
//! 3. An operation that met a lost connection runs once more on another where that is safe:
//!    reads, and write transactions whose `BEGIN` failed (nothing was written). A single
//!    statement that writes is not retried: it may have run before the connection died.
//!
//! A database that is down (opening a connection failed, or none became free in time) is
//! marked so, and until a connection answers again checkouts wait at most [`DOWN_PATIENCE`]:
//! callers answer "temporarily unavailable" at once instead of queueing for the full timeout.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::r2d2::{PooledConnection, R2D2Connection};

use super::connection::{DbConnection, DbManager};
use super::{Database, transaction};
use crate::error::{IdentityError, is_connection_lost};

/// A connection that has not answered for this long is pinged before it is handed out.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// How long a checkout waits while the database is known to be down, and how often a waiting
/// checkout looks whether it went down meanwhile.
const DOWN_PATIENCE: Duration = Duration::from_millis(300);

/// What the pool has learnt about the database and its connections; shared by the `Database`
/// and the connection manager.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// How many connections were found lost so far.
    losses: AtomicU64,
    down: AtomicBool,
}

impl Health {
    pub(crate) fn losses(&self) -> u64 {
        self.losses.load(Ordering::Acquire)
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    fn connection_lost(&self) {
        self.losses.fetch_add(1, Ordering::AcqRel);
    }

    /// A connection opened or answered.
    pub(crate) fn reachable(&self) {
        // Load first: this runs on every checkin, and a write would bounce the cache line.
        if self.is_down() && self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("database reachable again");
        }
    }

    /// Opening a connection failed, or none became free in time.
    pub(crate) fn unreachable(&self, cause: &dyn fmt::Display) {
        if self.down.swap(true, Ordering::AcqRel) {
            tracing::debug!(%cause, "database still unreachable");
        } else {
            tracing::warn!(
                %cause,
                "database unreachable: requests are answered as temporarily unavailable"
            );
        }
    }
}

/// A pooled connection in use. Dereferences to the connection; on drop it goes back to the
/// pool, or is dropped by r2d2 if it was lost.
pub(crate) struct Checkout<'a> {
    pooled: PooledConnection<DbManager>,
    health: &'a Health,
}

impl Checkout<'_> {
    /// Marks the connection dead: r2d2 drops it, and every other pooled connection is checked
    /// before its next use.
    fn lose(&mut self) {
        if !self.pooled.lost {
            self.pooled.lost = true;
            self.health.connection_lost();
        }
    }

    /// Whether the connection may be handed out; pings it first when it is suspect (rule 2).
    fn verify(&mut self) -> bool {
        let suspect = self.pooled.losses_seen < self.health.losses()
            || self.pooled.last_used.elapsed() >= IDLE_RECHECK;
        if !suspect {
            return true;
        }
        match self.pooled.conn.ping() {
            Ok(()) => {
                self.pooled.answered(self.health);
                true
            }
            Err(err) => {
                tracing::debug!(error = %err, "dropping a dead pooled connection");
                self.lose();
                false
            }
        }
    }

    /// Marks the connection lost if `result` says it was.
    fn check<T>(&mut self, result: Result<T, IdentityError>) -> Result<T, IdentityError> {
        if let Err(IdentityError::Query(err)) = &result
            && is_connection_lost(err)
        {
            self.lose();
        }
        result
    }
}

impl Deref for Checkout<'_> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.pooled.conn
    }
}

impl DerefMut for Checkout<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.pooled.conn
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if self.pooled.lost {
            return;
        }
        // Covers the paths that cannot see the error (a write transaction's own error type):
        // on Postgres, Diesel reports a connection broken once a command found it dead.
        if self.pooled.conn.is_broken() {
            self.lose();
            return;
        }
        self.pooled.answered(self.health);
        self.health.reachable();
    }
}

impl Database {
    /// A connection that answered recently or was just checked, waiting at most `patience` for
    /// one (at most [`DOWN_PATIENCE`] while the database is down).
    pub(crate) fn checkout(&self, patience: Duration) -> Result<Checkout<'_>, IdentityError> {
        let health = &*self.health;
        let patience = if health.is_down() {
            patience.min(DOWN_PATIENCE)
        } else {
            patience
        };
        let started = Instant::now();
        loop {
            // In slices, so that a wait that began before the database went down ends soon
            // after the pool fails to open a connection.
            let slice = patience
                .saturating_sub(started.elapsed())
                .min(DOWN_PATIENCE);
            match self.pool.get_timeout(slice) {
                Ok(pooled) => {
                    let mut conn = Checkout { pooled, health };
                    if conn.verify() {
                        return Ok(conn);
                    }
                }
                Err(err) if health.is_down() || started.elapsed() >= patience => {
                    health.unreachable(&err);
                    return Err(err.into());
                }
                Err(_) => {}
            }
        }
    }

    /// Runs `op` on a connection; if that connection turns out to be lost, runs it once more on
    /// another (rule 3). Only for operations that may safely run twice.
    fn retry_once<T>(
        &self,
        patience: Duration,
        mut op: impl FnMut(&mut DbConnection) -> Result<T, IdentityError>,
    ) -> Result<(Checkout<'_>, T), IdentityError> {
        let mut conn = self.checkout(patience)?;
        match op(&mut conn) {
            Ok(value) => Ok((conn, value)),
            Err(IdentityError::Query(err)) if is_connection_lost(&err) => {
                conn.lose();
                drop(conn);
                tracing::info!(error = %err, "database connection lost; retrying on another");
                let mut conn = self.checkout(patience)?;
                let result = op(&mut conn);
                conn.check(result).map(|value| (conn, value))
            }
            Err(err) => Err(err),
        }
    }

    /// A read: retried once on another connection if its connection was lost.
    pub(crate) fn read<T>(
        &self,
        op: impl FnMut(&mut DbConnection) -> Result<T, IdentityError>,
    ) -> Result<T, IdentityError> {
        self.read_within(super::CHECKOUT_PATIENCE, op)
    }

    pub(crate) fn read_within<T>(
        &self,
        patience: Duration,
        op: impl FnMut(&mut DbConnection) -> Result<T, IdentityError>,
    ) -> Result<T, IdentityError> {
        self.retry_once(patience, op).map(|(_, value)| value)
    }

    /// One statement that writes, outside a transaction: never retried.
    pub(crate) fn write_statement<T>(
        &self,
        op: impl FnOnce(&mut DbConnection) -> Result<T, IdentityError>,
    ) -> Result<T, IdentityError> {
        let mut conn = self.checkout(super::CHECKOUT_PATIENCE)?;
        let result = op(&mut conn);
        conn.check(result)
    }

    /// Runs `f` in one write transaction (see the `transaction` module). A `BEGIN` that met a
    /// lost connection is retried on another; `f` itself runs once.
    pub(crate) fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<diesel::result::Error> + From<IdentityError>,
    {
        let (mut conn, ()) = self.retry_once(super::CHECKOUT_PATIENCE, |conn| {
            transaction::begin(conn).map_err(IdentityError::from)
        })?;
        let result = f(&mut conn);
        transaction::finish(&mut conn, result)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    use super::*;
    use crate::testing::TestDatabase;

    fn failure(kind: DatabaseErrorKind) -> IdentityError {
        IdentityError::Query(DieselError::DatabaseError(
            kind,
            Box::new("simulated".to_owned()),
        ))
    }

    /// How many times `read` ran an operation that always fails with `kind`.
    fn attempts_of_a_read_failing_with(kind: DatabaseErrorKind) -> usize {
        let test_db = TestDatabase::create_sqlite();
        let db = test_db.connect().unwrap();
        let calls = Cell::new(0);
        let result: Result<(), _> = db.read(|_| {
            calls.set(calls.get() + 1);
            Err(failure(kind))
        });
        assert!(result.is_err());
        calls.get()
    }

    #[test]
    fn a_read_that_lost_its_connection_runs_once_more() {
        assert_eq!(
            attempts_of_a_read_failing_with(DatabaseErrorKind::ClosedConnection),
            2
        );
        assert_eq!(
            attempts_of_a_read_failing_with(DatabaseErrorKind::UnableToSendCommand),
            2
        );
    }

    #[test]
    fn other_failures_are_not_retried() {
        for kind in [
            DatabaseErrorKind::UniqueViolation,
            DatabaseErrorKind::ForeignKeyViolation,
            DatabaseErrorKind::SerializationFailure,
            DatabaseErrorKind::Unknown,
        ] {
            assert_eq!(attempts_of_a_read_failing_with(kind), 1, "{kind:?}");
        }
    }

    #[test]
    fn a_retried_read_returns_the_second_answer_and_drops_the_lost_connection() {
        let test_db = TestDatabase::create_sqlite();
        let db = test_db.connect().unwrap();
        let losses = db.health.losses();
        let calls = Cell::new(0);
        let answer = db
            .read(|conn| {
                calls.set(calls.get() + 1);
                if calls.get() == 1 {
                    return Err(failure(DatabaseErrorKind::ClosedConnection));
                }
                crate::users::queries::count(conn)
            })
            .unwrap();
        assert_eq!(answer, 0);
        assert_eq!(db.health.losses(), losses + 1, "the loss is counted");
    }

    #[test]
    fn a_single_write_statement_is_never_retried() {
        let test_db = TestDatabase::create_sqlite();
        let db = test_db.connect().unwrap();
        let calls = Cell::new(0);
        let result: Result<(), _> = db.write_statement(|_| {
            calls.set(calls.get() + 1);
            Err(failure(DatabaseErrorKind::ClosedConnection))
        });
        assert!(result.unwrap_err().is_unavailable());
        assert_eq!(calls.get(), 1);
    }
}
