//! Pool options for Postgres deployments: the statement timeout and libpq's multi-host URLs.
//!
//! Both need Postgres (`TEST_DATABASE_URL`); on SQLite they return at once, saying so.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::testing::TestDatabase;
use crate::{Backend, ConnectOptions, Database};

fn postgres_database() -> Option<TestDatabase> {
    let test_db = TestDatabase::create().unwrap();
    if test_db.backend() == Backend::Postgres {
        Some(test_db)
    } else {
        eprintln!("skipped: needs a Postgres TEST_DATABASE_URL");
        None
    }
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

fn statement_timeout_of(db: &Database) -> String {
    db.read(|conn| {
        Ok(
            diesel::sql_query("SELECT current_setting('statement_timeout') AS value")
                .get_result::<Setting>(conn)?
                .value,
        )
    })
    .unwrap()
}

#[test]
fn a_statement_running_past_the_timeout_is_cancelled_and_reported_unavailable() {
    let Some(test_db) = postgres_database() else {
        return;
    };
    let db = Database::connect_with(
        test_db.url(),
        ConnectOptions {
            max_connections: 1,
            statement_timeout: Some(Duration::from_millis(200)),
        },
    )
    .unwrap();
    // Migrations run without the timeout and hand the connection back under it.
    db.run_migrations().unwrap();
    assert_eq!(statement_timeout_of(&db), "200ms");

    let started = Instant::now();
    let err = db
        .read(|conn| {
            diesel::sql_query("SELECT pg_sleep(5)").execute(conn)?;
            Ok(())
        })
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "cancelled after {took:?}");
    assert!(err.is_unavailable(), "{err}");
    // The connection survived the cancellation and still answers, still under the timeout.
    assert_eq!(statement_timeout_of(&db), "200ms");
}

#[test]
fn without_a_timeout_the_servers_setting_stays() {
    let Some(test_db) = postgres_database() else {
        return;
    };
    let db = Database::connect(test_db.url(), 1).unwrap();
    assert_eq!(statement_timeout_of(&db), "0");
}

/// `postgres://user@host:port/db` with `dead` put first in the host list and
/// `target_session_attrs=read-write`.
fn with_a_dead_first_host(url: &str, dead: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, rest) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let (hosts, path) = rest.split_once('/').unwrap();
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{scheme}://{user}{dead},{hosts}/{path}{separator}target_session_attrs=read-write")
}

#[test]
fn a_multi_host_url_whose_first_host_is_down_connects_to_the_next() {
    let Some(test_db) = postgres_database() else {
        return;
    };
    // Port 1 on loopback: nothing listens, the connect is refused at once.
    let url = with_a_dead_first_host(test_db.url(), "127.0.0.1:1");
    let db = Database::connect(&url, 2).unwrap();
    db.run_migrations().unwrap();
    db.ping().unwrap();
    // Every pooled connection, old and new, lands on the live host.
    let held: Vec<_> = (0..2).map(|_| db.conn().unwrap()).collect();
    drop(held);
    db.ping().unwrap();

    // The control: the dead host alone is a connect error.
    let err = Database::connect("postgres://postgres@127.0.0.1:1/postgres", 1)
        .err()
        .unwrap();
    assert!(err.is_unavailable(), "{err}");
}

#[test]
fn the_url_rewrite_puts_the_dead_host_first() {
    assert_eq!(
        with_a_dead_first_host("postgres://u@127.0.0.1:5432/db", "127.0.0.1:1"),
        "postgres://u@127.0.0.1:1,127.0.0.1:5432/db?target_session_attrs=read-write"
    );
    assert_eq!(
        with_a_dead_first_host("postgresql://h:5/db?sslmode=disable", "x:1"),
        "postgresql://x:1,h:5/db?sslmode=disable&target_session_attrs=read-write"
    );
}
