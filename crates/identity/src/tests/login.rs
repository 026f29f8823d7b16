//! `Accounts::authenticate`: outcomes, the account-wide lockout ceiling with an injected clock,
//! and their audit trail. (The per-source delays in front of it are the application layer's.)

use chrono::Duration;

use super::{Fixture, PASSWORD, actions, audit_log, ctx, fixture, fixture_with, registration, t0};
use crate::users::{LoginState, queries};
use crate::{AuditEvent, AuditOutcome, LockoutPolicy, LoginError, User, UserStatus};

const WRONG: &str = "definitely-not-it";

async fn registered(fx: &Fixture, username: &str) -> User {
    fx.accounts
        .register(registration(username), &[], &ctx(), t0())
        .await
        .unwrap()
}

async fn attempt(
    fx: &Fixture,
    login: &str,
    password: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<User, LoginError> {
    fx.accounts
        .authenticate(login, password, &ctx(), at)
        .await
        .map(|verified| verified.user)
}

fn assert_invalid(result: Result<User, LoginError>) {
    match result {
        Err(err @ LoginError::InvalidCredentials) => {
            assert_eq!(err.to_string(), "invalid username or password");
        }
        other => panic!("expected InvalidCredentials, got {other:?}"),
    }
}

/// A ceiling of five failures in 15 minutes and a 15-minute lock: small enough to reach.
fn five_failures() -> LockoutPolicy {
    LockoutPolicy {
        max_failures: 5,
        window: Duration::minutes(15),
        lock_for: Duration::minutes(15),
    }
}

fn last_event(fx: &Fixture) -> AuditEvent {
    fx.db.recent_audit_events(1).unwrap().remove(0)
}

#[tokio::test]
async fn the_right_password_logs_in_by_username_or_email_in_any_case() {
    let fx = fixture();
    let user = registered(&fx, "carol").await;
    for (i, login) in ["carol", "CAROL", "Carol@Example.com"]
        .into_iter()
        .enumerate()
    {
        let at = t0() + Duration::minutes(i64::try_from(i).unwrap() + 1);
        let logged_in = attempt(&fx, login, PASSWORD, at).await.unwrap();
        assert_eq!(logged_in.id, user.id, "{login}");
        let event = last_event(&fx);
        assert_eq!(event.action, "login.success");
        assert_eq!(event.outcome, AuditOutcome::Success);
        assert_eq!(event.target, Some(user.id.to_string()));
        assert_eq!(event.occurred_at, at);
        assert_eq!(event.ip.as_deref(), Some("192.0.2.7"));
    }
}

#[tokio::test]
async fn a_wrong_password_is_counted_and_audited() {
    let fx = fixture();
    let user = registered(&fx, "dave").await;
    let at = t0() + Duration::minutes(1);
    assert_invalid(attempt(&fx, "dave", WRONG, at).await);

    let stored = fx.db.find_user_by_id(user.id).unwrap().unwrap();
    assert_eq!(stored.failed_logins, 1);
    assert_eq!(stored.status, UserStatus::Active);
    assert_eq!(stored.updated_at, at);
    let event = last_event(&fx);
    assert_eq!(event.action, "login.failure");
    assert_eq!(event.outcome, AuditOutcome::Failure);
    assert_eq!(event.target, Some(user.id.to_string()));
    assert_eq!(event.details["reason"], "bad_password");
}

#[tokio::test]
async fn an_unknown_user_gets_the_same_answer_and_is_audited_by_the_attempted_login() {
    let fx = fixture();
    assert_invalid(attempt(&fx, "Nobody@Example.com", PASSWORD, t0()).await);
    let event = last_event(&fx);
    assert_eq!(event.action, "login.failure");
    assert_eq!(event.outcome, AuditOutcome::Failure);
    assert_eq!(event.target.as_deref(), Some("Nobody@Example.com"));
    assert_eq!(
        event.details,
        serde_json::json!({ "reason": "unknown_user" })
    );
    assert_eq!(fx.db.count_users().unwrap(), 0);
}

/// The owner signing in between an attacker's guesses does not reset the ceiling the attacker
/// is climbing; the end of the window does.
#[tokio::test]
async fn a_success_keeps_the_windows_failures_until_the_window_ends() {
    let fx = fixture_with(five_failures());
    let user = registered(&fx, "erin").await;
    let failed_logins = |fx: &Fixture| {
        fx.db
            .find_user_by_id(user.id)
            .unwrap()
            .unwrap()
            .failed_logins
    };
    for minute in 1..=3 {
        assert_invalid(attempt(&fx, "erin", WRONG, t0() + Duration::minutes(minute)).await);
    }
    assert_eq!(failed_logins(&fx), 3);
    let logged_in = attempt(&fx, "erin", PASSWORD, t0() + Duration::minutes(4))
        .await
        .unwrap();
    assert_eq!(logged_in.status, UserStatus::Active);
    assert_eq!(failed_logins(&fx), 3, "a success does not wipe the count");
    // Two more inside the window reach the ceiling of five.
    for minute in 5..=6 {
        assert_invalid(attempt(&fx, "erin", WRONG, t0() + Duration::minutes(minute)).await);
    }
    assert_eq!(
        fx.db.find_user_by_id(user.id).unwrap().unwrap().status,
        UserStatus::Locked
    );

    // After the window (and the lock) a success wipes the count.
    let fx = fixture_with(five_failures());
    let user = registered(&fx, "erin").await;
    for minute in 1..=3 {
        assert_invalid(attempt(&fx, "erin", WRONG, t0() + Duration::minutes(minute)).await);
    }
    let later = t0() + Duration::minutes(17);
    let logged_in = attempt(&fx, "erin", PASSWORD, later).await.unwrap();
    assert_eq!(logged_in.failed_logins, 0);
    assert_eq!(
        fx.db
            .find_user_by_id(user.id)
            .unwrap()
            .unwrap()
            .failed_logins,
        0
    );
}

#[tokio::test]
async fn five_failures_in_the_window_lock_the_account_until_the_lock_expires() {
    let policy = five_failures();
    let fx = fixture_with(policy);
    let user = registered(&fx, "frank").await;

    for minute in 1..=4 {
        assert_invalid(attempt(&fx, "frank", WRONG, t0() + Duration::minutes(minute)).await);
    }
    assert_eq!(
        fx.db.find_user_by_id(user.id).unwrap().unwrap().status,
        UserStatus::Active
    );

    let fifth = t0() + Duration::minutes(5);
    assert_invalid(attempt(&fx, "frank", WRONG, fifth).await);
    let locked = fx.db.find_user_by_id(user.id).unwrap().unwrap();
    assert_eq!(locked.status, UserStatus::Locked);
    assert_eq!(locked.failed_logins, 5);
    let until = fifth + policy.lock_for;
    assert_eq!(locked.locked_until, Some(until));
    let lockout = last_event(&fx);
    assert_eq!(lockout.action, "account.lockout");
    assert_eq!(lockout.target, Some(user.id.to_string()));
    assert_eq!(lockout.details["failed_logins"], 5);

    // Locked: even the right password is refused, and the refusal does not extend the lock.
    assert_invalid(attempt(&fx, "frank", PASSWORD, fifth + Duration::minutes(1)).await);
    assert_invalid(attempt(&fx, "frank", PASSWORD, until - Duration::seconds(1)).await);
    let refusal = last_event(&fx);
    assert_eq!(refusal.action, "login.failure");
    assert_eq!(refusal.details["reason"], "locked");
    let still = fx.db.find_user_by_id(user.id).unwrap().unwrap();
    assert_eq!(
        (still.status, still.locked_until),
        (UserStatus::Locked, Some(until))
    );

    // Once the lock has passed, the right password unlocks and clears everything.
    let after = until + Duration::seconds(1);
    let unlocked = attempt(&fx, "frank", PASSWORD, after).await.unwrap();
    assert_eq!(unlocked.status, UserStatus::Active);
    assert_eq!(unlocked.failed_logins, 0);
    assert_eq!(unlocked.locked_until, None);
    assert_eq!(unlocked.updated_at, after);

    assert_eq!(
        actions(&fx.db),
        [
            "user.register",
            "login.failure",
            "login.failure",
            "login.failure",
            "login.failure",
            "login.failure",
            "account.lockout",
            "login.failure",
            "login.failure",
            "login.success",
        ]
    );
    let reasons: Vec<String> = audit_log(&fx.db)
        .iter()
        .filter(|e| e.action == "login.failure")
        .map(|e| e.details["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        reasons,
        [["bad_password"; 5].as_slice(), &["locked"; 2]].concat()
    );
}

#[tokio::test]
async fn failures_spread_beyond_the_window_never_lock() {
    let fx = fixture_with(five_failures());
    let user = registered(&fx, "grace").await;
    for minute in 1..=4 {
        assert_invalid(attempt(&fx, "grace", WRONG, t0() + Duration::minutes(minute)).await);
    }
    // The window opened at minute 1 and lasts 15; minute 17 starts a new one.
    let restart = t0() + Duration::minutes(17);
    assert_invalid(attempt(&fx, "grace", WRONG, restart).await);
    let stored = fx.db.find_user_by_id(user.id).unwrap().unwrap();
    assert_eq!(stored.status, UserStatus::Active);
    assert_eq!(stored.failed_logins, 1);
    assert!(!actions(&fx.db).contains(&"account.lockout".to_owned()));

    // The new window counts from its own start: four more inside it lock.
    for minute in 18..=21 {
        assert_invalid(attempt(&fx, "grace", WRONG, t0() + Duration::minutes(minute)).await);
    }
    assert_eq!(
        fx.db.find_user_by_id(user.id).unwrap().unwrap().status,
        UserStatus::Locked
    );
}

#[tokio::test]
async fn a_disabled_account_is_refused_even_with_the_right_password() {
    let fx = fixture();
    let user = registered(&fx, "heidi").await;
    let disabled = LoginState {
        status: UserStatus::Disabled,
        ..LoginState::clear()
    };
    queries::save_login_state(&mut fx.db.conn().unwrap(), user.id, &disabled, t0()).unwrap();

    assert_invalid(attempt(&fx, "heidi", PASSWORD, t0() + Duration::minutes(1)).await);
    let event = last_event(&fx);
    assert_eq!(event.action, "login.failure");
    assert_eq!(event.details["reason"], "disabled");
    let stored = fx.db.find_user_by_id(user.id).unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.failed_logins),
        (UserStatus::Disabled, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failures_are_each_counted() {
    let fx = fixture_with(LockoutPolicy {
        max_failures: 100,
        ..LockoutPolicy::default()
    });
    let user = registered(&fx, "ivan").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let accounts = fx.accounts.clone();
        tasks.spawn(async move {
            accounts
                .authenticate("ivan", WRONG, &ctx(), t0() + Duration::minutes(1))
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        assert_invalid(joined.unwrap().map(|verified| verified.user));
    }
    assert_eq!(
        fx.db
            .find_user_by_id(user.id)
            .unwrap()
            .unwrap()
            .failed_logins,
        10
    );
}
