//! Write transactions that behave the same on both backends.
//!
//! SQLite's default `BEGIN` is deferred: a transaction that reads first and writes later must
//! upgrade its lock, and when two do so at once one fails with "database is locked" at once,
//! `busy_timeout` notwithstanding. `BEGIN IMMEDIATE` takes the write lock up front, so writers
//! queue on the busy timeout instead. Postgres needs nothing special.
//!
//! Beginning is a step of its own so that `Database::write` can retry a `BEGIN` that met a lost
//! connection: nothing was written yet.

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
use diesel::result::QueryResult;

use super::connection::DbConnection;

/// Begins a transaction, taking SQLite's write lock at `BEGIN`.
pub(crate) fn begin(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(_) => {
            <DbConnection as Connection>::TransactionManager::begin_transaction(conn)
        }
        // The transaction state lives in the inner connection, so the enum's own manager (which
        // dispatches to it) can commit or roll back what was begun here.
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        }
    }
}

/// Ends the transaction `begin` opened: commits on `Ok`, rolls back on `Err`.
pub(crate) fn finish<T, E>(conn: &mut DbConnection, result: Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match result {
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
