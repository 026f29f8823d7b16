//! `Accounts::register`: validation, duplicates, atomicity and the race on the unique indexes.

use super::{Fixture, PASSWORD, actions, audit_log, ctx, fixture, registration, t0};
use crate::{AuditOutcome, RegisterError, Registration, RequestContext, Role, UserStatus};

fn assert_nothing_written(fx: &Fixture) {
    assert_eq!(fx.db.count_users().unwrap(), 0);
    assert!(fx.db.recent_audit_events(10).unwrap().is_empty());
}

#[tokio::test]
async fn registration_creates_the_user_its_roles_and_an_audit_event() {
    let fx = fixture();
    let context = RequestContext {
        actor: Some("bootstrap".to_owned()),
        ..ctx()
    };
    let user = fx
        .accounts
        .register(
            registration("alice"),
            &[Role::Admin, Role::Admin],
            &context,
            t0(),
        )
        .await
        .unwrap();

    assert_eq!(user.username, "alice");
    assert_eq!(user.email, "alice@example.com");
    assert!(!user.email_verified);
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.failed_logins, 0);
    assert_eq!(user.locked_until, None);
    assert_eq!((user.created_at, user.updated_at), (t0(), t0()));
    assert!(user.password_hash.starts_with("$argon2id$"));
    assert!(
        fx.accounts
            .hasher()
            .verify_blocking(Some(&user.password_hash), PASSWORD)
            .unwrap()
    );

    let stored = fx.db.find_user_by_id(user.id).unwrap().unwrap();
    assert_eq!(stored.password_hash, user.password_hash);
    assert_eq!(stored.created_at, t0());
    assert_eq!(fx.db.roles_of(user.id).unwrap(), [Role::Admin]);
    assert_eq!(fx.db.count_users().unwrap(), 1);

    let events = audit_log(&fx.db);
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.action, "user.register");
    assert_eq!(event.outcome, AuditOutcome::Success);
    assert_eq!(event.target, Some(user.id.to_string()));
    assert_eq!(event.actor.as_deref(), Some("bootstrap"));
    assert_eq!(event.actor_kind, crate::ActorKind::System);
    assert_eq!(event.request_id.as_deref(), Some("test-request"));
    assert_eq!(event.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(event.user_agent.as_deref(), Some("gatehouse-tests"));
    assert_eq!(event.occurred_at, t0());
    assert_eq!(event.details["username"], "alice");
    assert_eq!(event.details["roles"], serde_json::json!(["admin"]));
}

#[tokio::test]
async fn a_user_without_roles_has_none() {
    let fx = fixture();
    let user = fx
        .accounts
        .register(registration("plain"), &[], &ctx(), t0())
        .await
        .unwrap();
    assert!(fx.db.roles_of(user.id).unwrap().is_empty());
}

#[tokio::test]
async fn each_invalid_field_is_named_and_nothing_is_written() {
    let fx = fixture();
    let valid = registration("valid");
    let cases = [
        (
            Registration {
                username: "ab".to_owned(),
                ..valid.clone()
            },
            "username",
        ),
        (
            Registration {
                username: "white space".to_owned(),
                ..valid.clone()
            },
            "username",
        ),
        (
            Registration {
                email: "no-at-sign.example.com".to_owned(),
                ..valid.clone()
            },
            "email",
        ),
        (
            Registration {
                email: "a@nodot".to_owned(),
                ..valid.clone()
            },
            "email",
        ),
        (
            Registration {
                password: "short".to_owned(),
                ..valid.clone()
            },
            "password",
        ),
        (
            Registration {
                password: "x".repeat(129),
                ..valid.clone()
            },
            "password",
        ),
        (
            Registration {
                password: "Q1W2E3R4T5Y6".to_owned(),
                ..valid.clone()
            },
            "password",
        ),
    ];
    for (input, field) in cases {
        let shown = format!("{input:?}");
        match fx.accounts.register(input, &[], &ctx(), t0()).await {
            Err(RegisterError::Invalid(err)) => assert_eq!(err.field, field, "{shown}"),
            other => panic!("{shown}: expected Invalid({field}), got {other:?}"),
        }
    }
    assert_nothing_written(&fx);
}

#[tokio::test]
async fn a_common_password_is_rejected_with_a_reason() {
    let fx = fixture();
    let input = Registration {
        password: "1qaz2wsx3edc".to_owned(),
        ..registration("commoner")
    };
    let Err(RegisterError::Invalid(err)) = fx.accounts.register(input, &[], &ctx(), t0()).await
    else {
        panic!("a listed password must be refused");
    };
    assert_eq!(err.field, "password");
    assert!(err.message.contains("common"), "{}", err.message);
    assert_nothing_written(&fx);
}

#[tokio::test]
async fn duplicates_are_found_case_insensitively_username_first() {
    let fx = fixture();
    fx.accounts
        .register(registration("taken"), &[], &ctx(), t0())
        .await
        .unwrap();

    let cases = [
        (
            Registration {
                username: "TAKEN".to_owned(),
                email: "other@example.com".to_owned(),
                password: PASSWORD.to_owned(),
            },
            "username",
        ),
        (
            Registration {
                username: "other".to_owned(),
                email: "Taken@Example.COM".to_owned(),
                password: PASSWORD.to_owned(),
            },
            "email",
        ),
        (
            Registration {
                username: "Taken".to_owned(),
                email: "TAKEN@example.com".to_owned(),
                password: PASSWORD.to_owned(),
            },
            "username",
        ),
    ];
    for (input, expected) in cases {
        let shown = format!("{input:?}");
        match fx.accounts.register(input, &[], &ctx(), t0()).await {
            Err(err @ RegisterError::Duplicate { field }) => {
                assert_eq!(field, expected, "{shown}");
                assert_eq!(err.to_string(), format!("{expected} is already taken"));
            }
            other => panic!("{shown}: expected Duplicate, got {other:?}"),
        }
    }
    assert_eq!(fx.db.count_users().unwrap(), 1);
    assert_eq!(actions(&fx.db), ["user.register"]);
}

#[tokio::test]
async fn a_failure_after_the_insert_rolls_everything_back() {
    let fx = fixture();
    // A role the database no longer has: its row goes in after the user's, and fails.
    {
        use diesel::prelude::*;
        let mut conn = fx.db.conn().unwrap();
        diesel::delete(crate::schema::roles::table.filter(crate::schema::roles::id.eq("admin")))
            .execute(&mut *conn)
            .unwrap();
    }
    let result = fx
        .accounts
        .register(registration("rolled"), &[Role::Admin], &ctx(), t0())
        .await;
    assert!(
        matches!(result, Err(RegisterError::Internal(_))),
        "{result:?}"
    );
    assert_nothing_written(&fx);
    assert!(fx.db.find_user_by_login("rolled").unwrap().is_none());
}

/// Registrations racing for one name: the checks or, failing them, the unique index must let
/// exactly one through and report the rest as duplicates, never as internal errors.
async fn race(fx: &Fixture, contenders: usize, same_username: bool) -> (usize, Vec<&'static str>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..contenders {
        let accounts = fx.accounts.clone();
        let input = if same_username {
            Registration {
                email: format!("racer{i}@example.com"),
                ..registration("racer")
            }
        } else {
            Registration {
                username: format!("racer{i}"),
                ..registration("racer")
            }
        };
        tasks.spawn(async move { accounts.register(input, &[Role::Admin], &ctx(), t0()).await });
    }
    let (mut winners, mut duplicates) = (0, Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(_) => winners += 1,
            Err(RegisterError::Duplicate { field }) => duplicates.push(field),
            Err(other) => panic!("a racer failed with {other:?}"),
        }
    }
    (winners, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_username_admit_exactly_one() {
    let fx = fixture();
    let (winners, duplicates) = race(&fx, 16, true).await;
    assert_eq!(winners, 1);
    assert_eq!(duplicates, vec!["username"; 15]);
    assert_eq!(fx.db.count_users().unwrap(), 1);
    assert_eq!(actions(&fx.db), ["user.register"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_email_admit_exactly_one() {
    let fx = fixture();
    let (winners, duplicates) = race(&fx, 12, false).await;
    assert_eq!(winners, 1);
    assert_eq!(duplicates, vec!["email"; 11]);
    assert_eq!(fx.db.count_users().unwrap(), 1);
}
