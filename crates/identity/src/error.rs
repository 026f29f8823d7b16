//! The crate's internal failure type.
//!
//! Policy: `IdentityError` means "something is wrong with the machinery" (database unreachable,
//! query failed, stored data unreadable, hashing failed), never "the user did something wrong";
//! user-facing outcomes have their own enums (`RegisterError`, `LoginError`). Callers log an
//! `IdentityError` with its full chain and answer an opaque 500, except when
//! [`IdentityError::is_unavailable`] says the database could not be reached: then nothing is wrong
//! with the request and the answer is a 503 the client may retry. Messages name the cause but
//! never contain secrets: no passwords, no hashes, no connection-string credentials.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// A failure of the identity store or the password hasher.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Opening a database connection failed; the message carries the driver's own cause.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// No pooled connection became available in time (the last connect error is included).
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    /// Argon2 rejected its parameters or failed to hash or verify.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Join(String),
    /// Sealed data (a TOTP secret) does not open: a wrong master key, or tampering.
    #[error("sealed data cannot be used: {0}")]
    Sealed(#[from] crate::secrets::SecretsError),
    /// A row holds a value the schema allows but this code cannot interpret (an id that is not a
    /// UUID, an unknown status, details that are not JSON).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// A mail to queue could not be rendered from its template.
    #[error("cannot render a mail: {0}")]
    Mail(String),
}

impl IdentityError {
    /// Whether the database could not be reached: no connection opened or became free in time
    /// (`Connect`, `Pool`), or the connection was lost under the query. The request may well
    /// succeed a moment later; any other failure is a fault to report.
    pub fn is_unavailable(&self) -> bool {
        match self {
            IdentityError::Connect(_) | IdentityError::Pool(_) => true,
            IdentityError::Query(err) => is_connection_lost(err) || is_statement_timeout(err),
            IdentityError::Migration(_)
            | IdentityError::Hash(_)
            | IdentityError::Join(_)
            | IdentityError::Sealed(_)
            | IdentityError::Corrupt(_)
            | IdentityError::Mail(_) => false,
        }
    }
}

/// Whether a query failed because its connection is gone rather than because of the query.
/// What Diesel reports for libpq's "terminating connection due to administrator command" (a
/// restart or `pg_terminate_backend`), "server closed the connection unexpectedly" and "SSL
/// connection has been closed unexpectedly" is `ClosedConnection`; every later command on that
/// connection fails with `UnableToSendCommand` ("no connection to the server").
pub(crate) fn is_connection_lost(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// Whether Postgres cancelled the statement because it ran past `database.statement_timeout_ms`
/// (SQLSTATE 57014, which Diesel reports as an unknown kind; the message is the server's, in
/// English unless `lc_messages` says otherwise). The database is overloaded or a lock is held:
/// the request may succeed later, so it is answered as unavailable, not as a fault.
pub(crate) fn is_statement_timeout(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().contains("statement timeout")
    )
}

impl From<tokio::task::JoinError> for IdentityError {
    fn from(err: tokio::task::JoinError) -> Self {
        IdentityError::Join(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> IdentityError {
        IdentityError::Query(DieselError::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn a_lost_connection_or_an_unreachable_database_is_unavailable() {
        let unavailable = [
            database_error(
                DatabaseErrorKind::ClosedConnection,
                "terminating connection due to administrator command",
            ),
            database_error(
                DatabaseErrorKind::UnableToSendCommand,
                "no connection to the server",
            ),
            IdentityError::Connect("connection refused".to_owned()),
            database_error(
                DatabaseErrorKind::Unknown,
                "canceling statement due to statement timeout",
            ),
        ];
        for err in unavailable {
            assert!(err.is_unavailable(), "{err}");
        }
        let fault = database_error(DatabaseErrorKind::Unknown, "syntax error at or near");
        assert!(!fault.is_unavailable(), "{fault}");
    }

    #[test]
    fn faults_of_the_query_or_the_data_are_not_unavailable() {
        let faults = [
            database_error(DatabaseErrorKind::UniqueViolation, "duplicate key"),
            database_error(DatabaseErrorKind::ForeignKeyViolation, "no such user"),
            database_error(DatabaseErrorKind::SerializationFailure, "retry"),
            database_error(DatabaseErrorKind::Unknown, "database is locked"),
            IdentityError::Query(DieselError::NotFound),
            IdentityError::Query(DieselError::BrokenTransactionManager),
            IdentityError::Corrupt("bad uuid".to_owned()),
            IdentityError::Hash("argon2".to_owned()),
            IdentityError::Join("panicked".to_owned()),
            IdentityError::Migration("syntax error".to_owned()),
        ];
        for err in faults {
            assert!(!err.is_unavailable(), "{err}");
        }
    }
}
