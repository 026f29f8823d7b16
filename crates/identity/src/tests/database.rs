//! The store itself: connecting, migrations, SQLite set-up, lookups and the audit trail.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{PASSWORD, ctx, fixture, registration, t0};
use crate::db::{DbConnection, revert_all};
use crate::schema::{roles, user_roles, users};
use crate::testing::TestDatabase;
use crate::{AuditAction, AuditOutcome, Backend, Database, IdentityError, NewAuditEvent, Role};

const INIT: &str = "2025-01-01-000000_init";
const OIDC: &str = "2025-01-02-000000_oidc";
const TOTP: &str = "2026-11-30-000001_totp";
const BACKCHANNEL_LOGOUT: &str = "2026-11-30-000002_backchannel_logout";
const SESSION_END_REQUESTS: &str = "2026-11-30-000003_session_end_requests";
const MAIL_OUTBOX: &str = "2026-11-30-000004_mail_outbox";
const EMAIL_TOKENS: &str = "2026-11-30-000005_email_tokens";
const ADMIN_ROLES: &str = "2026-11-30-000006_admin_roles";
const USER_SEARCH: &str = "2026-11-30-000007_user_search";
const CLIENT_ENABLED: &str = "2026-11-30-000008_client_enabled";
const USER_COUNTS: &str = "2026-11-30-000009_user_counts";
const AUDIT_CONTEXT: &str = "2026-11-30-000011_audit_context";
const ORGANIZATIONS: &str = "2026-11-30-000012_organizations";
const KEY_MATERIAL: &str = "2026-12-01-000001_key_material";

fn all_migrations() -> Vec<String> {
    vec![
        INIT.to_owned(),
        OIDC.to_owned(),
        TOTP.to_owned(),
        BACKCHANNEL_LOGOUT.to_owned(),
        SESSION_END_REQUESTS.to_owned(),
        MAIL_OUTBOX.to_owned(),
        EMAIL_TOKENS.to_owned(),
        ADMIN_ROLES.to_owned(),
        USER_SEARCH.to_owned(),
        CLIENT_ENABLED.to_owned(),
        USER_COUNTS.to_owned(),
        AUDIT_CONTEXT.to_owned(),
        ORGANIZATIONS.to_owned(),
        KEY_MATERIAL.to_owned(),
    ]
}

#[test]
fn migrations_apply_once_revert_and_apply_again() {
    let test_db = TestDatabase::create().unwrap();
    let db = Database::connect(test_db.url(), 2).unwrap();
    assert_eq!(db.backend(), test_db.backend());

    assert_eq!(db.run_migrations().unwrap(), all_migrations());
    assert!(
        db.run_migrations().unwrap().is_empty(),
        "second run applies nothing"
    );
    assert_eq!(db.count_users().unwrap(), 0);
    assert!(db.list_clients().unwrap().is_empty());
    assert!(db.list_signing_keys().unwrap().is_empty());
    let seeded: Vec<String> = roles::table
        .select(roles::id)
        .order(roles::id)
        .load(&mut *db.conn().unwrap())
        .unwrap();
    // Every role the code names is seeded, and nothing else: a role comes with a migration.
    let mut named: Vec<String> = <Role as strum::IntoEnumIterator>::iter()
        .map(|role| role.as_str().to_owned())
        .collect();
    named.sort();
    assert_eq!(seeded, named);

    let reverted = revert_all(&mut db.conn().unwrap()).unwrap();
    assert_eq!(reverted.len(), all_migrations().len());
    assert!(
        db.count_users().is_err(),
        "the down migration drops the tables"
    );
    assert!(db.list_clients().is_err());
    assert!(db.list_signing_keys().is_err());
    assert!(db.list_consents(uuid::Uuid::new_v4()).is_err());
    assert!(db.totp_status(uuid::Uuid::new_v4()).is_err());

    assert_eq!(db.run_migrations().unwrap(), all_migrations());
    assert_eq!(db.count_users().unwrap(), 0);
    assert!(db.list_clients().unwrap().is_empty());
}

#[test]
fn ping_answers_on_a_live_database() {
    let fx = fixture();
    fx.db.ping().unwrap();
}

#[test]
fn a_refused_postgres_connection_reports_the_real_cause() {
    let err = Database::connect("postgres://postgres@127.0.0.1:1/x", 2)
        .expect_err("nothing listens on port 1");
    let message = err.to_string();
    assert!(matches!(err, IdentityError::Connect(_)), "{err:?}");
    assert!(message.contains("Connection refused"), "{message}");
    assert!(!message.contains("multiconnection"), "{message}");
}

#[test]
fn zero_max_connections_is_rejected() {
    let test_db = TestDatabase::create_sqlite();
    assert!(Database::connect(test_db.url(), 0).is_err());
}

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = Text)]
    value: String,
}

/// The table-valued form names its column after the pragma (or not: `busy_timeout` gives
/// `timeout`), so read it through a scalar subquery with a fixed alias.
fn pragma(conn: &mut SqliteConnection, name: &str) -> String {
    diesel::sql_query(format!(
        "SELECT CAST((SELECT * FROM pragma_{name}()) AS TEXT) AS value"
    ))
    .get_result::<Pragma>(conn)
    .unwrap()
    .value
}

#[test]
fn every_sqlite_connection_is_prepared_for_concurrent_use() {
    let test_db = TestDatabase::create_sqlite();
    let db = Database::connect(test_db.url(), 3).unwrap();
    // Hold several at once, so these are distinct connections, not one reused.
    let mut held = vec![db.conn().unwrap(), db.conn().unwrap(), db.conn().unwrap()];
    for conn in &mut held {
        let DbConnection::Sqlite(conn) = &mut **conn else {
            panic!("expected SQLite");
        };
        assert_eq!(pragma(conn, "journal_mode"), "wal");
        assert_eq!(pragma(conn, "foreign_keys"), "1");
        assert_eq!(pragma(conn, "busy_timeout"), "5000");
        assert_eq!(pragma(conn, "synchronous"), "1", "NORMAL");
    }
}

#[test]
fn sqlite_urls_create_the_missing_directory() {
    let dir = std::env::temp_dir().join(format!("gh_test_dir_{:016x}", rand::random::<u64>()));
    for url in [
        format!("sqlite://{}/a/first.db", dir.display()),
        format!("sqlite:{}/b/second.db", dir.display()),
        format!("{}/c/third.db", dir.display()),
    ] {
        let db = Database::connect(&url, 1).unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        db.run_migrations().unwrap();
        db.ping().unwrap();
    }
    assert!(dir.join("a/first.db").exists());
    assert!(dir.join("b/second.db").exists());
    assert!(dir.join("c/third.db").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn foreign_keys_are_enforced_and_cascade() {
    let fx = fixture();
    let mut conn = fx.db.conn().unwrap();
    let orphan = diesel::insert_into(user_roles::table)
        .values((
            user_roles::user_id.eq("no-such-user"),
            user_roles::role.eq("admin"),
        ))
        .execute(&mut *conn);
    assert!(orphan.is_err(), "a role for a missing user must be refused");
    drop(conn);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let user = runtime
        .block_on(
            fx.accounts
                .register(registration("cascade"), &[Role::Admin], &ctx(), t0()),
        )
        .unwrap();
    let mut conn = fx.db.conn().unwrap();
    diesel::delete(users::table.find(user.id.to_string()))
        .execute(&mut *conn)
        .unwrap();
    let left: i64 = user_roles::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn users_are_found_by_id_and_by_either_login_in_any_case() {
    let fx = fixture();
    let registered = fx
        .accounts
        .register(registration("Mixed.Case"), &[], &ctx(), t0())
        .await
        .unwrap();

    let by_id = fx.db.find_user_by_id(registered.id).unwrap().unwrap();
    assert_eq!(by_id.username, "Mixed.Case");
    assert_eq!(by_id.created_at, t0());
    assert!(
        fx.db
            .find_user_by_id(uuid::Uuid::new_v4())
            .unwrap()
            .is_none()
    );

    for login in [
        "Mixed.Case",
        "mixed.case",
        "MIXED.CASE",
        "mixed.case@EXAMPLE.com",
    ] {
        let found = fx.db.find_user_by_login(login).unwrap();
        assert_eq!(found.map(|u| u.id), Some(registered.id), "{login}");
    }
    assert!(fx.db.find_user_by_login("mixed").unwrap().is_none());
    assert!(
        fx.accounts
            .hasher()
            .verify_blocking(Some(&by_id.password_hash), PASSWORD)
            .unwrap()
    );
}

#[test]
fn ids_are_stored_as_hyphenated_text() {
    let fx = fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let user = runtime
        .block_on(
            fx.accounts
                .register(registration("texty"), &[], &ctx(), t0()),
        )
        .unwrap();
    let stored: String = users::table
        .select(users::id)
        .first(&mut *fx.db.conn().unwrap())
        .unwrap();
    assert_eq!(stored, user.id.hyphenated().to_string());
}

#[test]
fn audit_events_round_trip_newest_first() {
    let fx = fixture();
    for (minute, outcome) in [
        (1, AuditOutcome::Success),
        (3, AuditOutcome::Failure),
        (2, AuditOutcome::Success),
    ] {
        fx.db
            .append_audit(&NewAuditEvent {
                org_id: None,
                occurred_at: t0() + chrono::Duration::minutes(minute),
                actor: (minute == 1).then(|| "admin".to_owned()),
                actor_kind: crate::ActorKind::System,
                action: [
                    AuditAction::Logout,
                    AuditAction::SessionEnd,
                    AuditAction::ConsentRevoke,
                ][minute as usize - 1],
                target: Some("someone".to_owned()),
                ip: None,
                user_agent: None,
                outcome,
                details: serde_json::json!({ "minute": minute, "nested": { "ok": true } }),
                request_id: None,
            })
            .unwrap();
    }
    let events = fx.db.recent_audit_events(2).unwrap();
    let names: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(names, ["consent.revoke", "session.end"]);
    assert_eq!(events[0].outcome, AuditOutcome::Failure);
    assert_eq!(events[0].occurred_at, t0() + chrono::Duration::minutes(3));
    assert_eq!(events[0].details["nested"]["ok"], serde_json::json!(true));
    assert_eq!(events[0].actor, None);

    let all = fx.db.recent_audit_events(10).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].actor.as_deref(), Some("admin"));
    assert!(fx.db.recent_audit_events(0).unwrap().is_empty());

    // The serialized form is what an admin API would return.
    let json = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(json["outcome"], "failure");
}

#[test]
fn audit_ids_grow_with_insertion() {
    let fx = fixture();
    let event = NewAuditEvent {
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
    };
    fx.db.append_audit(&event).unwrap();
    fx.db.append_audit(&event).unwrap();
    let events = fx.db.recent_audit_events(10).unwrap();
    assert!(
        events[0].id > events[1].id,
        "ties on time come newest first"
    );
    let max: i64 = diesel::sql_query("SELECT MAX(id) AS value FROM audit_events")
        .get_result::<MaxId>(&mut *fx.db.conn().unwrap())
        .unwrap()
        .value;
    assert_eq!(max, events[0].id);
}

#[derive(QueryableByName)]
struct MaxId {
    #[diesel(sql_type = BigInt)]
    value: i64,
}
