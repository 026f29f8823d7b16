//! One connection type for both backends, and the r2d2 manager that opens it.
//!
//! Diesel's derived `MultiConnection::establish` tries each backend in turn and throws the errors
//! away ("Invalid connection url for multiconnection"). This manager picks the backend from the
//! URL itself, so a refused or misconfigured Postgres connection reports libpq's own message.
//! It also reports every connect to the pool's [`Health`] and hands out [`TrackedConnection`]s,
//! which remember what the `checkout` module needs to know about them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, R2D2Connection};

use super::Backend;
use super::checkout::Health;
use crate::error::IdentityError;

/// The connection every query in this crate is written against.
#[derive(diesel::MultiConnection)]
pub(crate) enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// How long to wait for a Postgres server before giving up, so a start-up against an
/// unreachable host fails within seconds instead of hanging on TCP retries.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `busy_timeout` comes first: switching to WAL needs a moment of exclusive access, and the
/// pool opens several connections at once.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; \
     PRAGMA synchronous = NORMAL;";

/// Where a database URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A libpq URL, `connect_timeout` already applied.
    Postgres(String),
    Sqlite(PathBuf),
}

impl Target {
    /// `postgres://` / `postgresql://` select Postgres; `sqlite://PATH`, `sqlite:PATH` or a bare
    /// path select SQLite.
    pub(crate) fn parse(url: &str) -> Result<Target, IdentityError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(with_connect_timeout(url)));
        }
        let path = match url.strip_prefix("sqlite://") {
            Some(path) => path,
            None => match url.strip_prefix("sqlite:") {
                Some(path) => path,
                None if url.contains("://") => {
                    let scheme = url.split("://").next().unwrap_or_default();
                    return Err(IdentityError::Connect(format!(
                        "unsupported database URL scheme `{scheme}`: use postgres://, \
                         postgresql:// or sqlite://"
                    )));
                }
                None => url,
            },
        };
        if path.is_empty() {
            return Err(IdentityError::Connect(
                "the SQLite database URL names no file".to_owned(),
            ));
        }
        // Each pooled connection would get its own private in-memory database.
        if path == ":memory:" || path.contains("mode=memory") {
            return Err(IdentityError::Connect(
                "in-memory SQLite cannot be pooled: give a file path".to_owned(),
            ));
        }
        Ok(Target::Sqlite(PathBuf::from(path)))
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }
}

fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}connect_timeout={}",
        CONNECT_TIMEOUT.as_secs()
    )
}

/// A pooled connection and what the pool knows about it.
pub(crate) struct TrackedConnection {
    pub(crate) conn: DbConnection,
    /// Set when the connection was found dead: r2d2 then drops it instead of keeping it.
    pub(crate) lost: bool,
    /// When it last answered (opened, a query, a ping).
    pub(crate) last_used: Instant,
    /// [`Health::losses`] when it last answered: a later loss makes it suspect.
    pub(crate) losses_seen: u64,
}

impl TrackedConnection {
    /// Records that the connection just answered.
    pub(crate) fn answered(&mut self, health: &Health) {
        self.last_used = Instant::now();
        self.losses_seen = health.losses();
    }
}

/// Opens `DbConnection`s for r2d2, preparing each SQLite connection for concurrent use and
/// giving each Postgres connection the configured statement timeout.
#[derive(Debug)]
pub(crate) struct DbManager {
    target: Target,
    health: Arc<Health>,
    statement_timeout: Option<Duration>,
}

impl DbManager {
    pub(crate) fn new(
        target: Target,
        health: Arc<Health>,
        statement_timeout: Option<Duration>,
    ) -> Self {
        DbManager {
            target,
            health,
            statement_timeout,
        }
    }

    fn open(&self) -> Result<DbConnection, IdentityError> {
        match &self.target {
            Target::Postgres(url) => {
                let mut conn = PgConnection::establish(url)
                    .map_err(|err| IdentityError::Connect(format!("postgres: {err}")))?;
                set_statement_timeout(&mut conn, self.statement_timeout).map_err(|err| {
                    IdentityError::Connect(format!("postgres: setting statement_timeout: {err}"))
                })?;
                Ok(DbConnection::Pg(conn))
            }
            Target::Sqlite(path) => open_sqlite(path).map(DbConnection::Sqlite),
        }
    }
}

/// Puts a connection that ran without the timeout (migrations) back under it.
pub(crate) fn restore_statement_timeout(
    conn: &mut DbConnection,
    timeout: Option<Duration>,
) -> Result<(), IdentityError> {
    match conn {
        DbConnection::Pg(pg) => Ok(set_statement_timeout(pg, timeout)?),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// `SET statement_timeout` for the session: Postgres cancels any statement that runs longer
/// (SQLSTATE 57014), so a stuck query frees its pooled connection instead of holding it until
/// the client gives up. `None` or zero: Postgres' own setting (by default, no limit). SQLite
/// has no equivalent; its writers wait at most `busy_timeout` for the lock.
pub(crate) fn set_statement_timeout(
    conn: &mut PgConnection,
    timeout: Option<Duration>,
) -> diesel::QueryResult<()> {
    match timeout.filter(|t| !t.is_zero()) {
        Some(timeout) => {
            conn.batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))
        }
        None => Ok(()),
    }
}

impl ManageConnection for DbManager {
    type Connection = TrackedConnection;
    type Error = IdentityError;

    fn connect(&self) -> Result<TrackedConnection, IdentityError> {
        match self.open() {
            Ok(conn) => {
                self.health.reachable();
                Ok(TrackedConnection {
                    conn,
                    lost: false,
                    last_used: Instant::now(),
                    losses_seen: self.health.losses(),
                })
            }
            Err(err) => {
                self.health.unreachable(&err);
                Err(err)
            }
        }
    }

    fn is_valid(&self, conn: &mut TrackedConnection) -> Result<(), IdentityError> {
        conn.conn.ping().map_err(IdentityError::Query)
    }

    /// Diesel's own `is_broken` covers a transaction left open and, on Postgres, a connection
    /// whose last command found it dead (libpq then reports an unknown transaction status);
    /// `lost` covers whatever else the `checkout` module found dead.
    fn has_broken(&self, conn: &mut TrackedConnection) -> bool {
        std::thread::panicking() || conn.lost || conn.conn.is_broken()
    }
}

fn open_sqlite(path: &Path) -> Result<SqliteConnection, IdentityError> {
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            IdentityError::Connect(format!(
                "sqlite: cannot create directory {}: {err}",
                parent.display()
            ))
        })?;
    }
    let path_str = path.to_str().ok_or_else(|| {
        IdentityError::Connect(format!("sqlite: path {shown} is not valid UTF-8"))
    })?;
    let mut conn = SqliteConnection::establish(path_str)
        .map_err(|err| IdentityError::Connect(format!("sqlite: {shown}: {err}")))?;
    conn.batch_execute(SQLITE_PRAGMAS).map_err(|err| {
        IdentityError::Connect(format!("sqlite: {shown}: preparing the connection: {err}"))
    })?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_select_postgres_and_get_a_connect_timeout() {
        assert_eq!(
            Target::parse("postgres://u@h/db").unwrap(),
            Target::Postgres("postgres://u@h/db?connect_timeout=5".to_owned())
        );
        assert_eq!(
            Target::parse("postgresql://u@h/db?sslmode=disable").unwrap(),
            Target::Postgres("postgresql://u@h/db?sslmode=disable&connect_timeout=5".to_owned())
        );
        assert_eq!(
            Target::parse("postgres://u@h/db?connect_timeout=1").unwrap(),
            Target::Postgres("postgres://u@h/db?connect_timeout=1".to_owned())
        );
    }

    #[test]
    fn sqlite_urls_and_bare_paths_select_sqlite() {
        let cases = [
            ("sqlite:///var/lib/gh.db", "/var/lib/gh.db"),
            ("sqlite://data/gh.db", "data/gh.db"),
            ("sqlite:data/gh.db", "data/gh.db"),
            ("data/gh.db", "data/gh.db"),
        ];
        for (url, path) in cases {
            assert_eq!(
                Target::parse(url).unwrap(),
                Target::Sqlite(PathBuf::from(path)),
                "{url}"
            );
        }
    }

    #[test]
    fn unusable_urls_are_rejected_with_a_reason() {
        for url in ["mysql://h/db", "sqlite://", "sqlite::memory:", ""] {
            let err = Target::parse(url).unwrap_err();
            assert!(matches!(err, IdentityError::Connect(_)), "{url}: {err}");
        }
    }
}
