//! Assembles the application: backends from settings, shared state, routes, and the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use gatehouse_identity::{Accounts, Argon2Params, Database, LockoutPolicy, PasswordHasher};
use gatehouse_sessions::{BrowserSessions, KvStore, open_store};
use secrecy::ExposeSecret;

use crate::clock::Clock;
use crate::config::Settings;
use crate::{api, bootstrap, health, pages, telemetry};

/// Everything a handler needs, shared by all workers.
pub struct AppState {
    pub settings: Settings,
    pub issuer: String,
    pub accounts: Accounts,
    pub store: Arc<dyn KvStore>,
    pub sessions: BrowserSessions,
    pub clock: Arc<dyn Clock>,
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

/// Number of argon2 computations at once: the configured value, or one per core.
fn hashing_slots(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// Connects the database, applies pending migrations and builds the account service. Blocking.
pub fn open_accounts(settings: &Settings) -> anyhow::Result<Accounts> {
    let db = Database::connect(
        settings.database.url.expose_secret(),
        settings.database.max_connections,
    )
    .context("database.url: cannot connect")?;
    let applied = db.run_migrations().context("applying migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied database migrations");
    }
    let p = &settings.passwords;
    let hasher = PasswordHasher::new(
        Argon2Params {
            memory_kib: p.memory_kib,
            iterations: p.iterations,
            parallelism: p.parallelism,
        },
        hashing_slots(p.max_concurrent),
    )
    .context("passwords: invalid argon2 parameters")?;
    let l = &settings.lockout;
    let lockout = LockoutPolicy {
        max_failures: l.max_failures,
        window: chrono::Duration::seconds(i64::try_from(l.window_secs).unwrap_or(i64::MAX)),
        lock_for: chrono::Duration::seconds(i64::try_from(l.lock_secs).unwrap_or(i64::MAX)),
    };
    Ok(Accounts::new(db, hasher, lockout))
}

/// Connects the database (running migrations) and the session store, and builds the services.
pub async fn build_state(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let settings_for_db = settings.clone();
    let accounts = tokio::task::spawn_blocking(move || open_accounts(&settings_for_db)).await??;

    let redis_url = settings
        .sessions
        .redis_url
        .as_ref()
        .map(|url| url.expose_secret().to_owned());
    let store = open_store(redis_url.as_deref(), &settings.sessions.key_prefix)
        .context("sessions: cannot open the session store")?;
    if let Err(err) = store.ping().await {
        // A stateless instance may come up before its Redis; /readyz reports it meanwhile.
        tracing::warn!(error = %err, "session store not reachable yet");
    }
    let sessions = BrowserSessions::new(
        store.clone(),
        Duration::from_secs(settings.sessions.browser_session_ttl_secs),
    );

    bootstrap::ensure_admin(&accounts, &settings.bootstrap, clock.now()).await?;

    Ok(AppState {
        issuer: settings.issuer(),
        settings,
        accounts,
        store,
        sessions,
        clock,
    })
}

/// Routes and middleware; shared by the server and by in-process handler tests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::routes(cfg);
    api::routes(cfg);
    pages::routes(cfg);
}

impl Application {
    /// Binds the configured address and builds the server (not yet running).
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.server.listen)
            .with_context(|| format!("server.listen: cannot bind {}", settings.server.listen))?;
        Self::build_with_listener(settings, listener, clock).await
    }

    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let workers = settings.server.workers;
        let shutdown = settings.server.shutdown_timeout_secs;
        let state = web::Data::new(build_state(settings, clock).await?);
        let shared = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .wrap(from_fn(telemetry::request_id))
                .configure(configure)
                .default_service(web::to(pages::not_found))
        })
        .listen(listener)?
        // SIGTERM/SIGINT stop accepting and let in-flight requests finish for this long.
        .shutdown_timeout(shutdown);
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Runs until SIGTERM/SIGINT (graceful) or the server handle stops it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
