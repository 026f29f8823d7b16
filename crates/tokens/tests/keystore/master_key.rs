//! The master key: an instance with another deployment's key refuses to start before it
//! writes anything, and `rewrap` moves the database to a new key while instances that still
//! run with the old one keep signing.

use gatehouse_identity::{
    ActorKind, AuditAction, AuditOutcome, KeyStatus, MasterKey, NewAuditEvent,
};
use gatehouse_tokens::keystore::{self, KeyManager, KeyStoreError, MasterKeys, RewrapReport};

use crate::support::*;

fn third_master() -> MasterKey {
    use base64::Engine as _;
    MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([3u8; 32])).unwrap()
}

fn open_with(db: &TestDb, keys: MasterKeys) -> Result<KeyManager, KeyStoreError> {
    KeyManager::open_with(db.connect(), &keys, policy(), t0())
}

fn audit(material: usize, signing_keys: usize) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: t0(),
        actor: Some("cli".into()),
        actor_kind: ActorKind::of_actor(Some("cli")),
        action: AuditAction::KeysRewrap,
        target: None,
        ip: None,
        user_agent: None,
        outcome: AuditOutcome::Success,
        details: serde_json::json!({ "material": material, "signing_keys": signing_keys }),
        request_id: None,
        org_id: None,
    }
}

fn rewrap(db: &TestDb, old: &MasterKey, new: &MasterKey) -> Result<RewrapReport, KeyStoreError> {
    keystore::rewrap(&db.connect(), old, new, t0(), audit)
}

fn sealed_values(db: &TestDb) -> Vec<String> {
    let database = db.connect();
    let mut values: Vec<String> = rows(db).into_iter().map(|r| r.sealed_private_key).collect();
    values.extend(database.find_key_material("derivation_root").unwrap());
    values
}

#[test]
fn derived_secrets_of_a_deployment_are_those_of_its_first_master_key() {
    let db = TestDb::create();
    let manager = open(&db, t0());
    // What an older version derived from the master key directly: nothing changes on upgrade.
    assert_eq!(manager.derive_secret("x"), master().derive("x"));
    assert_eq!(open(&db, t0()).derive_secret("x"), master().derive("x"));
}

#[test]
fn another_master_key_is_refused_before_anything_is_written() {
    let db = TestDb::create();
    drop(open(&db, t0()));
    let before = sealed_values(&db);

    let err = open_with(&db, MasterKeys::single(&other_master())).unwrap_err();

    assert!(
        matches!(err, KeyStoreError::MasterKeyMismatch { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("different master key"), "{message}");
    assert_eq!(sealed_values(&db), before, "nothing was written");
}

#[test]
fn keys_of_an_older_version_under_another_master_key_are_refused_naming_one() {
    let db = TestDb::create();
    drop(open(&db, t0()));
    // A database written before the derivation root existed: signing keys only.
    let fresh = TestDb::create();
    let fresh_db = fresh.connect();
    for row in rows(&db) {
        assert!(fresh_db.insert_signing_key(&row).unwrap());
    }

    let err = open_with(&fresh, MasterKeys::single(&other_master())).unwrap_err();

    let KeyStoreError::MasterKeyMismatch { what, .. } = &err else {
        panic!("expected MasterKeyMismatch, got {err:?}");
    };
    assert!(what.starts_with("signing key"), "{what}");
    assert!(
        fresh_db
            .find_key_material("derivation_root")
            .unwrap()
            .is_none()
    );
    // The right key adopts the table, and derives what the older version derived.
    assert_eq!(open(&fresh, t0()).derive_secret("x"), master().derive("x"));
}

#[test]
fn rewrap_moves_everything_to_the_new_key_while_old_instances_keep_signing() {
    let db = TestDb::create();
    let running = open(&db, t0());
    let kids = jwks_kids(&running);
    let derived = running.derive_secret("client-secret-hmac-sha256");

    let report = rewrap(&db, &master(), &other_master()).unwrap();
    assert_eq!(
        report,
        RewrapReport {
            resealed_material: 1,
            resealed_signing_keys: 4,
            already_new: 0
        }
    );

    // The instance that still runs with the old key keeps reloading and signing.
    running.reload(t0()).unwrap();
    assert_eq!(jwks_kids(&running), kids);
    // A restart with the old key is refused; with the new key everything is as before.
    assert!(matches!(
        open_with(&db, MasterKeys::single(&master())),
        Err(KeyStoreError::MasterKeyMismatch { .. })
    ));
    let rolled = open_with(&db, MasterKeys::single(&other_master())).unwrap();
    assert_eq!(jwks_kids(&rolled), kids);
    assert_eq!(rolled.derive_secret("client-secret-hmac-sha256"), derived);

    // Audited, in the same transaction.
    let events = db.connect().recent_audit_events(10).unwrap();
    let event = events
        .iter()
        .find(|e| e.action == "keys.rewrap")
        .expect("a keys.rewrap event");
    assert_eq!(event.details["signing_keys"], 4);

    // Again: nothing left to do.
    let again = rewrap(&db, &master(), &other_master()).unwrap();
    assert_eq!(again.resealed_material + again.resealed_signing_keys, 0);
    assert_eq!(again.already_new, 5);
}

#[test]
fn a_wrong_old_key_changes_nothing() {
    let db = TestDb::create();
    drop(open(&db, t0()));
    let before = sealed_values(&db);

    let err = rewrap(&db, &third_master(), &other_master()).unwrap_err();

    assert!(
        matches!(err, KeyStoreError::MasterKeyMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(sealed_values(&db), before);
    assert!(
        db.connect()
            .recent_audit_events(10)
            .unwrap()
            .iter()
            .all(|e| e.action != "keys.rewrap")
    );
}

#[test]
fn keys_rotated_under_the_old_key_during_the_roll_open_with_the_previous_key() {
    let db = TestDb::create();
    let old_instance = open(&db, t0());
    rewrap(&db, &master(), &other_master()).unwrap();

    // The old instance rotates before it is rolled: its new next key is sealed under the old key.
    old_instance.rotate(ALGORITHMS[0], t0()).unwrap();
    let new_next = only_kid(&db, ALGORITHMS[0], KeyStatus::Next);

    assert!(matches!(
        open_with(&db, MasterKeys::single(&other_master())),
        Err(KeyStoreError::StoredKey { ref kid, .. }) if *kid == new_next
    ));
    let rolling = open_with(&db, MasterKeys::new(other_master(), Some(master()))).unwrap();
    assert!(jwks_kids(&rolling).contains(&new_next));

    // Rewrap once more after the roll; then the new key alone opens everything.
    let report = rewrap(&db, &master(), &other_master()).unwrap();
    assert_eq!(report.resealed_signing_keys, 1);
    assert!(open_with(&db, MasterKeys::single(&other_master())).is_ok());
}
