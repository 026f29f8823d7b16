//! The TOTP second factor against a real database: enrolment, confirmation, the ±1 step window,
//! replay protection (RFC 6238 §5.2) also under 50 concurrent uses, per-credential parameters,
//! the sealed secret, and disabling. Codes are computed here with `totp-rs` directly from the
//! base32 secret the enrolment showed, as an authenticator app would.

use std::sync::{Arc, Barrier};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::{Fixture, ctx, fixture, registration, t0};
use crate::schema::{recovery_codes, totp_credentials};
use crate::{
    IdentityError, MasterKey, RecoveryCodes, TotpAlgorithm, TotpEnrolment, TotpError,
    TotpParameters, TotpSettings, TotpStatus,
};

pub(crate) async fn user(fx: &Fixture, username: &str) -> uuid::Uuid {
    fx.accounts
        .register(registration(username), &[], &ctx(), t0())
        .await
        .unwrap()
        .id
}

pub(crate) fn master(byte: u8) -> MasterKey {
    MasterKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
}

pub(crate) fn settings() -> TotpSettings {
    TotpSettings::new(&master(5), TotpSettings::DEFAULT_ISSUER).unwrap()
}

/// `steps` time steps of 30 s after `t0()` (a step boundary), plus 10 s into that step.
pub(crate) fn at_step(steps: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(30 * steps + 10)
}

/// What an authenticator app set up from `enrolment` shows at `at`.
pub(crate) fn code(enrolment: &TotpEnrolment, at: DateTime<Utc>) -> String {
    code_with(&enrolment.secret_base32, enrolment.parameters, at)
}

fn code_with(secret_base32: &str, parameters: TotpParameters, at: DateTime<Utc>) -> String {
    let algorithm = match parameters.algorithm {
        TotpAlgorithm::Sha1 => totp_rs::Algorithm::SHA1,
        TotpAlgorithm::Sha256 => totp_rs::Algorithm::SHA256,
        TotpAlgorithm::Sha512 => totp_rs::Algorithm::SHA512,
    };
    totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(parameters.digits)
        .with_step_duration(u64::from(parameters.period_secs))
        .with_secret(totp_rs::Secret::try_from_base32(secret_base32).unwrap())
        .build()
        .unwrap()
        .generate(u64::try_from(at.timestamp()).unwrap())
        .to_string()
}

/// A code of the right length that no step in the window around `at` has.
pub(crate) fn wrong_code(enrolment: &TotpEnrolment, at: DateTime<Utc>) -> String {
    let window: Vec<String> = [-30, 0, 30]
        .into_iter()
        .map(|offset| code(enrolment, at + Duration::seconds(offset)))
        .collect();
    let digits = usize::from(enrolment.parameters.digits);
    (0u32..)
        .map(|n| format!("{n:0digits$}"))
        .find(|candidate| !window.contains(candidate))
        .unwrap()
}

/// Enrols and confirms at step 0; the step-0 code is then spent.
pub(crate) fn enrol(
    fx: &Fixture,
    user_id: uuid::Uuid,
    settings: &TotpSettings,
) -> (TotpEnrolment, RecoveryCodes) {
    let enrolment = fx
        .db
        .begin_totp_enrolment(user_id, settings, at_step(0))
        .unwrap();
    let codes = fx
        .db
        .confirm_totp_enrolment(user_id, &code(&enrolment, at_step(0)), settings, at_step(0))
        .unwrap();
    (enrolment, codes)
}

fn verify(
    fx: &Fixture,
    user_id: uuid::Uuid,
    code: &str,
    at: DateTime<Utc>,
) -> Result<(), TotpError> {
    fx.db.verify_totp(user_id, code, &settings(), at)
}

fn stored_secret(fx: &Fixture, user_id: uuid::Uuid) -> String {
    totp_credentials::table
        .find(user_id.to_string())
        .select(totp_credentials::secret_sealed)
        .first(&mut *fx.db.conn().unwrap())
        .unwrap()
}

#[tokio::test]
async fn enrolment_shows_secret_uri_and_qr_and_stays_pending_until_confirmed() {
    let fx = fixture();
    let alice = user(&fx, "alice").await;
    let enrolment = fx
        .db
        .begin_totp_enrolment(alice, &settings(), at_step(0))
        .unwrap();

    assert_eq!(enrolment.parameters, TotpParameters::default());
    assert_eq!(enrolment.secret_base32.len(), 32, "160 bits");
    assert_eq!(
        enrolment.otpauth_uri,
        format!(
            "otpauth://totp/Gatehouse:alice?secret={}&issuer=Gatehouse&algorithm=SHA1&digits=6\
             &period=30",
            enrolment.secret_base32
        )
    );
    assert!(enrolment.qr_svg.starts_with("<svg"), "{}", enrolment.qr_svg);
    assert!(!format!("{enrolment:?}").contains(&enrolment.secret_base32));

    let pending = TotpStatus {
        enabled: false,
        pending: true,
        recovery_codes_remaining: 0,
    };
    assert_eq!(fx.db.totp_status(alice).unwrap(), pending);
    assert!(matches!(
        verify(&fx, alice, &code(&enrolment, at_step(0)), at_step(0)),
        Err(TotpError::NoCredential)
    ));
    assert!(matches!(
        fx.db.confirm_totp_enrolment(
            alice,
            &wrong_code(&enrolment, at_step(0)),
            &settings(),
            at_step(0)
        ),
        Err(TotpError::InvalidCode)
    ));
    assert_eq!(fx.db.totp_status(alice).unwrap(), pending);

    let codes = fx
        .db
        .confirm_totp_enrolment(
            alice,
            &code(&enrolment, at_step(0)),
            &settings(),
            at_step(0),
        )
        .unwrap();
    assert_eq!(codes.codes().len(), 10);
    assert_eq!(
        fx.db.totp_status(alice).unwrap(),
        TotpStatus {
            enabled: true,
            pending: false,
            recovery_codes_remaining: 10,
        }
    );
}

#[tokio::test]
async fn the_issuer_is_a_setting() {
    let fx = fixture();
    let bob = user(&fx, "bob").await;
    let acme = TotpSettings::new(&master(5), "Acme SSO").unwrap();
    let enrolment = fx.db.begin_totp_enrolment(bob, &acme, at_step(0)).unwrap();
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/Acme%20SSO:bob?secret="),
        "{}",
        enrolment.otpauth_uri
    );
    assert!(enrolment.otpauth_uri.contains("&issuer=Acme%20SSO&"));
    for bad in ["", "Acme:SSO", "Acme\nSSO"] {
        assert!(TotpSettings::new(&master(5), bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn the_enrolment_code_is_spent_and_the_next_step_signs_in() {
    let fx = fixture();
    let carol = user(&fx, "carol").await;
    let (enrolment, _) = enrol(&fx, carol, &settings());

    let enrolment_code = code(&enrolment, at_step(0));
    assert!(matches!(
        verify(&fx, carol, &enrolment_code, at_step(0)),
        Err(TotpError::ReplayedCode)
    ));
    verify(&fx, carol, &code(&enrolment, at_step(1)), at_step(1)).unwrap();
}

#[tokio::test]
async fn the_window_is_one_step_either_side() {
    let fx = fixture();
    let dave = user(&fx, "dave").await;
    let (enrolment, _) = enrol(&fx, dave, &settings());
    let now = at_step(10);
    let code_at = |offset: i64| code(&enrolment, at_step(10 + offset));

    // Oldest first, so no accepted step makes a later check a replay.
    assert!(matches!(
        verify(&fx, dave, &code_at(-2), now),
        Err(TotpError::InvalidCode)
    ));
    verify(&fx, dave, &code_at(-1), now).unwrap();
    verify(&fx, dave, &code_at(0), now).unwrap();
    verify(&fx, dave, &code_at(1), now).unwrap();
    assert!(matches!(
        verify(&fx, dave, &code_at(2), now),
        Err(TotpError::InvalidCode)
    ));
}

#[tokio::test]
async fn a_code_is_accepted_once() {
    let fx = fixture();
    let erin = user(&fx, "erin").await;
    let (enrolment, _) = enrol(&fx, erin, &settings());
    let step_5 = code(&enrolment, at_step(5));

    verify(&fx, erin, &step_5, at_step(5)).unwrap();
    assert!(matches!(
        verify(&fx, erin, &step_5, at_step(5)),
        Err(TotpError::ReplayedCode)
    ));
    // Still inside the window a step later, and still spent.
    assert!(matches!(
        verify(&fx, erin, &step_5, at_step(6)),
        Err(TotpError::ReplayedCode)
    ));
    verify(&fx, erin, &code(&enrolment, at_step(6)), at_step(6)).unwrap();
}

#[tokio::test]
async fn a_code_of_an_earlier_step_than_the_last_used_is_refused() {
    let fx = fixture();
    let frank = user(&fx, "frank").await;
    let (enrolment, _) = enrol(&fx, frank, &settings());
    let now = at_step(20);

    // A device a step ahead was used first...
    verify(&fx, frank, &code(&enrolment, at_step(21)), now).unwrap();
    // ...so the current and previous steps' codes, though in the window, are spent.
    for earlier in [20, 19] {
        assert!(
            matches!(
                verify(&fx, frank, &code(&enrolment, at_step(earlier)), now),
                Err(TotpError::ReplayedCode)
            ),
            "step {earlier}"
        );
    }
}

#[test]
fn fifty_concurrent_uses_of_one_code_yield_exactly_one_success() {
    let fx = fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let grace = runtime.block_on(user(&fx, "grace"));
    let (enrolment, _) = enrol(&fx, grace, &settings());
    let now = at_step(3);
    let shared = code(&enrolment, now);

    let contenders = 50;
    let barrier = Arc::new(Barrier::new(contenders));
    let threads: Vec<_> = (0..contenders)
        .map(|_| {
            let (db, barrier, shared) = (fx.db.clone(), barrier.clone(), shared.clone());
            std::thread::spawn(move || {
                barrier.wait();
                db.verify_totp(grace, &shared, &settings(), now)
            })
        })
        .collect();
    let results: Vec<Result<(), TotpError>> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();

    let successes = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(successes, 1, "{results:?}");
    for result in &results {
        assert!(
            matches!(result, Ok(()) | Err(TotpError::ReplayedCode)),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn an_enabled_credential_is_not_replaced_until_disabled() {
    let fx = fixture();
    let heidi = user(&fx, "heidi").await;
    let (old, _) = enrol(&fx, heidi, &settings());

    assert!(matches!(
        fx.db.begin_totp_enrolment(heidi, &settings(), at_step(1)),
        Err(TotpError::AlreadyEnabled)
    ));
    assert!(matches!(
        fx.db
            .confirm_totp_enrolment(heidi, &code(&old, at_step(1)), &settings(), at_step(1)),
        Err(TotpError::NotPending)
    ));
    verify(&fx, heidi, &code(&old, at_step(1)), at_step(1)).unwrap();

    assert!(fx.db.disable_totp(heidi).unwrap());
    let new = fx
        .db
        .begin_totp_enrolment(heidi, &settings(), at_step(2))
        .unwrap();
    assert_ne!(new.secret_base32, old.secret_base32);
    fx.db
        .confirm_totp_enrolment(heidi, &code(&new, at_step(2)), &settings(), at_step(2))
        .unwrap();
    assert!(matches!(
        verify(&fx, heidi, &code(&old, at_step(3)), at_step(3)),
        Err(TotpError::InvalidCode)
    ));
}

#[tokio::test]
async fn beginning_again_replaces_a_pending_secret() {
    let fx = fixture();
    let ivan = user(&fx, "ivan").await;
    let first = fx
        .db
        .begin_totp_enrolment(ivan, &settings(), at_step(0))
        .unwrap();
    let second = fx
        .db
        .begin_totp_enrolment(ivan, &settings(), at_step(0))
        .unwrap();
    assert_ne!(first.secret_base32, second.secret_base32);

    let first_code = code(&first, at_step(0));
    let second_window = [-1, 0, 1].map(|step| code(&second, at_step(step)));
    if !second_window.contains(&first_code) {
        assert!(matches!(
            fx.db
                .confirm_totp_enrolment(ivan, &first_code, &settings(), at_step(0)),
            Err(TotpError::InvalidCode)
        ));
    }
    fx.db
        .confirm_totp_enrolment(ivan, &code(&second, at_step(0)), &settings(), at_step(0))
        .unwrap();
}

#[tokio::test]
async fn missing_users_and_credentials_are_typed_errors() {
    let fx = fixture();
    let judy = user(&fx, "judy").await;
    let nobody = uuid::Uuid::new_v4();

    assert!(matches!(
        fx.db.begin_totp_enrolment(nobody, &settings(), t0()),
        Err(TotpError::UnknownUser)
    ));
    assert!(matches!(
        fx.db
            .confirm_totp_enrolment(judy, "123456", &settings(), t0()),
        Err(TotpError::NoCredential)
    ));
    assert!(matches!(
        verify(&fx, judy, "123456", t0()),
        Err(TotpError::NoCredential)
    ));
    assert!(matches!(
        fx.db.regenerate_recovery_codes(judy, &settings(), t0()),
        Err(TotpError::NoCredential)
    ));
    assert!(!fx.db.disable_totp(judy).unwrap());
    assert!(!fx.db.disable_totp(nobody).unwrap());
    assert_eq!(
        fx.db.totp_status(nobody).unwrap(),
        TotpStatus {
            enabled: false,
            pending: false,
            recovery_codes_remaining: 0,
        }
    );
}

#[tokio::test]
async fn the_secret_is_stored_sealed_and_opens_only_with_the_master_key() {
    let fx = fixture();
    let mallory = user(&fx, "mallory").await;
    let (enrolment, _) = enrol(&fx, mallory, &settings());
    let raw = totp_rs::Secret::try_from_base32(&enrolment.secret_base32)
        .unwrap()
        .as_bytes()
        .to_vec();
    assert_eq!(raw.len(), 20);

    let sealed = stored_secret(&fx, mallory);
    let header = URL_SAFE_NO_PAD
        .decode(sealed.split('.').next().unwrap())
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(header, serde_json::json!({"alg": "dir", "enc": "A256GCM"}));
    assert!(!sealed.as_bytes().windows(raw.len()).any(|w| w == raw));
    for encoding in [
        enrolment.secret_base32.clone(),
        enrolment.secret_base32.to_lowercase(),
        STANDARD.encode(&raw),
        URL_SAFE_NO_PAD.encode(&raw),
        raw.iter().map(|b| format!("{b:02x}")).collect(),
    ] {
        assert!(!sealed.contains(&encoding), "{encoding}");
    }

    let stranger = TotpSettings::new(&master(6), "Gatehouse").unwrap();
    let err = fx
        .db
        .verify_totp(
            mallory,
            &code(&enrolment, at_step(1)),
            &stranger,
            at_step(1),
        )
        .unwrap_err();
    assert!(
        matches!(err, TotpError::Internal(IdentityError::Sealed(_))),
        "{err:?}"
    );
    verify(&fx, mallory, &code(&enrolment, at_step(1)), at_step(1)).unwrap();
}

#[tokio::test]
async fn a_sealed_secret_copied_onto_another_user_does_not_open() {
    let fx = fixture();
    let (alice, bob) = (user(&fx, "alice").await, user(&fx, "bob").await);
    let (alices, _) = enrol(&fx, alice, &settings());
    enrol(&fx, bob, &settings());

    diesel::update(totp_credentials::table.find(bob.to_string()))
        .set(totp_credentials::secret_sealed.eq(stored_secret(&fx, alice)))
        .execute(&mut *fx.db.conn().unwrap())
        .unwrap();
    let err = verify(&fx, bob, &code(&alices, at_step(1)), at_step(1)).unwrap_err();
    assert!(
        matches!(err, TotpError::Internal(IdentityError::Corrupt(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn each_credential_keeps_its_own_parameters() {
    let fx = fixture();
    let olivia = user(&fx, "olivia").await;
    let eight_digits = TotpParameters {
        algorithm: TotpAlgorithm::Sha256,
        digits: 8,
        period_secs: 60,
    };
    let enrolling = settings().with_parameters(eight_digits).unwrap();
    let enrolment = fx
        .db
        .begin_totp_enrolment(olivia, &enrolling, at_step(0))
        .unwrap();
    assert!(
        enrolment
            .otpauth_uri
            .ends_with("&issuer=Gatehouse&algorithm=SHA256&digits=8&period=60"),
        "{}",
        enrolment.otpauth_uri
    );
    let confirm_code = code(&enrolment, at_step(0));
    assert_eq!(confirm_code.len(), 8);
    fx.db
        .confirm_totp_enrolment(olivia, &confirm_code, &enrolling, at_step(0))
        .unwrap();

    // The policy for new enrolments is back to the defaults; olivia's credential is not.
    let minute = |m: i64| t0() + Duration::seconds(60 * m + 10);
    let now = minute(10);
    let six_digits = code_with(&enrolment.secret_base32, TotpParameters::default(), now);
    assert!(matches!(
        verify(&fx, olivia, &six_digits, now),
        Err(TotpError::InvalidCode)
    ));
    // One 60-second step either side: 2 minutes back is out, 1 minute back is in.
    assert!(matches!(
        verify(&fx, olivia, &code(&enrolment, minute(8)), now),
        Err(TotpError::InvalidCode)
    ));
    verify(&fx, olivia, &code(&enrolment, minute(9)), now).unwrap();
    // 30 s later is the same 60 s step: spent.
    assert!(matches!(
        verify(
            &fx,
            olivia,
            &code(&enrolment, minute(9)),
            now + Duration::seconds(30)
        ),
        Err(TotpError::ReplayedCode)
    ));
    verify(&fx, olivia, &code(&enrolment, now), now).unwrap();
    verify(&fx, olivia, &code(&enrolment, minute(11)), now).unwrap();
}

#[tokio::test]
async fn disabling_removes_the_credential_and_every_recovery_code() {
    let fx = fixture();
    let peggy = user(&fx, "peggy").await;
    let (enrolment, codes) = enrol(&fx, peggy, &settings());

    assert!(fx.db.disable_totp(peggy).unwrap());

    let mut conn = fx.db.conn().unwrap();
    let credentials: i64 = totp_credentials::table
        .filter(totp_credentials::user_id.eq(peggy.to_string()))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    let recovery: i64 = recovery_codes::table
        .filter(recovery_codes::user_id.eq(peggy.to_string()))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    drop(conn);
    assert_eq!((credentials, recovery), (0, 0));
    assert_eq!(
        fx.db.totp_status(peggy).unwrap(),
        TotpStatus {
            enabled: false,
            pending: false,
            recovery_codes_remaining: 0,
        }
    );
    assert!(matches!(
        verify(&fx, peggy, &code(&enrolment, at_step(1)), at_step(1)),
        Err(TotpError::NoCredential)
    ));
    assert!(matches!(
        fx.db
            .use_recovery_code(peggy, &codes.codes()[0], &settings(), at_step(1)),
        Err(TotpError::InvalidCode)
    ));
    assert!(
        !fx.db.disable_totp(peggy).unwrap(),
        "nothing left to remove"
    );
}

#[tokio::test]
async fn an_administrator_reset_removes_a_pending_or_enabled_second_factor() {
    let fx = fixture();
    let (quinn, rupert) = (user(&fx, "quinn").await, user(&fx, "rupert").await);
    enrol(&fx, quinn, &settings());
    fx.db
        .begin_totp_enrolment(rupert, &settings(), at_step(0))
        .unwrap();

    for user_id in [quinn, rupert] {
        assert!(fx.db.reset_2fa(user_id).unwrap());
        let status = fx.db.totp_status(user_id).unwrap();
        assert!(!status.enabled && !status.pending, "{status:?}");
        assert_eq!(fx.db.remaining_recovery_codes(user_id).unwrap(), 0);
        fx.db
            .begin_totp_enrolment(user_id, &settings(), at_step(1))
            .unwrap();
    }
}

#[tokio::test]
async fn deleting_a_user_deletes_their_second_factor() {
    let fx = fixture();
    let sybil = user(&fx, "sybil").await;
    enrol(&fx, sybil, &settings());

    let mut conn = fx.db.conn().unwrap();
    diesel::delete(crate::schema::users::table.find(sybil.to_string()))
        .execute(&mut *conn)
        .unwrap();
    let left: i64 = recovery_codes::table
        .count()
        .get_result(&mut *conn)
        .unwrap();
    let credentials: i64 = totp_credentials::table
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!((credentials, left), (0, 0));
}
