//! Cost of the token endpoint's and the resource side's cryptography: minting access and ID
//! tokens, and verifying access tokens, for both algorithms we sign with.
//!
//! The key set mirrors what `KeyManager` installs: an `Active` and a `Next` key per algorithm,
//! four in all, so verification pays the same `kid` lookup as the server. Claims are the size
//! the server writes (RFC 9068 §2.2 access tokens; OIDC Core §2 ID tokens with `nonce`,
//! `at_hash`, `amr`, `sid`, `auth_time` and the `email` scope's claims).
//!
//! Run with `cargo bench -p gatehouse-tokens --bench jwt`.

#![expect(
    clippy::expect_used,
    reason = "benchmark setup: a key or token that fails here makes the numbers meaningless"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_tokens::{
    AccessTokenClaims, Algorithm, IdTokenClaims, KeySet, KeyState, SigningKey, Validation, at_hash,
    mint_access_token, mint_id_token, new_jti, verify_access_token,
};
use serde_json::{Map, Value};

const ISSUER: &str = "https://id.gatehouse.example";
const CLIENT_ID: &str = "photo-gallery-web";
const SUBJECT: &str = "5f0c6b9e-8a57-4a43-9d1e-3c2b7f4e9a10";
const SID: &str = "Qm9vdHN0cmFwcGVkLXNlc3Npb24taWQtMDAx";
const IAT: i64 = 1_767_225_600;
const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

/// `Active` and `Next` per algorithm, in the order `KeyManager` sorts them.
fn server_key_set() -> KeySet {
    let keys = ALGORITHMS
        .into_iter()
        .flat_map(|alg| [(alg, KeyState::Active), (alg, KeyState::Next)])
        .map(|(alg, state)| {
            let key = SigningKey::generate(alg).expect("generate signing key");
            (key, state)
        })
        .collect();
    KeySet::new(keys)
}

fn access_claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.to_owned(),
        sub: SUBJECT.to_owned(),
        aud: vec![ISSUER.to_owned()],
        client_id: CLIENT_ID.to_owned(),
        scope: "openid profile email offline_access".to_owned(),
        iat: IAT,
        exp: IAT + 600,
        jti: new_jti(),
        auth_time: Some(IAT - 30),
        sid: Some(SID.to_owned()),
        grant_id: Some("FOgrR2BvTnqDdNuDyQr9Kg".to_owned()),
        store_epoch: Some("3f9a0c4e5d6b7a81".to_owned()),
        act: None,
        org_id: None,
        org_slug: None,
        org_roles: None,
    }
}

fn id_claims(access_token: &str, alg: Algorithm) -> IdTokenClaims {
    let mut extra = Map::new();
    extra.insert("email".into(), Value::from("ada.lovelace@example.com"));
    extra.insert("email_verified".into(), Value::from(true));
    IdTokenClaims {
        iss: ISSUER.to_owned(),
        sub: SUBJECT.to_owned(),
        aud: vec![CLIENT_ID.to_owned()],
        iat: IAT,
        exp: IAT + 600,
        auth_time: Some(IAT - 30),
        nonce: Some("n-0S6_WzA2Mj-8fXqL3vRkTgYp".to_owned()),
        at_hash: Some(at_hash(access_token, alg)),
        amr: Some(vec!["pwd".to_owned(), "otp".to_owned()]),
        sid: Some(SID.to_owned()),
        azp: None,
        extra,
    }
}

fn active(keys: &KeySet, alg: Algorithm) -> &SigningKey {
    keys.active(alg).expect("an active key per algorithm")
}

fn bench_mint_access_token(c: &mut Criterion) {
    let keys = server_key_set();
    let claims = access_claims();
    let mut group = c.benchmark_group("jwt/mint_access_token");
    group.throughput(Throughput::Elements(1));
    for alg in ALGORITHMS {
        let key = active(&keys, alg);
        group.bench_function(alg.name(), |b| {
            b.iter(|| mint_access_token(black_box(key), black_box(&claims)))
        });
    }
    group.finish();
}

fn bench_mint_id_token(c: &mut Criterion) {
    let keys = server_key_set();
    let mut group = c.benchmark_group("jwt/mint_id_token");
    group.throughput(Throughput::Elements(1));
    for alg in ALGORITHMS {
        let key = active(&keys, alg);
        let access_token = mint_access_token(key, &access_claims()).expect("mint access token");
        let claims = id_claims(&access_token, alg);
        group.bench_function(alg.name(), |b| {
            b.iter(|| mint_id_token(black_box(key), black_box(&claims)))
        });
    }
    group.finish();
}

fn bench_verify_access_token(c: &mut Criterion) {
    let keys = server_key_set();
    // What `Authz::verify_access_token` checks: the issuer is also the audience.
    let validation = Validation {
        audience: Some(ISSUER),
        ..Validation::new(ISSUER, IAT + 60)
    };
    let mut group = c.benchmark_group("jwt/verify_access_token");
    group.throughput(Throughput::Elements(1));
    for alg in ALGORITHMS {
        let token = mint_access_token(active(&keys, alg), &access_claims()).expect("mint");
        verify_access_token(&token, &keys, &validation).expect("a freshly minted token verifies");
        group.bench_function(alg.name(), |b| {
            b.iter(|| verify_access_token(black_box(&token), &keys, &validation))
        });
    }
    group.finish();
}

criterion_group!(
    jwt,
    bench_mint_access_token,
    bench_mint_id_token,
    bench_verify_access_token
);
criterion_main!(jwt);
