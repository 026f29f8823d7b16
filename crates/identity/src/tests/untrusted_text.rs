//! Text from requests that no row can match: lookups answer "not found" without asking the
//! database (Postgres refuses a NUL in text, which used to surface as a 500), the audit trail
//! still records the attempt, and canonically equivalent spellings of an email are one account.

use super::clients::{hasher, web_app};
use super::{PASSWORD, audit_log, ctx, fixture, registration, t0};
use crate::{AuditAction, AuditOutcome, LoginError, NewAuditEvent, RegisterError, Registration};

#[tokio::test]
async fn lookups_by_text_holding_a_nul_find_nothing_and_do_not_fail() {
    let fx = fixture();
    let user = fx
        .accounts
        .register(registration("bob"), &[], &ctx(), t0())
        .await
        .unwrap();
    let (client, _) = fx
        .db
        .create_client(&web_app("app"), &hasher(), t0())
        .unwrap();
    fx.db
        .grant_consent(user.id, &client.client_id, &["openid".to_owned()], t0())
        .unwrap();

    for login in ["bob\0", "\0", "bob@example.com\0", "b\0ob", "bob\u{1B}"] {
        assert!(
            fx.db.find_user_by_login(login).unwrap().is_none(),
            "{login:?}"
        );
    }
    let with_nul = format!("{}\0", client.client_id);
    for id in [with_nul.as_str(), "ab\0c", "\0", "caf\u{E9}", ""] {
        assert!(fx.db.find_client(id).unwrap().is_none(), "{id:?}");
        assert_eq!(fx.db.find_consent(user.id, id).unwrap(), None, "{id:?}");
        assert!(!fx.db.revoke_consent(user.id, id).unwrap(), "{id:?}");
        assert!(!fx.db.delete_client(id).unwrap(), "{id:?}");
    }
    // Nothing was touched on the way.
    assert!(fx.db.find_client(&client.client_id).unwrap().is_some());
    assert!(
        fx.db
            .find_consent(user.id, &client.client_id)
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_login_holding_a_nul_is_an_unknown_user_on_the_record() {
    let fx = fixture();
    fx.accounts
        .register(registration("bob"), &[], &ctx(), t0())
        .await
        .unwrap();
    let result = fx
        .accounts
        .authenticate("bob\0", PASSWORD, &ctx(), t0())
        .await;
    assert!(
        matches!(result, Err(LoginError::InvalidCredentials)),
        "{result:?}"
    );
    let event = audit_log(&fx.db).pop().unwrap();
    assert_eq!(event.action, "login.failure");
    assert_eq!(event.outcome, AuditOutcome::Failure);
    assert_eq!(event.target.as_deref(), Some("bob\u{FFFD}"));
    assert_eq!(event.details["reason"], "malformed_login");
    // The account itself saw no failed attempt.
    let bob = fx.db.find_user_by_login("bob").unwrap().unwrap();
    assert_eq!(bob.failed_logins, 0);
}

#[test]
fn audit_text_holding_a_nul_is_stored_with_a_replacement_character() {
    let fx = fixture();
    fx.db
        .append_audit(&NewAuditEvent {
            org_id: None,
            occurred_at: t0(),
            actor: Some("cli\0".to_owned()),
            actor_kind: crate::ActorKind::System,
            action: AuditAction::LoginFailure,
            target: Some("a\0b".to_owned()),
            ip: None,
            user_agent: Some("agent\0".to_owned()),
            outcome: AuditOutcome::Failure,
            details: serde_json::json!({ "input": "x\0y" }),
            request_id: Some("req\0".to_owned()),
        })
        .unwrap();
    let event = audit_log(&fx.db).pop().unwrap();
    assert_eq!(event.actor.as_deref(), Some("cli\u{FFFD}"));
    assert_eq!(event.target.as_deref(), Some("a\u{FFFD}b"));
    assert_eq!(event.user_agent.as_deref(), Some("agent\u{FFFD}"));
    assert_eq!(event.request_id.as_deref(), Some("req\u{FFFD}"));
    assert_eq!(event.details["input"], "x\0y", "JSON escapes it losslessly");
}

#[tokio::test]
async fn registration_refuses_nul_and_zero_width_characters_and_writes_nothing() {
    let fx = fixture();
    for (username, email, field) in [
        ("alice", "alice@example.com\u{0}", "email"),
        ("alice", "alice@exam\u{200B}ple.com", "email"),
        ("alice", "alice@example.com\u{FEFF}", "email"),
        ("alice", "\u{202E}alice@example.com", "email"),
        ("alice\u{0}", "alice@example.com", "username"),
    ] {
        let input = Registration {
            username: username.to_owned(),
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
        };
        match fx.accounts.register(input, &[], &ctx(), t0()).await {
            Err(RegisterError::Invalid(err)) => assert_eq!(err.field, field, "{email:?}"),
            other => panic!("{email:?}: expected Invalid({field}), got {other:?}"),
        }
    }
    assert_eq!(fx.db.count_users().unwrap(), 0);
    assert!(audit_log(&fx.db).is_empty());
}

/// `e` + U+0301 and `é` are one address: stored in NFC, they collide on the unique index, and
/// either spelling logs in.
#[tokio::test]
async fn canonically_equivalent_emails_are_one_account() {
    let fx = fixture();
    let decomposed = Registration {
        email: "jose\u{301}@example.com".to_owned(),
        ..registration("jose")
    };
    let user = fx
        .accounts
        .register(decomposed, &[], &ctx(), t0())
        .await
        .unwrap();
    assert_eq!(user.email, "jos\u{E9}@example.com");

    let precomposed = Registration {
        email: "jos\u{E9}@Example.COM".to_owned(),
        ..registration("jose2")
    };
    match fx.accounts.register(precomposed, &[], &ctx(), t0()).await {
        Err(RegisterError::Duplicate { field }) => assert_eq!(field, "email"),
        other => panic!("expected a duplicate email, got {other:?}"),
    }
    assert_eq!(fx.db.count_users().unwrap(), 1);

    for login in ["jos\u{E9}@example.com", "jose\u{301}@example.com"] {
        let found = fx.db.find_user_by_login(login).unwrap();
        assert_eq!(found.map(|u| u.id), Some(user.id), "{login:?}");
        let logged_in = fx
            .accounts
            .authenticate(login, PASSWORD, &ctx(), t0())
            .await
            .unwrap()
            .user;
        assert_eq!(logged_in.id, user.id);
    }
}
