//! Tests against real databases: SQLite by default, Postgres when `TEST_DATABASE_URL` is set.
//! Each test gets its own database; time is injected, never slept through.

mod admin_audit;
mod admin_clients;
mod admin_users;
mod clients;
mod consents;
mod database;
mod email;
mod login;
mod mail_outbox;
mod organizations;
mod pool_options;
mod reconnect;
mod recovery_codes;
mod register;
mod session_end_requests;
mod signing_keys;
mod totp;
mod untrusted_text;

use chrono::{DateTime, TimeZone, Utc};

use crate::testing::TestDatabase;
use crate::{Accounts, AuditEvent, Database, LockoutPolicy, Registration, RequestContext};

pub(crate) const PASSWORD: &str = "plume-atlas-47-quietly";

/// One test's database and the services on it. Field order drops the pool before the database.
pub(crate) struct Fixture {
    pub accounts: Accounts,
    pub db: Database,
    pub _test_db: TestDatabase,
}

pub(crate) fn fixture() -> Fixture {
    fixture_with(LockoutPolicy::default())
}

pub(crate) fn fixture_with(lockout: LockoutPolicy) -> Fixture {
    let test_db = TestDatabase::create().unwrap();
    let db = test_db.connect().unwrap();
    let hasher = crate::testing::cheap_hasher();
    Fixture {
        accounts: Accounts::new(db.clone(), hasher, lockout),
        db,
        _test_db: test_db,
    }
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 9, 0, 0).unwrap()
}

pub(crate) fn registration(username: &str) -> Registration {
    Registration {
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        password: PASSWORD.to_owned(),
    }
}

pub(crate) fn ctx() -> RequestContext {
    RequestContext {
        org_id: None,
        ip: Some("192.0.2.7".to_owned()),
        user_agent: Some("gatehouse-tests".to_owned()),
        actor: None,
        request_id: Some("test-request".to_owned()),
    }
}

/// All audit events, oldest first.
pub(crate) fn audit_log(db: &Database) -> Vec<AuditEvent> {
    let mut events = db.recent_audit_events(1_000).unwrap();
    events.reverse();
    events
}

pub(crate) fn actions(db: &Database) -> Vec<String> {
    audit_log(db)
        .into_iter()
        .map(|event| event.action)
        .collect()
}
