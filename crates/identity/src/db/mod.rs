//! The database handle: backend selection, the connection pool, migrations, and the read/write
//! entry points other crates use. Queries themselves live with their models (`users`, `audit`).

mod connection;
mod migrations;
mod timestamp;
mod transaction;

use std::fmt;
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::r2d2::{HandleError, ManageConnection, Pool, PooledConnection};

pub(crate) use connection::DbConnection;
use connection::{CONNECT_TIMEOUT, DbManager, Target};
#[cfg(test)]
pub(crate) use migrations::revert_all;
pub(crate) use timestamp::{from_db, stored, to_db};
pub(crate) use transaction::write_transaction;

use crate::audit::{self, AuditEvent, NewAuditEvent};
use crate::error::IdentityError;
use crate::users::{self, User};

/// Which SQL dialect a `Database` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A pool of connections to the identity database. Cheap to clone; every method blocks, so call
/// it from `spawn_blocking` (or a thread) when on an async runtime.
#[derive(Clone)]
pub struct Database {
    pool: Pool<DbManager>,
    backend: Backend,
}

/// A health check must answer quickly even when the pool is exhausted.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

impl Database {
    /// Opens a pool of at most `max_connections` to `url` (`postgres://…`, `postgresql://…`,
    /// `sqlite://PATH`, `sqlite:PATH` or a bare SQLite path; a SQLite file's directory is
    /// created). One connection is opened at once, so a bad URL fails here with its real cause.
    #[tracing::instrument(skip(url))]
    pub fn connect(url: &str, max_connections: u32) -> Result<Database, IdentityError> {
        if max_connections == 0 {
            return Err(IdentityError::Connect(
                "max_connections must be at least 1".to_owned(),
            ));
        }
        let target = Target::parse(url)?;
        let backend = target.backend();
        let manager = DbManager::new(target);
        // r2d2's `build` would retry for the whole timeout and then report only the last error;
        // one direct attempt fails at once with the driver's message.
        drop(manager.connect()?);
        let pool = Pool::builder()
            .max_size(max_connections)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .error_handler(Box::new(LogPoolErrors))
            .build(manager)?;
        tracing::debug!(?backend, max_connections, "database pool ready");
        Ok(Database { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations for this backend's dialect; returns the names of those applied
    /// (empty when the schema was already current).
    pub fn run_migrations(&self) -> Result<Vec<String>, IdentityError> {
        migrations::run_pending(&mut *self.conn()?)
    }

    /// `SELECT 1`, waiting at most a second for a pooled connection.
    pub fn ping(&self) -> Result<(), IdentityError> {
        let mut conn = self.pool.get_timeout(PING_TIMEOUT)?;
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1")).execute(&mut *conn)?;
        Ok(())
    }

    pub fn find_user_by_id(&self, id: uuid::Uuid) -> Result<Option<User>, IdentityError> {
        users::queries::find_by_id(&mut *self.conn()?, id)
    }

    /// Looks `username_or_email` up case-insensitively against both usernames and emails.
    pub fn find_user_by_login(
        &self,
        username_or_email: &str,
    ) -> Result<Option<User>, IdentityError> {
        users::queries::find_by_login(&mut *self.conn()?, username_or_email)
    }

    pub fn count_users(&self) -> Result<i64, IdentityError> {
        users::queries::count(&mut *self.conn()?)
    }

    /// The user's role names, sorted.
    pub fn roles_of(&self, user_id: uuid::Uuid) -> Result<Vec<String>, IdentityError> {
        users::queries::roles_of(&mut *self.conn()?, user_id)
    }

    pub fn append_audit(&self, event: &NewAuditEvent) -> Result<(), IdentityError> {
        Ok(audit::append(&mut *self.conn()?, event)?)
    }

    /// At most `limit` events, newest first.
    pub fn recent_audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, IdentityError> {
        audit::recent(&mut *self.conn()?, limit)
    }

    /// Runs `f` in one write transaction on a pooled connection (see `write_transaction`).
    pub(crate) fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<diesel::result::Error> + From<IdentityError>,
    {
        let mut conn = self.conn()?;
        write_transaction(&mut conn, f)
    }

    pub(crate) fn conn(&self) -> Result<PooledConnection<DbManager>, IdentityError> {
        Ok(self.pool.get()?)
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.pool.state();
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .field("connections", &state.connections)
            .field("idle", &state.idle_connections)
            .finish()
    }
}

/// Sends r2d2's background connection failures to `tracing` (its default writes to `log`).
#[derive(Debug)]
struct LogPoolErrors;

impl HandleError<IdentityError> for LogPoolErrors {
    fn handle_error(&self, error: IdentityError) {
        tracing::warn!(%error, "database pool could not open a connection");
    }
}
