//! Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4): every claim and the header as a
//! relying party reads them, verification against the published JWKS, and what minting refuses.

use gatehouse_tokens::{
    Algorithm, KeySet, LogoutEvents, LogoutTokenClaims, TokenError, mint_logout_token, new_jti,
};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Value, json};

use crate::support::*;

fn logout_claims() -> LogoutTokenClaims {
    LogoutTokenClaims {
        iss: ISSUER.into(),
        aud: vec![CLIENT_ID.into()],
        iat: NOW,
        exp: NOW + 120,
        jti: new_jti(),
        events: LogoutEvents::default(),
        sub: Some("user-42".into()),
        sid: Some("session-1".into()),
    }
}

/// Verifies `token` the way a relying party does: the key by `kid` from the JWKS document
/// (not from the crate's key objects), josekit's verifier for the header's `alg`.
fn verify_with_jwks(token: &str, jwks: &Value) -> (Value, Value) {
    let header = segment_json(token, 0);
    let kid = header["kid"].as_str().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let jwk = Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier: Box<dyn JwsVerifier> = match header["alg"].as_str().unwrap() {
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
        "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
        other => panic!("unexpected alg {other}"),
    };
    let (payload, _) = josekit::jws::deserialize_compact(token, verifier.as_ref()).unwrap();
    (header, serde_json::from_slice(&payload).unwrap())
}

#[test]
fn a_logout_token_carries_exactly_the_claims_of_section_2_4() {
    let jwks = key_set().jwks(NOW);
    for alg in ALGORITHMS {
        let claims = logout_claims();
        let token = mint_logout_token(key(alg), &claims).unwrap();
        let (header, payload) = verify_with_jwks(&token, &jwks);

        assert_eq!(header["typ"], json!("logout+jwt"), "{alg}");
        assert_eq!(header["alg"], json!(alg.name()));
        assert_eq!(header["kid"], json!(key(alg).kid()));

        assert_eq!(
            payload,
            json!({
                "iss": ISSUER,
                "aud": CLIENT_ID,
                "iat": NOW,
                "exp": NOW + 120,
                "jti": claims.jti,
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
                "sub": "user-42",
                "sid": "session-1",
            }),
            "{alg}"
        );
        assert!(payload["iat"].is_i64() && payload["exp"].is_i64());
        assert!(
            payload.get("nonce").is_none(),
            "§2.4: MUST NOT contain nonce"
        );
    }
}

#[test]
fn sub_or_sid_alone_is_enough_and_absent_claims_are_left_out() {
    let jwks = key_set().jwks(NOW);
    for (sub, sid) in [(Some("user-42"), None), (None, Some("session-1"))] {
        let claims = LogoutTokenClaims {
            sub: sub.map(str::to_owned),
            sid: sid.map(str::to_owned),
            ..logout_claims()
        };
        let token = mint_logout_token(key(Algorithm::ES256), &claims).unwrap();
        let (_, payload) = verify_with_jwks(&token, &jwks);
        assert_eq!(payload.get("sub").is_some(), sub.is_some(), "{payload}");
        assert_eq!(payload.get("sid").is_some(), sid.is_some(), "{payload}");
        let parsed: LogoutTokenClaims = serde_json::from_value(payload).unwrap();
        assert_eq!(parsed, claims);
    }
}

#[test]
fn a_key_not_in_the_jwks_does_not_verify() {
    let other = gatehouse_tokens::SigningKey::generate(Algorithm::ES256).unwrap();
    let token = mint_logout_token(&other, &logout_claims()).unwrap();
    let published = KeySet::new(vec![(
        key(Algorithm::ES256).clone(),
        gatehouse_tokens::KeyState::Active,
    )])
    .jwks(NOW);
    let kid = segment_json(&token, 0)["kid"].clone();
    assert!(
        published["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|key| key["kid"] != kid)
    );
    // Signed by our published key's algorithm but another key: the signature fails.
    let jwk = Jwk::from_map(published["keys"][0].as_object().unwrap().clone()).unwrap();
    let verifier = josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap();
    assert!(josekit::jws::deserialize_compact(&token, &verifier).is_err());
}

#[test]
fn minting_refuses_what_section_2_4_forbids() {
    let key = key(Algorithm::RS256);
    let refused = [
        LogoutTokenClaims {
            sub: None,
            sid: None,
            ..logout_claims()
        },
        LogoutTokenClaims {
            aud: vec![],
            ..logout_claims()
        },
        LogoutTokenClaims {
            exp: NOW + 121,
            ..logout_claims()
        },
        LogoutTokenClaims {
            exp: NOW,
            ..logout_claims()
        },
    ];
    for claims in refused {
        assert!(
            matches!(
                mint_logout_token(key, &claims),
                Err(TokenError::InvalidClaims(_))
            ),
            "{claims:?}"
        );
    }
    // The boundary itself passes.
    let shortest = LogoutTokenClaims {
        exp: NOW + 1,
        ..logout_claims()
    };
    assert!(mint_logout_token(key, &shortest).is_ok());
}

/// RFC 8725 §3.11: the explicit `typ` keeps a logout token from passing as another token.
#[test]
fn a_logout_token_is_neither_an_id_token_nor_an_access_token() {
    let token = mint_logout_token(key(Algorithm::ES256), &logout_claims()).unwrap();
    let v = gatehouse_tokens::Validation {
        audience: Some(CLIENT_ID),
        ..gatehouse_tokens::Validation::new(ISSUER, NOW)
    };
    assert!(matches!(
        gatehouse_tokens::verify_id_token(&token, &key_set(), &v),
        Err(TokenError::WrongType)
    ));
    assert!(matches!(
        gatehouse_tokens::verify_access_token(&token, &key_set(), &v),
        Err(TokenError::WrongType)
    ));
}
