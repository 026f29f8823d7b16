//! Address verification, change of address, password reset and change at the identity layer:
//! tokens are single use, expire, die when replaced or after too many wrong codes; every change
//! commits with its mail and audit event; unknown addresses write nothing.

use std::sync::{Arc, Mutex};

use chrono::Duration;

use super::{Fixture, PASSWORD, actions, ctx, fixture, registration, t0};
use crate::email_tokens::MAX_CODE_ATTEMPTS;
use crate::users::{LoginState, UserStatus, queries};
use crate::{
    AccountMails, EmailChangeError, IdentityError, IssuedToken, OutboxMail, PasswordChangeError,
    PasswordResetError, ResentVerification, TokenMail, User, VerifyEmailError,
};

const NEW_PASSWORD: &str = "quartz-meadow-91-softly";

/// What was mailed: the kind, the recipient and, for token mails, the token and code. The mails
/// themselves are placeholders; their templates are tested in `gatehouse_mail`.
#[derive(Default)]
struct Captured {
    sent: Mutex<Vec<(&'static str, String, Option<IssuedToken>)>>,
}

impl Captured {
    fn record(
        &self,
        kind: &'static str,
        to: &str,
        token: Option<&IssuedToken>,
    ) -> Result<OutboxMail, IdentityError> {
        self.sent
            .lock()
            .unwrap()
            .push((kind, to.to_owned(), token.cloned()));
        Ok(OutboxMail {
            to: to.to_owned(),
            subject: kind.to_owned(),
            text_body: String::new(),
            html_body: String::new(),
            message_id: format!("<{}@test>", uuid::Uuid::new_v4().simple()),
        })
    }

    fn last(&self, kind: &str) -> (String, IssuedToken) {
        let sent = self.sent.lock().unwrap();
        let (_, to, token) = sent
            .iter()
            .rev()
            .find(|(k, _, _)| *k == kind)
            .unwrap_or_else(|| panic!("no {kind} mail"));
        (to.clone(), token.clone().expect("a token mail"))
    }

    fn kinds(&self) -> Vec<(&'static str, String)> {
        let sent = self.sent.lock().unwrap();
        sent.iter().map(|(k, to, _)| (*k, to.clone())).collect()
    }
}

impl AccountMails for Captured {
    fn verification(&self, to: &str, token: &IssuedToken) -> Result<OutboxMail, IdentityError> {
        self.record("verification", to, Some(token))
    }
    fn password_reset(&self, to: &str, token: &IssuedToken) -> Result<OutboxMail, IdentityError> {
        self.record("reset", to, Some(token))
    }
    fn password_changed(&self, to: &str) -> Result<OutboxMail, IdentityError> {
        self.record("changed", to, None)
    }
    fn account_exists(&self, to: &str) -> Result<OutboxMail, IdentityError> {
        self.record("exists", to, None)
    }
    fn email_change_notice(&self, to: &str, _new: &str) -> Result<OutboxMail, IdentityError> {
        self.record("change_notice", to, None)
    }
}

fn mail(captured: &Arc<Captured>, ttl: Duration) -> TokenMail {
    TokenMail {
        mails: captured.clone(),
        ttl,
    }
}

async fn signed_up(fx: &Fixture, captured: &Arc<Captured>, name: &str) -> User {
    fx.accounts
        .register_and_verify(
            registration(name),
            &[],
            Some(mail(captured, Duration::hours(24))),
            &ctx(),
            t0(),
        )
        .await
        .unwrap()
}

fn pending_mails(fx: &Fixture) -> i64 {
    fx.db.count_outbox_mail().unwrap().0
}

fn user(fx: &Fixture, id: uuid::Uuid) -> User {
    fx.db.find_user_by_id(id).unwrap().unwrap()
}

#[tokio::test]
async fn sign_up_queues_a_verification_whose_link_works_once() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    let alice = signed_up(&fx, &captured, "alice").await;
    assert_eq!(pending_mails(&fx), 1, "the mail commits with the account");
    let (to, token) = captured.last("verification");
    assert_eq!(to, "alice@example.com");
    assert_eq!(token.token.len(), 43);
    assert_eq!(token.expires_at, t0() + Duration::hours(24));
    assert!(!user(&fx, alice.id).email_verified);

    let verified = fx
        .accounts
        .verify_email_link(&token.token, &ctx(), t0() + Duration::hours(23))
        .await
        .unwrap();
    assert_eq!((verified.user_id, verified.replaced), (alice.id, None));
    assert!(user(&fx, alice.id).email_verified);

    let again = fx
        .accounts
        .verify_email_link(&token.token, &ctx(), t0() + Duration::hours(23))
        .await;
    assert!(
        matches!(again, Err(VerifyEmailError::AlreadyUsed)),
        "{again:?}"
    );
    let forged = fx
        .accounts
        .verify_email_link("x".repeat(43).as_str(), &ctx(), t0())
        .await;
    assert!(
        matches!(forged, Err(VerifyEmailError::Invalid)),
        "{forged:?}"
    );
    let log = actions(&fx.db);
    assert!(
        log.contains(&"email.verification_sent".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"email.verify".to_owned()), "{log:?}");
}

#[tokio::test]
async fn an_expired_or_replaced_link_does_not_verify() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    let bob = signed_up(&fx, &captured, "bob").await;
    let (_, first) = captured.last("verification");
    let expired = fx
        .accounts
        .verify_email_link(&first.token, &ctx(), t0() + Duration::hours(24))
        .await;
    assert!(
        matches!(expired, Err(VerifyEmailError::Invalid)),
        "{expired:?}"
    );

    let resent = fx
        .accounts
        .resend_email_verification(bob.id, mail(&captured, Duration::hours(24)), &ctx(), t0())
        .await
        .unwrap();
    assert_eq!(
        resent,
        Some(ResentVerification::Sent {
            to: "bob@example.com".to_owned()
        })
    );
    let (_, second) = captured.last("verification");
    assert_ne!(first.token, second.token);
    let old = fx
        .accounts
        .verify_email_link(&first.token, &ctx(), t0())
        .await;
    assert!(matches!(old, Err(VerifyEmailError::Invalid)), "{old:?}");
    fx.accounts
        .verify_email_link(&second.token, &ctx(), t0())
        .await
        .unwrap();
    let after = fx
        .accounts
        .resend_email_verification(bob.id, mail(&captured, Duration::hours(24)), &ctx(), t0())
        .await
        .unwrap();
    assert_eq!(after, Some(ResentVerification::AlreadyVerified));
}

#[tokio::test]
async fn the_short_code_verifies_and_wrong_codes_kill_the_link() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    let carol = signed_up(&fx, &captured, "carol").await;
    let (_, token) = captured.last("verification");
    let code = token.code.clone().expect("a code");
    let wrong = if code == "000000" { "000001" } else { "000000" };

    let first = fx
        .accounts
        .verify_email_code(carol.id, wrong, &ctx(), t0())
        .await;
    assert!(
        matches!(first, Err(VerifyEmailError::WrongCode { remaining }) if remaining == MAX_CODE_ATTEMPTS - 1),
        "{first:?}"
    );
    fx.accounts
        .verify_email_code(carol.id, &code, &ctx(), t0())
        .await
        .unwrap();
    assert!(user(&fx, carol.id).email_verified);

    // A fresh link, then guessing until it dies: the right code is refused afterwards.
    let dave = signed_up(&fx, &captured, "dave").await;
    let (_, token) = captured.last("verification");
    let code = token.code.clone().unwrap();
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for _ in 0..MAX_CODE_ATTEMPTS {
        let refused = fx
            .accounts
            .verify_email_code(dave.id, wrong, &ctx(), t0())
            .await;
        assert!(
            matches!(refused, Err(VerifyEmailError::WrongCode { .. })),
            "{refused:?}"
        );
    }
    let dead = fx
        .accounts
        .verify_email_code(dave.id, &code, &ctx(), t0())
        .await;
    assert!(
        matches!(dead, Err(VerifyEmailError::NothingPending)),
        "{dead:?}"
    );
    assert!(!user(&fx, dave.id).email_verified);
}

#[tokio::test]
async fn a_new_address_stays_pending_until_verified_and_the_old_one_is_told() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    let erin = signed_up(&fx, &captured, "erin").await;
    signed_up(&fx, &captured, "frank").await;

    fx.accounts
        .request_email_change(
            erin.id,
            "erin.new@example.org",
            mail(&captured, Duration::hours(24)),
            &ctx(),
            t0(),
        )
        .await
        .unwrap();
    let status = fx
        .accounts
        .email_status(erin.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.email, "erin@example.com");
    assert_eq!(status.pending.as_deref(), Some("erin.new@example.org"));
    assert!(
        captured
            .kinds()
            .contains(&("change_notice", "erin@example.com".to_owned()))
    );
    let (to, token) = captured.last("verification");
    assert_eq!(to, "erin.new@example.org");
    let verified = fx
        .accounts
        .verify_email_link(&token.token, &ctx(), t0())
        .await
        .unwrap();
    assert_eq!(verified.replaced.as_deref(), Some("erin@example.com"));
    let now = user(&fx, erin.id);
    assert_eq!(
        (now.email.as_str(), now.email_verified),
        ("erin.new@example.org", true)
    );

    // Another account's address: its owner is told, nothing is pending, the answer is the same.
    let sent_before = captured.kinds().len();
    fx.accounts
        .request_email_change(
            erin.id,
            "FRANK@example.com",
            mail(&captured, Duration::hours(24)),
            &ctx(),
            t0(),
        )
        .await
        .unwrap();
    let kinds = captured.kinds();
    assert_eq!(
        &kinds[sent_before..],
        &[("exists", "FRANK@example.com".to_owned())]
    );
    let status = fx
        .accounts
        .email_status(erin.id, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.pending, None);

    let same = fx
        .accounts
        .request_email_change(
            erin.id,
            "Erin.New@example.org",
            mail(&captured, Duration::hours(24)),
            &ctx(),
            t0(),
        )
        .await;
    assert!(matches!(same, Err(EmailChangeError::Unchanged)), "{same:?}");
    let bad = fx
        .accounts
        .request_email_change(
            erin.id,
            "not an address",
            mail(&captured, Duration::hours(24)),
            &ctx(),
            t0(),
        )
        .await;
    assert!(matches!(bad, Err(EmailChangeError::Invalid(_))), "{bad:?}");
}

#[tokio::test]
async fn a_reset_for_an_unknown_address_writes_nothing() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    for address in ["nobody@example.com", "not an address", ""] {
        let mailed = fx
            .accounts
            .request_password_reset(
                address,
                mail(&captured, Duration::minutes(30)),
                &ctx(),
                t0(),
            )
            .await
            .unwrap();
        assert_eq!(mailed, None);
    }
    assert_eq!(pending_mails(&fx), 0);
    assert!(fx.db.recent_audit_events(10).unwrap().is_empty());
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_requests_the_end_of_every_session() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    let grace = fx
        .accounts
        .register(registration("grace"), &[], &ctx(), t0())
        .await
        .unwrap();
    // Locked out by failures: the reset clears that.
    let locked = LoginState {
        status: UserStatus::Locked,
        failed_logins: 5,
        window_started_at: Some(t0()),
        locked_until: Some(t0() + Duration::minutes(15)),
    };
    queries::save_login_state(&mut fx.db.conn().unwrap(), grace.id, &locked, t0()).unwrap();

    let reset = |minutes| mail(&captured, Duration::minutes(minutes));
    fx.accounts
        .request_password_reset(" GRACE@example.com ", reset(30), &ctx(), t0())
        .await
        .unwrap();
    let (_, first) = captured.last("reset");
    fx.accounts
        .request_password_reset("grace@example.com", reset(30), &ctx(), t0())
        .await
        .unwrap();
    let (to, second) = captured.last("reset");
    assert_eq!(to, "grace@example.com");
    assert!(
        fx.accounts
            .password_reset_target(&first.token, t0())
            .await
            .unwrap()
            .is_none(),
        "a newer request kills the older link"
    );
    // Reading the link (a mail scanner, the form) spends nothing.
    for _ in 0..2 {
        let target = fx
            .accounts
            .password_reset_target(&second.token, t0())
            .await
            .unwrap()
            .expect("live");
        assert_eq!((target.user_id, target.second_factor), (grace.id, false));
    }

    let weak = fx
        .accounts
        .complete_password_reset(&second.token, "short", reset(30), &ctx(), t0())
        .await;
    assert!(
        matches!(weak, Err(PasswordResetError::Invalid(ref e)) if e.field == "new_password"),
        "{weak:?}"
    );
    let done = fx
        .accounts
        .complete_password_reset(
            &second.token,
            NEW_PASSWORD,
            reset(30),
            &ctx(),
            t0() + Duration::minutes(29),
        )
        .await
        .unwrap();
    assert_eq!(done.user_id, grace.id);
    assert_eq!(fx.db.count_session_end_requests().unwrap(), 1);

    let after = user(&fx, grace.id);
    let hasher = fx.accounts.hasher();
    assert!(
        hasher
            .verify_blocking(Some(&after.password_hash), NEW_PASSWORD)
            .unwrap()
    );
    assert!(
        !hasher
            .verify_blocking(Some(&after.password_hash), PASSWORD)
            .unwrap()
    );
    assert!(after.email_verified, "the reset proved the mailbox");
    assert_eq!(
        (after.status, after.failed_logins, after.locked_until),
        (UserStatus::Active, 0, None)
    );
    assert!(
        captured
            .kinds()
            .contains(&("changed", "grace@example.com".to_owned()))
    );

    let again = fx
        .accounts
        .complete_password_reset(
            &second.token,
            "another-long-passphrase-3",
            reset(30),
            &ctx(),
            t0(),
        )
        .await;
    assert!(
        matches!(again, Err(PasswordResetError::InvalidToken)),
        "{again:?}"
    );
    let log = actions(&fx.db);
    assert!(
        log.contains(&"password.reset_request".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"password.reset".to_owned()), "{log:?}");
}

#[tokio::test]
async fn an_expired_reset_link_or_a_disabled_account_does_nothing() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    let heidi = fx
        .accounts
        .register(registration("heidi"), &[], &ctx(), t0())
        .await
        .unwrap();
    fx.accounts
        .request_password_reset(
            "heidi@example.com",
            mail(&captured, Duration::minutes(30)),
            &ctx(),
            t0(),
        )
        .await
        .unwrap();
    let (_, token) = captured.last("reset");
    let late = t0() + Duration::minutes(30);
    assert!(
        fx.accounts
            .password_reset_target(&token.token, late)
            .await
            .unwrap()
            .is_none()
    );
    let expired = fx
        .accounts
        .complete_password_reset(
            &token.token,
            NEW_PASSWORD,
            mail(&captured, Duration::minutes(30)),
            &ctx(),
            late,
        )
        .await;
    assert!(
        matches!(expired, Err(PasswordResetError::InvalidToken)),
        "{expired:?}"
    );

    let disabled = LoginState {
        status: UserStatus::Disabled,
        ..LoginState::clear()
    };
    queries::save_login_state(&mut fx.db.conn().unwrap(), heidi.id, &disabled, t0()).unwrap();
    let mailed = fx
        .accounts
        .request_password_reset(
            "heidi@example.com",
            mail(&captured, Duration::minutes(30)),
            &ctx(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(mailed, None);
    assert_eq!(fx.db.count_session_end_requests().unwrap(), 0);
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_counts_wrong_ones() {
    let fx = fixture();
    let captured = Arc::new(Captured::default());
    let ivan = fx
        .accounts
        .register(registration("ivan"), &[], &ctx(), t0())
        .await
        .unwrap();
    let wrong = fx
        .accounts
        .change_password(
            ivan.id,
            "not-the-password",
            NEW_PASSWORD,
            mail(&captured, Duration::minutes(30)),
            &ctx(),
            t0(),
        )
        .await;
    assert!(
        matches!(wrong, Err(PasswordChangeError::WrongPassword)),
        "{wrong:?}"
    );
    assert_eq!(
        user(&fx, ivan.id).failed_logins,
        1,
        "counted toward lockout"
    );
    let weak = fx
        .accounts
        .change_password(
            ivan.id,
            PASSWORD,
            "short",
            mail(&captured, Duration::minutes(30)),
            &ctx(),
            t0(),
        )
        .await;
    assert!(
        matches!(weak, Err(PasswordChangeError::Invalid(_))),
        "{weak:?}"
    );

    fx.accounts
        .change_password(
            ivan.id,
            PASSWORD,
            NEW_PASSWORD,
            mail(&captured, Duration::minutes(30)),
            &ctx(),
            t0(),
        )
        .await
        .unwrap();
    let after = user(&fx, ivan.id);
    assert!(
        fx.accounts
            .hasher()
            .verify_blocking(Some(&after.password_hash), NEW_PASSWORD)
            .unwrap()
    );
    assert!(
        captured
            .kinds()
            .contains(&("changed", "ivan@example.com".to_owned()))
    );
    assert!(actions(&fx.db).contains(&"password.change".to_owned()));
}
