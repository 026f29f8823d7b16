//! Write transactions that behave the same on both backends.
//!
//! SQLite's default `BEGIN` is deferred: a transaction that reads first and writes later must
//! upgrade its lock, and when two do so at once one fails with "database is locked" at once,
//! `busy_timeout` notwithstanding. `BEGIN IMMEDIATE` takes the write lock up front, so writers
//! queue on the busy timeout instead. Postgres needs nothing special.

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};

use super::connection::DbConnection;

/// Runs `f` in a transaction that commits on `Ok` and rolls back on `Err`, taking SQLite's write
/// lock at `BEGIN`.
pub(crate) fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let sqlite = match conn {
        DbConnection::Pg(_) => return conn.transaction(f),
        DbConnection::Sqlite(sqlite) => sqlite,
    };
    // The transaction state lives in the inner connection, so the enum's own manager (which
    // dispatches to it) can commit or roll back what was begun here.
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            match <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                // Mirrors Diesel's own `transaction`: the original error matters more than a
                // manager already marked broken.
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(err),
                Err(rollback) => Err(rollback.into()),
            }
        }
    }
}
