//! Fixtures: a fresh database per test, fixed master keys and policy, a fixed clock, and
//! helpers to read the JWKS and mint/verify with a manager's keys.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use gatehouse_identity::testing::TestDatabase;
use gatehouse_identity::{Database, KeyStatus, StoredSigningKey};
use gatehouse_tokens::{
    AccessTokenClaims, Algorithm, KeyManager, KeyPolicy, KeySet, MasterKey, TokenError, Validation,
    mint_access_token, new_jti, verify_access_token,
};
use serde_json::Value;

pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];
pub const ISSUER: &str = "https://auth.example.test";
pub const AUDIENCE: &str = "https://api.example.test";
pub const ROTATION_DAYS: i64 = 30;
pub const TOKEN_LIFETIME_MINUTES: i64 = 60;

/// The database is dropped (and removed) with the fixture, after every pool using it.
pub struct TestDb {
    pub test_db: TestDatabase,
}

impl TestDb {
    pub fn create() -> TestDb {
        TestDb {
            test_db: TestDatabase::create().expect("create test database"),
        }
    }

    /// A new pool: what a separate server instance would have.
    pub fn connect(&self) -> Database {
        self.test_db.connect().expect("connect to test database")
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 15, 12, 0, 0).unwrap()
}

pub fn master() -> MasterKey {
    MasterKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap()
}

pub fn other_master() -> MasterKey {
    use base64::Engine as _;
    MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32])).unwrap()
}

pub fn policy() -> KeyPolicy {
    KeyPolicy {
        rotation_interval: Duration::days(ROTATION_DAYS),
        max_token_lifetime: Duration::minutes(TOKEN_LIFETIME_MINUTES),
    }
}

pub fn open(db: &TestDb, now: DateTime<Utc>) -> KeyManager {
    KeyManager::open(db.connect(), &master(), policy(), now).expect("open key manager")
}

pub fn jwks(manager: &KeyManager) -> Value {
    serde_json::from_str(&manager.jwks_json()).expect("JWKS is JSON")
}

pub fn jwks_kids(manager: &KeyManager) -> Vec<String> {
    jwks(manager)["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|jwk| jwk["kid"].as_str().expect("kid").to_owned())
        .collect()
}

pub fn active_kid(manager: &KeyManager, alg: Algorithm) -> String {
    manager
        .current()
        .active(alg)
        .expect("active key")
        .kid()
        .to_owned()
}

/// The table as the database holds it.
pub fn rows(db: &TestDb) -> Vec<StoredSigningKey> {
    db.connect().list_signing_keys().expect("list signing keys")
}

pub fn rows_of(db: &TestDb, alg: Algorithm, status: KeyStatus) -> Vec<StoredSigningKey> {
    rows(db)
        .into_iter()
        .filter(|row| row.alg == alg.name() && row.status == status)
        .collect()
}

pub fn only_kid(db: &TestDb, alg: Algorithm, status: KeyStatus) -> String {
    let rows = rows_of(db, alg, status);
    assert_eq!(rows.len(), 1, "{alg} {status:?}: {:?}", kids_of(&rows));
    rows[0].kid.clone()
}

pub fn kids_of(rows: &[StoredSigningKey]) -> Vec<&str> {
    rows.iter().map(|row| row.kid.as_str()).collect()
}

/// An access token from `alg`'s active key, valid for the policy's maximum lifetime.
pub fn mint(keys: &KeySet, alg: Algorithm, now: DateTime<Utc>) -> String {
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "user-42".into(),
        aud: vec![AUDIENCE.into()],
        client_id: "client-a".into(),
        scope: "openid".into(),
        iat: now.timestamp(),
        exp: (now + Duration::minutes(TOKEN_LIFETIME_MINUTES)).timestamp(),
        jti: new_jti(),
        auth_time: None,
        sid: None,
        grant_id: None,
        store_epoch: None,
        act: None,
        org_id: None,
        org_slug: None,
        org_roles: None,
    };
    mint_access_token(keys.active(alg).expect("active key"), &claims).expect("mint")
}

pub fn verify(token: &str, keys: &Arc<KeySet>, now: DateTime<Utc>) -> Result<(), TokenError> {
    let validation = Validation {
        audience: Some(AUDIENCE),
        ..Validation::new(ISSUER, now.timestamp())
    };
    verify_access_token(token, keys, &validation).map(|_| ())
}
