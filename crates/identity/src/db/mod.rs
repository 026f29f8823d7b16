//! The database handle: backend selection, the connection pool, migrations, and the read/write
//! entry points other crates use. Queries themselves live with their models (`users`, `audit`,
//! `clients`, `consents`, `signing_keys`, `two_factor`); the second factor's entry points are in
//! `two_factor` here.

mod checkout;
mod connection;
mod json;
mod mail_outbox;
mod migrations;
mod pool_metrics;
mod session_end_requests;
mod timestamp;
mod transaction;
mod two_factor;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::r2d2::{HandleError, ManageConnection, Pool};

use checkout::{Checkout, Health};
pub(crate) use connection::DbConnection;
use connection::{CONNECT_TIMEOUT, DbManager, Target};
pub(crate) use json::{from_json_array, to_json_array};
#[cfg(test)]
pub(crate) use migrations::revert_all;
pub(crate) use timestamp::{from_db, stored, to_db};

use crate::audit::{self, AuditEvent, NewAuditEvent};
use crate::clients::{self, Client, ClientError, ClientSecretHasher, NewClient};
use crate::consents;
use crate::error::IdentityError;
use crate::signing_keys::{self, StoredSigningKey};
use crate::users::{self, User};

/// How [`Database::connect_with`] builds its pool.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// Postgres cancels a statement running longer (`SET statement_timeout`); `None` or zero
    /// leaves the server's setting. Ignored on SQLite.
    pub statement_timeout: Option<Duration>,
}

/// Which SQL dialect a `Database` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A pool of connections to the identity database. Cheap to clone; every method blocks, so
/// async code reaches it through [`Database::run`] (the one way onto the blocking pool).
///
/// Connections that die under the pool (a database restart) are detected and replaced without
/// a round trip per checkout, and a database that is down fails checkouts quickly; see the
/// `checkout` module.
#[derive(Clone)]
pub struct Database {
    pool: Pool<DbManager>,
    backend: Backend,
    health: Arc<Health>,
    statement_timeout: Option<Duration>,
}

/// How long a query waits for a pooled connection while the database is up.
const CHECKOUT_PATIENCE: Duration = CONNECT_TIMEOUT;

/// A health check must answer quickly even when the pool is exhausted.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// r2d2 retries a failed connect after a backoff capped at half its `connection_timeout`, and
/// uses that setting for nothing else here (every checkout passes its own timeout, and the pool
/// is built without waiting for it). A short cap means a pool that lost its database has a new
/// connection within about this long of the database coming back.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(150);

impl Database {
    /// Runs synchronous work against this database on the blocking pool, inside the caller's
    /// tracing span: how every async caller (accounts, the protocol core, the application
    /// layer, the server) reaches Diesel without stalling its async workers.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<IdentityError> + Send + 'static,
        F: FnOnce(&Database) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| work(&db)))
            .await
            .map_err(|err| E::from(IdentityError::from(err)))?
    }

    /// Opens a pool of at most `max_connections` to `url` (`postgres://…`, `postgresql://…`,
    /// `sqlite://PATH`, `sqlite:PATH` or a bare SQLite path; a SQLite file's directory is
    /// created). One connection is opened at once, so a bad URL fails here with its real cause.
    #[tracing::instrument(skip(url))]
    pub fn connect(url: &str, max_connections: u32) -> Result<Database, IdentityError> {
        Self::connect_with(
            url,
            ConnectOptions {
                max_connections,
                statement_timeout: None,
            },
        )
    }

    /// [`Database::connect`] with every pool option. A multi-host Postgres URL
    /// (`postgres://h1:5432,h2:5432/db?target_session_attrs=read-write`) is libpq's: each new
    /// connection tries the hosts in order and keeps the first that accepts writes, so after
    /// a fail-over the pool's replacement connections find the new primary by themselves.
    #[tracing::instrument(skip(url))]
    pub fn connect_with(url: &str, options: ConnectOptions) -> Result<Database, IdentityError> {
        let ConnectOptions {
            max_connections,
            statement_timeout,
        } = options;
        if max_connections == 0 {
            return Err(IdentityError::Connect(
                "max_connections must be at least 1".to_owned(),
            ));
        }
        let target = Target::parse(url)?;
        let backend = target.backend();
        let health = Arc::new(Health::default());
        let manager = DbManager::new(target, Arc::clone(&health), statement_timeout);
        // r2d2's `build` would retry for the whole timeout and then report only the last error;
        // one direct attempt fails at once with the driver's message.
        drop(manager.connect()?);
        let pool = Pool::builder()
            .max_size(max_connections)
            .min_idle(Some(1))
            .connection_timeout(RECONNECT_BACKOFF * 2)
            // No `SELECT 1` before every checkout (a round trip per query on the hot paths): the
            // `checkout` module pings only connections that are suspect.
            .test_on_check_out(false)
            .error_handler(Box::new(LogPoolErrors))
            .event_handler(Box::new(pool_metrics::PoolMetrics::new()))
            .build_unchecked(manager);
        tracing::debug!(?backend, max_connections, "database pool ready");
        Ok(Database {
            pool,
            backend,
            health,
            statement_timeout,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations for this backend's dialect; returns the names of those applied
    /// (empty when the schema was already current).
    pub fn run_migrations(&self) -> Result<Vec<String>, IdentityError> {
        let mut conn = self.conn()?;
        let applied = migrations::run_pending(&mut conn);
        // Migrations run without the statement timeout (a large table's index build may take
        // longer than any request should); the connection goes back to the pool under it.
        connection::restore_statement_timeout(&mut conn, self.statement_timeout)?;
        applied
    }

    /// `SELECT 1`, waiting at most a second for a pooled connection.
    pub fn ping(&self) -> Result<(), IdentityError> {
        self.read_within(PING_TIMEOUT, |conn| {
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1")).execute(conn)?;
            Ok(())
        })
    }

    pub fn find_user_by_id(&self, id: uuid::Uuid) -> Result<Option<User>, IdentityError> {
        self.read(|conn| users::queries::find_by_id(conn, id))
    }

    /// Looks `username_or_email` up case-insensitively against both usernames and emails.
    pub fn find_user_by_login(
        &self,
        username_or_email: &str,
    ) -> Result<Option<User>, IdentityError> {
        self.read(|conn| users::queries::find_by_login(conn, username_or_email))
    }

    /// A username or email as a person typed it (any case, any Unicode normalisation form), as
    /// the sign-in form and the CLI take it; `None` for text no account can have.
    pub fn find_user_by_typed_login(&self, typed: &str) -> Result<Option<User>, IdentityError> {
        match crate::validation::login_lookup_key(typed) {
            Some(key) => self.find_user_by_login(&key),
            None => Ok(None),
        }
    }

    pub fn count_users(&self) -> Result<i64, IdentityError> {
        self.read(users::queries::count)
    }

    /// The user's role names, sorted.
    pub fn roles_of(&self, user_id: uuid::Uuid) -> Result<Vec<crate::Role>, IdentityError> {
        self.read(|conn| users::queries::roles_of(conn, user_id))
    }

    pub fn append_audit(&self, event: &NewAuditEvent) -> Result<(), IdentityError> {
        self.write_statement(|conn| Ok(audit::append(conn, event)?))
    }

    /// At most `limit` events, newest first.
    pub fn recent_audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, IdentityError> {
        self.read(|conn| audit::recent(conn, limit))
    }

    /// Validates then inserts; returns the client and, for a confidential client, the plaintext
    /// secret, which is stored only as its hash and cannot be shown again. Rules (each failure
    /// is `ClientError::Invalid` naming the field): a name of 1–100 characters; at least one
    /// redirect URI for the authorization code grant; redirect and post-logout URIs absolute,
    /// without fragment, `http`, `https` or a reverse-domain private-use scheme; public clients
    /// with auth method `none` (and only they) and without `client_credentials`; scopes that
    /// are RFC 6749 §3.3 scope-tokens; ID tokens signed with RS256 or ES256.
    #[tracing::instrument(skip(self, new, hasher), fields(name = %new.name))]
    pub fn create_client(
        &self,
        new: &NewClient,
        hasher: &ClientSecretHasher,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Client, Option<String>), ClientError> {
        self.create_client_with_roles(new, &[], hasher, now)
    }

    /// [`Database::create_client`], giving its service account `roles` in the same transaction.
    #[tracing::instrument(skip(self, new, hasher), fields(name = %new.name))]
    pub fn create_client_with_roles(
        &self,
        new: &NewClient,
        roles: &[crate::Role],
        hasher: &ClientSecretHasher,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Client, Option<String>), ClientError> {
        let (client, secret) = clients::prepare(new, hasher, now)?;
        self.write(|conn| {
            clients::insert(conn, &client)?;
            clients::set_roles(conn, &client.client_id, roles)?;
            Ok::<_, IdentityError>(())
        })?;
        tracing::info!(client_id = %client.client_id, "registered a client");
        Ok((client, secret))
    }

    pub fn find_client(&self, client_id: &str) -> Result<Option<Client>, IdentityError> {
        self.read(|conn| clients::find(conn, client_id))
    }

    /// Ordered by name, then client id.
    pub fn list_clients(&self) -> Result<Vec<Client>, IdentityError> {
        self.read(clients::list)
    }

    /// The roles of the client's service account, sorted.
    pub fn client_roles(&self, client_id: &str) -> Result<Vec<crate::Role>, IdentityError> {
        self.read(|conn| clients::roles_of(conn, client_id))
    }

    /// Replaces the roles of the client's service account. false if there is no such client.
    pub fn set_client_roles(
        &self,
        client_id: &str,
        roles: &[crate::Role],
    ) -> Result<bool, IdentityError> {
        self.write(|conn| {
            if clients::find(conn, client_id)?.is_none() {
                return Ok(false);
            }
            clients::set_roles(conn, client_id, roles)?;
            Ok(true)
        })
    }

    /// Whether the client existed; its consents are deleted with it.
    pub fn delete_client(&self, client_id: &str) -> Result<bool, IdentityError> {
        self.write_statement(|conn| Ok(clients::delete(conn, client_id)?))
    }

    /// The scopes the user has granted the client, sorted; `None` if never asked or revoked.
    pub fn find_consent(
        &self,
        user_id: uuid::Uuid,
        client_id: &str,
    ) -> Result<Option<Vec<String>>, IdentityError> {
        self.read(|conn| consents::find(conn, user_id, client_id))
    }

    /// Upsert: the stored scopes become the union of old and new (sorted, deduplicated).
    /// `granted_at` keeps the time of the first grant; concurrent grants all count.
    pub fn grant_consent(
        &self,
        user_id: uuid::Uuid,
        client_id: &str,
        scopes: &[String],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), IdentityError> {
        consents::grant(self, user_id, client_id, scopes, now)
    }

    /// Whether there was a consent to revoke.
    pub fn revoke_consent(
        &self,
        user_id: uuid::Uuid,
        client_id: &str,
    ) -> Result<bool, IdentityError> {
        self.write_statement(|conn| Ok(consents::revoke(conn, user_id, client_id)?))
    }

    /// `(client_id, scopes, granted_at)` for every client the user consented to, by client id.
    #[expect(
        clippy::type_complexity,
        reason = "the tuple is the agreed API, spelled out where it is used"
    )]
    pub fn list_consents(
        &self,
        user_id: uuid::Uuid,
    ) -> Result<Vec<(String, Vec<String>, chrono::DateTime<chrono::Utc>)>, IdentityError> {
        self.read(|conn| consents::list(conn, user_id))
    }

    /// Every stored key, oldest first.
    pub fn list_signing_keys(&self) -> Result<Vec<StoredSigningKey>, IdentityError> {
        self.read(signing_keys::list)
    }

    /// Inserts `key` as it is. A unique violation (another instance inserted the active or next
    /// key of that algorithm first) is `Ok(false)`: reload and use theirs.
    pub fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<bool, IdentityError> {
        self.write_statement(|conn| signing_keys::insert(conn, key))
    }

    /// One transaction, compare-and-swap so two instances cannot both rotate: if the active
    /// key of `alg` has kid `expected_active_kid` (or there is no active key and expected is
    /// `None`): that key becomes retired with `published_until = retired_published_until`, the
    /// next key of `alg` (if any) becomes active with `activated_at = now`, and `new_next` is
    /// inserted with status next. Returns `Ok(false)` and changes nothing if the CAS fails.
    /// `new_next.alg` must be `alg` (an error otherwise).
    #[tracing::instrument(skip(self, new_next), fields(new_next = %new_next.kid))]
    pub fn rotate_signing_keys(
        &self,
        alg: &str,
        expected_active_kid: Option<&str>,
        retired_published_until: chrono::DateTime<chrono::Utc>,
        new_next: &StoredSigningKey,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, IdentityError> {
        let rotated = signing_keys::rotate(
            self,
            alg,
            expected_active_kid,
            retired_published_until,
            new_next,
            now,
        )?;
        if rotated {
            tracing::info!("rotated signing keys");
        } else {
            tracing::debug!("another instance rotated the signing keys first");
        }
        Ok(rotated)
    }

    /// Deletes retired keys whose `published_until` is before `now`; returns how many.
    pub fn delete_unpublished_signing_keys(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, IdentityError> {
        self.write_statement(|conn| Ok(signing_keys::delete_unpublished(conn, now)?))
    }

    /// A pooled connection for work the entry points above do not cover (migrations, tests);
    /// nothing run on it is retried.
    pub(crate) fn conn(&self) -> Result<Checkout<'_>, IdentityError> {
        self.checkout(CHECKOUT_PATIENCE)
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

/// Sends r2d2's background connection failures to `tracing` (its default writes to `log`). The
/// manager already reported the first failure of an outage as a warning (`Health`); r2d2 retries
/// every few hundred milliseconds while it lasts, so each retry is only worth a debug line.
#[derive(Debug)]
struct LogPoolErrors;

impl HandleError<IdentityError> for LogPoolErrors {
    fn handle_error(&self, error: IdentityError) {
        tracing::debug!(%error, "database pool could not open a connection");
        pool_metrics::connect_failed();
    }
}
