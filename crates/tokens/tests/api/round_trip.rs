//! Mint → verify for both algorithms, and the wire shape of what we mint.

use gatehouse_tokens::{
    Algorithm, KeySet, KeyState, SigningKey, Validation, mint_access_token, mint_id_token,
    verify_access_token, verify_id_token,
};
use josekit::jwk::Jwk;
use serde_json::json;

use crate::support::*;

#[test]
fn access_token_round_trips_for_both_algorithms() {
    for alg in ALGORITHMS {
        let claims = access_claims();
        let token = mint_access_token(key(alg), &claims).unwrap();
        let verified = verify_access_token(&token, &key_set(), &validation()).unwrap();
        assert_eq!(verified, claims, "{alg}");
    }
}

#[test]
fn id_token_round_trips_for_both_algorithms() {
    for alg in ALGORITHMS {
        let mut claims = id_claims();
        claims.aud = vec![CLIENT_ID.into(), "other-client".into()];
        claims.azp = Some(CLIENT_ID.into());
        let token = mint_id_token(key(alg), &claims).unwrap();
        let v = Validation {
            audience: Some(CLIENT_ID),
            ..Validation::new(ISSUER, NOW)
        };
        assert_eq!(
            verify_id_token(&token, &key_set(), &v).unwrap(),
            claims,
            "{alg}"
        );
    }
}

#[test]
fn access_token_header_is_at_jwt_with_alg_and_kid() {
    for alg in ALGORITHMS {
        let token = mint_access_token(key(alg), &access_claims()).unwrap();
        let header = segment_json(&token, 0);
        assert_eq!(header["typ"], json!("at+jwt"));
        assert_eq!(header["alg"], json!(alg.name()));
        assert_eq!(header["kid"], json!(key(alg).kid()));
    }
}

#[test]
fn id_token_header_typ_is_jwt() {
    let token = mint_id_token(key(Algorithm::ES256), &id_claims()).unwrap();
    assert_eq!(segment_json(&token, 0)["typ"], json!("JWT"));
}

#[test]
fn timestamps_are_json_integers() {
    let access = mint_access_token(key(Algorithm::ES256), &access_claims()).unwrap();
    let id = mint_id_token(key(Algorithm::RS256), &id_claims()).unwrap();
    for token in [access, id] {
        let payload = segment_json(&token, 1);
        for claim in ["iat", "exp", "auth_time"] {
            assert!(payload[claim].is_i64(), "{claim} = {}", payload[claim]);
        }
        assert_eq!(payload["iat"], json!(NOW));
    }
}

#[test]
fn payload_carries_rfc_9068_claims_and_single_audience_as_string() {
    let claims = access_claims();
    let token = mint_access_token(key(Algorithm::ES256), &claims).unwrap();
    let payload = segment_json(&token, 1);
    assert_eq!(payload["aud"], json!(AUDIENCE));
    assert_eq!(payload["client_id"], json!(CLIENT_ID));
    assert_eq!(payload["scope"], json!("openid profile email"));
    assert_eq!(payload["jti"], json!(claims.jti));
    assert_eq!(payload["sid"], json!("session-1"));
}

#[test]
fn id_token_payload_flattens_extra_claims_and_omits_none() {
    let token = mint_id_token(key(Algorithm::ES256), &id_claims()).unwrap();
    let payload = segment_json(&token, 1);
    assert_eq!(payload["email"], json!("user42@example.test"));
    assert_eq!(payload["aud"], json!(CLIENT_ID));
    assert!(payload.get("azp").is_none());
    assert!(payload.get("extra").is_none());
}

#[test]
fn array_audience_is_accepted_when_parsing() {
    let key = key(Algorithm::ES256);
    let mut payload = access_payload();
    payload["aud"] = json!(["https://other.test", AUDIENCE]);
    let token = hand_built(&access_header(key), &payload, |m| {
        raw_signer(key).sign(m).unwrap()
    });
    let claims = verify_access_token(&token, &key_set(), &validation()).unwrap();
    assert_eq!(
        claims.aud,
        vec!["https://other.test".to_string(), AUDIENCE.into()]
    );
}

#[test]
fn josekit_verifies_our_tokens_with_the_published_jwk() {
    let jwks = key_set().jwks(NOW);
    for alg in ALGORITHMS {
        let token = mint_access_token(key(alg), &access_claims()).unwrap();
        let published = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|jwk| jwk["kid"] == json!(key(alg).kid()))
            .unwrap();
        let jwk = Jwk::from_map(published.as_object().unwrap().clone()).unwrap();
        let result = match alg {
            Algorithm::ES256 => josekit::jwt::decode_with_verifier(
                &token,
                &josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap(),
            ),
            Algorithm::RS256 => josekit::jwt::decode_with_verifier(
                &token,
                &josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap(),
            ),
        };
        assert!(result.is_ok(), "{alg}: {result:?}");
    }
}

#[test]
fn leeway_and_missing_audience_check() {
    let mut claims = access_claims();
    claims.exp = NOW - 10;
    let token = mint_access_token(key(Algorithm::ES256), &claims).unwrap();
    let lenient = Validation {
        leeway_secs: 30,
        audience: None,
        ..validation()
    };
    assert!(verify_access_token(&token, &key_set(), &lenient).is_ok());
}

#[test]
fn next_and_unexpired_retired_keys_verify() {
    let next = SigningKey::generate(Algorithm::ES256).unwrap();
    let retired = SigningKey::generate(Algorithm::ES256).unwrap();
    let keys = KeySet::new(vec![
        (key(Algorithm::ES256).clone(), KeyState::Active),
        (next.clone(), KeyState::Next),
        (retired.clone(), KeyState::Retired { until: NOW + 60 }),
    ]);
    for signer in [&next, &retired] {
        let token = mint_access_token(signer, &access_claims()).unwrap();
        assert!(verify_access_token(&token, &keys, &validation()).is_ok());
    }
}
