//! Connections that die under the pool (a database restart) and a database that is down.
//!
//! The outage tests need Postgres (`TEST_DATABASE_URL`): they end the server's sessions with
//! `pg_terminate_backend` and refuse new ones with `ALLOW_CONNECTIONS false`. On SQLite they
//! return at once, saying so.

use std::cell::Cell;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::clients::{hasher, web_app};
use super::{Fixture, ctx, fixture, registration, t0};
use crate::schema::roles;
use crate::{AuditAction, AuditOutcome, Backend, ClientError, IdentityError, NewAuditEvent};

/// Every answer of a database that is down must come quicker than this.
const FAST: Duration = Duration::from_secs(1);

/// The fixture, on Postgres only.
fn postgres_fixture() -> Option<Fixture> {
    let fx = fixture();
    if fx.db.backend() == Backend::Postgres {
        Some(fx)
    } else {
        eprintln!("skipped: needs a Postgres TEST_DATABASE_URL");
        None
    }
}

/// Leaves `count` idle connections in the pool (held at once, so they are distinct).
fn open_idle_connections(fx: &Fixture, count: usize) {
    let held: Vec<_> = (0..count).map(|_| fx.db.conn().unwrap()).collect();
    drop(held);
}

fn audit_event() -> NewAuditEvent {
    NewAuditEvent {
        org_id: None,
        occurred_at: t0(),
        actor: None,
        actor_kind: crate::ActorKind::Anonymous,
        action: AuditAction::Logout,
        target: None,
        ip: None,
        user_agent: None,
        outcome: AuditOutcome::Success,
        details: serde_json::json!({}),
        request_id: None,
    }
}

#[test]
fn reads_right_after_every_connection_was_terminated_succeed() {
    let Some(fx) = postgres_fixture() else { return };
    open_idle_connections(&fx, 3);
    let ended = fx._test_db.terminate_connections().unwrap();
    assert!(ended >= 3, "only {ended} backends were connected");

    // Every pooled connection is dead now; each of these would meet one on the old pool.
    assert_eq!(fx.db.count_users().unwrap(), 0);
    for _ in 0..4 {
        assert!(fx.db.find_client("nobody").unwrap().is_none());
        assert!(fx.db.list_clients().unwrap().is_empty());
    }
    fx.db.ping().unwrap();
}

#[test]
fn a_write_transaction_right_after_a_restart_succeeds() {
    let Some(fx) = postgres_fixture() else { return };
    open_idle_connections(&fx, 2);
    fx._test_db.terminate_connections().unwrap();

    let (client, _) = fx
        .db
        .create_client(&web_app("After Restart"), &hasher(), t0())
        .unwrap();
    assert_eq!(
        fx.db.list_clients().unwrap().len(),
        1,
        "written exactly once"
    );
    let found = fx.db.find_client(&client.client_id).unwrap();
    assert_eq!(found.map(|c| c.client_id), Some(client.client_id));

    fx._test_db.terminate_connections().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let user = runtime
        .block_on(
            fx.accounts
                .register(registration("restarted"), &[], &ctx(), t0()),
        )
        .unwrap();
    assert_eq!(
        fx.db.find_user_by_id(user.id).unwrap().map(|u| u.id),
        Some(user.id)
    );
}

/// A single-statement write is not retried (it may have run), so the pool must not hand out a
/// connection that sat idle across the restart in the first place.
#[test]
fn a_connection_idle_across_a_restart_is_checked_before_a_write() {
    let Some(fx) = postgres_fixture() else { return };
    open_idle_connections(&fx, 2);
    fx._test_db.terminate_connections().unwrap();
    std::thread::sleep(Duration::from_millis(1_100));

    fx.db.append_audit(&audit_event()).unwrap();
    assert_eq!(fx.db.recent_audit_events(10).unwrap().len(), 1);
}

#[test]
fn a_unique_violation_is_not_retried() {
    let fx = fixture();
    let calls = Cell::new(0);
    let result = fx.db.read(|conn| {
        calls.set(calls.get() + 1);
        // The migrations seed the `admin` role.
        Ok(diesel::insert_into(roles::table)
            .values((roles::id.eq("admin"), roles::description.eq("again")))
            .execute(conn)?)
    });
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        ),
        "{err:?}"
    );
    assert!(!err.is_unavailable());
    assert_eq!(calls.get(), 1);
}

/// Times `call` and checks it failed quickly as "unavailable".
fn assert_fast_unavailable<T: std::fmt::Debug>(
    what: &str,
    call: impl FnOnce() -> Result<T, IdentityError>,
) {
    let started = Instant::now();
    let err = call().expect_err(what);
    let took = started.elapsed();
    assert!(err.is_unavailable(), "{what}: {err:?}");
    assert!(took < FAST, "{what} took {took:?}");
}

#[test]
fn a_database_that_is_down_fails_fast_as_unavailable_and_the_next_query_after_it_works() {
    let Some(fx) = postgres_fixture() else { return };
    open_idle_connections(&fx, 2);
    fx._test_db.allow_connections(false).unwrap();
    fx._test_db.terminate_connections().unwrap();

    // The first query meets a dead connection, then finds the database refusing connections.
    assert_fast_unavailable("first read", || fx.db.find_client("nobody"));
    assert_fast_unavailable("second read", || fx.db.count_users());
    assert_fast_unavailable("single write", || fx.db.append_audit(&audit_event()));
    assert_fast_unavailable("transaction", || {
        fx.db
            .create_client(&web_app("Down"), &hasher(), t0())
            .map_err(|err| match err {
                ClientError::Internal(err) => err,
                invalid => panic!("{invalid}"),
            })
    });
    assert_fast_unavailable("ping", || fx.db.ping());

    fx._test_db.allow_connections(true).unwrap();
    assert!(fx.db.find_client("nobody").unwrap().is_none());
    fx.db.append_audit(&audit_event()).unwrap();
    fx.db.ping().unwrap();
}
