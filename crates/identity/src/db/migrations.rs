//! Schema migrations, one folder per SQL dialect, compiled into the binary.

use diesel::backend::Backend as DieselBackend;
use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::connection::DbConnection;
use crate::error::IdentityError;

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Several server instances may start at once; on Postgres they take turns behind this
/// session-level advisory lock instead of racing to create the same tables.
const PG_MIGRATION_LOCK: &str = "SELECT pg_advisory_lock(7194306158802471)";
const PG_MIGRATION_UNLOCK: &str = "SELECT pg_advisory_unlock(7194306158802471)";

/// Applies pending migrations; returns their names (`<version>_<name>`) in order.
pub(crate) fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, IdentityError> {
    match conn {
        DbConnection::Pg(pg) => {
            // The pool's statement timeout does not apply to migrations (nor to waiting for
            // another instance's); `Database::run_migrations` restores it afterwards.
            pg.batch_execute("SET statement_timeout = 0")?;
            pg.batch_execute(PG_MIGRATION_LOCK)?;
            let applied = apply(pg, POSTGRES);
            let unlocked = pg.batch_execute(PG_MIGRATION_UNLOCK);
            let applied = applied?;
            unlocked?;
            Ok(applied)
        }
        DbConnection::Sqlite(sqlite) => apply(sqlite, SQLITE),
    }
}

fn apply<DB, C>(conn: &mut C, source: EmbeddedMigrations) -> Result<Vec<String>, IdentityError>
where
    DB: DieselBackend,
    C: MigrationHarness<DB>,
{
    let pending = conn.pending_migrations(source).map_err(migration_error)?;
    let mut applied = Vec::with_capacity(pending.len());
    for migration in pending {
        conn.run_migration(&migration).map_err(migration_error)?;
        applied.push(migration.name().to_string());
    }
    Ok(applied)
}

/// Reverts every applied migration, newest first; for tests of the `down` scripts.
#[cfg(test)]
pub(crate) fn revert_all(conn: &mut DbConnection) -> Result<Vec<String>, IdentityError> {
    let reverted = match conn {
        DbConnection::Pg(pg) => pg.revert_all_migrations(POSTGRES),
        DbConnection::Sqlite(sqlite) => sqlite.revert_all_migrations(SQLITE),
    };
    reverted
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(migration_error)
}

fn migration_error(err: Box<dyn std::error::Error + Send + Sync>) -> IdentityError {
    IdentityError::Migration(err.to_string())
}
