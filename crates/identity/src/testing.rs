//! Throw-away databases for tests, one per test so tests run in parallel without sharing rows.
//!
//! With `TEST_DATABASE_URL` set (a Postgres server URL with rights to create databases), each
//! `TestDatabase` is a fresh `gh_test_<random>` database on that server; otherwise a fresh
//! SQLite file in the system temp directory. Either way it is removed on drop.

use std::path::PathBuf;

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use crate::db::{Backend, Database};
use crate::error::IdentityError;

/// Argon2id parameters for tests: debug builds hash slowly, and these keep suites fast while
/// exercising the same code (the end-to-end harness sets the same cost through its settings).
pub const CHEAP_ARGON2: crate::Argon2Params = crate::Argon2Params {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// A password hasher at [`CHEAP_ARGON2`].
pub fn cheap_hasher() -> crate::PasswordHasher {
    // The parameters are valid constants.
    #[expect(clippy::expect_used, reason = "test support; the constants are valid")]
    crate::PasswordHasher::new(CHEAP_ARGON2, 4).expect("cheap argon2 parameters")
}

/// The variable naming the Postgres server to create test databases on.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    location: Location,
}

#[derive(Debug)]
enum Location {
    Postgres { admin_url: String, name: String },
    Sqlite { path: PathBuf },
}

impl TestDatabase {
    pub fn create() -> Result<TestDatabase, IdentityError> {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(admin_url) if !admin_url.trim().is_empty() => Self::create_postgres(admin_url),
            _ => Ok(Self::create_sqlite()),
        }
    }

    /// A fresh SQLite database, whatever `TEST_DATABASE_URL` says.
    pub fn create_sqlite() -> TestDatabase {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
        TestDatabase {
            url: format!("sqlite://{}", path.display()),
            location: Location::Sqlite { path },
        }
    }

    fn create_postgres(admin_url: String) -> Result<TestDatabase, IdentityError> {
        let name = unique_name();
        admin_connection(&admin_url)?.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(TestDatabase {
            url: replace_database(&admin_url, &name),
            location: Location::Postgres { admin_url, name },
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        match self.location {
            Location::Postgres { .. } => Backend::Postgres,
            Location::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Connects with a small pool and applies the migrations.
    pub fn connect(&self) -> Result<Database, IdentityError> {
        let db = Database::connect(&self.url, 8)?;
        db.run_migrations()?;
        Ok(db)
    }

    /// Postgres only: ends every session connected to this database, as a server restart does
    /// ("terminating connection due to administrator command"), and waits until they are gone.
    /// Returns how many there were.
    pub fn terminate_connections(&self) -> Result<usize, IdentityError> {
        let (admin_url, name) = self.postgres("terminate_connections")?;
        let mut admin = admin_connection(admin_url)?;
        // Two statements on purpose: in one, Postgres may call pg_terminate_backend before the
        // `datname` filter and end other databases' sessions.
        let pids: Vec<i32> = diesel::sql_query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind::<Text, _>(name)
        .load::<BackendPid>(&mut admin)?
        .into_iter()
        .map(|backend| backend.pid)
        .collect();
        for pid in &pids {
            diesel::sql_query("SELECT pg_terminate_backend($1) AS ended")
                .bind::<Integer, _>(pid)
                .execute(&mut admin)?;
        }
        // pg_terminate_backend only signals; wait for the backends to exit.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let alive: Vec<BackendPid> =
                diesel::sql_query("SELECT pid FROM pg_stat_activity WHERE pid = ANY($1)")
                    .bind::<diesel::sql_types::Array<Integer>, _>(&pids)
                    .load(&mut admin)?;
            if alive.is_empty() {
                return Ok(pids.len());
            }
            if Instant::now() >= deadline {
                return Err(IdentityError::Connect(format!(
                    "{} terminated backends of {name} did not exit",
                    alive.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Postgres only: whether the server accepts new connections to this database, superusers
    /// included (`ALTER DATABASE … ALLOW_CONNECTIONS`). `false` then `terminate_connections`
    /// is a database outage as the application sees it.
    pub fn allow_connections(&self, allow: bool) -> Result<(), IdentityError> {
        let (admin_url, name) = self.postgres("allow_connections")?;
        admin_connection(admin_url)?
            .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))?;
        Ok(())
    }

    fn postgres(&self, what: &str) -> Result<(&str, &str), IdentityError> {
        match &self.location {
            Location::Postgres { admin_url, name } => Ok((admin_url, name)),
            Location::Sqlite { .. } => Err(IdentityError::Connect(format!(
                "{what} needs a Postgres test database ({TEST_DATABASE_URL})"
            ))),
        }
    }
}

/// One row of `pg_stat_activity`, as far as the outage helpers need it.
#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let result = match &self.location {
            // FORCE ends sessions a test's pool may still hold open.
            Location::Postgres { admin_url, name } => admin_connection(admin_url)
                .and_then(|mut conn| {
                    Ok(conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?)
                })
                .map_err(|err| err.to_string()),
            Location::Sqlite { path } => remove_sqlite_files(path),
        };
        if let Err(err) = result {
            eprintln!(
                "warning: could not remove test database {}: {err}",
                self.url
            );
        }
    }
}

/// `gh_test_` and 16 hex digits: a valid unquoted identifier and file name.
fn unique_name() -> String {
    format!("gh_test_{:016x}", rand::random::<u64>())
}

fn admin_connection(admin_url: &str) -> Result<PgConnection, IdentityError> {
    PgConnection::establish(admin_url)
        .map_err(|err| IdentityError::Connect(format!("postgres: {err}")))
}

/// The same server URL with its database path set to `database`.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

fn remove_sqlite_files(path: &std::path::Path) -> Result<(), String> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(format!("{}: {err}", PathBuf::from(file).display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn the_database_name_is_swapped_and_the_rest_kept() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "gh_test_1"),
            "postgres://postgres@127.0.0.1:5432/gh_test_1"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}
