//! Fixtures: keys generated once per test binary, claims, and helpers to take tokens apart.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_tokens::{
    AccessTokenClaims, Algorithm, IdTokenClaims, KeySet, KeyState, SigningKey, Validation, new_jti,
};
use josekit::jws::JwsSigner;
use serde_json::{Map, Value, json};

pub const ISSUER: &str = "https://auth.example.test";
pub const AUDIENCE: &str = "https://api.example.test";
pub const CLIENT_ID: &str = "client-a";
pub const NOW: i64 = 1_750_000_000;
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

/// RSA key generation takes a noticeable fraction of a second; share one key per algorithm.
pub fn key(alg: Algorithm) -> &'static SigningKey {
    static ES256: OnceLock<SigningKey> = OnceLock::new();
    static RS256: OnceLock<SigningKey> = OnceLock::new();
    let cell = match alg {
        Algorithm::ES256 => &ES256,
        Algorithm::RS256 => &RS256,
    };
    cell.get_or_init(|| SigningKey::generate(alg).expect("generate key"))
}

/// Both shared keys, Active.
pub fn key_set() -> KeySet {
    KeySet::new(
        ALGORITHMS
            .iter()
            .map(|&alg| (key(alg).clone(), KeyState::Active))
            .collect(),
    )
}

pub fn validation() -> Validation<'static> {
    Validation {
        audience: Some(AUDIENCE),
        ..Validation::new(ISSUER, NOW)
    }
}

pub fn access_claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "user-42".into(),
        aud: vec![AUDIENCE.into()],
        client_id: CLIENT_ID.into(),
        scope: "openid profile email".into(),
        iat: NOW,
        exp: NOW + 300,
        jti: new_jti(),
        auth_time: Some(NOW - 60),
        sid: Some("session-1".into()),
        grant_id: Some("family-1".into()),
        store_epoch: Some("3f9a0c4e5d6b7a81".into()),
        act: None,
        org_id: None,
        org_slug: None,
        org_roles: None,
    }
}

pub fn id_claims() -> IdTokenClaims {
    IdTokenClaims {
        iss: ISSUER.into(),
        sub: "user-42".into(),
        aud: vec![CLIENT_ID.into()],
        iat: NOW,
        exp: NOW + 300,
        auth_time: Some(NOW - 60),
        nonce: Some("n-0S6_WzA2Mj".into()),
        at_hash: Some("77QmUPtjPfzWtF2AnpK9RQ".into()),
        amr: Some(vec!["pwd".into(), "otp".into()]),
        sid: Some("session-1".into()),
        azp: None,
        extra: Map::from_iter([
            ("email".to_string(), json!("user42@example.test")),
            ("email_verified".to_string(), json!(true)),
        ]),
    }
}

/// Decodes segment `index` (0 header, 1 payload) of a compact JWS as JSON.
pub fn segment_json(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS assembled by hand; `sign` gets the signing input (RFC 7515 §5.1 step 8).
pub fn hand_built(header: &Value, payload: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).expect("header")),
        b64(&serde_json::to_vec(payload).expect("payload"))
    );
    let signature = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

/// A josekit signer rebuilt from the exported PEM, independent of the crate's cached one.
pub fn raw_signer(key: &SigningKey) -> Box<dyn JwsSigner> {
    let pem = key.private_pem().expect("pem");
    match key.algorithm() {
        Algorithm::ES256 => Box::new(josekit::jws::ES256.signer_from_pem(&pem).expect("signer")),
        Algorithm::RS256 => Box::new(josekit::jws::RS256.signer_from_pem(&pem).expect("signer")),
    }
}

/// A well-formed access-token header for `key`.
pub fn access_header(key: &SigningKey) -> Value {
    json!({"alg": key.algorithm().name(), "typ": "at+jwt", "kid": key.kid()})
}

pub fn access_payload() -> Value {
    serde_json::to_value(access_claims()).expect("claims")
}
