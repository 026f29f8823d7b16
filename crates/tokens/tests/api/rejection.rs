//! Every way a token must be refused. Each case starts from a token that verifies, changes
//! one thing, and asserts the specific error, so a check that silently stops running fails.

use gatehouse_tokens::{
    Algorithm, KeySet, KeyState, SigningKey, TokenError, Validation, mint_access_token,
    mint_id_token, verify_access_token, verify_id_token,
};
use josekit::jws::HS256;
use serde_json::json;

use crate::support::*;

fn verify(token: &str) -> Result<(), TokenError> {
    verify_access_token(token, &key_set(), &validation()).map(drop)
}

fn mint_with(change: impl FnOnce(&mut gatehouse_tokens::AccessTokenClaims)) -> String {
    let mut claims = access_claims();
    change(&mut claims);
    mint_access_token(key(Algorithm::ES256), &claims).unwrap()
}

#[test]
fn baseline_verifies() {
    verify(&mint_with(|_| {})).unwrap();
}

#[test]
fn expired() {
    assert!(matches!(
        verify(&mint_with(|c| c.exp = NOW - 1)),
        Err(TokenError::Expired)
    ));
    // RFC 7519 §4.1.4: not accepted *on* or after exp.
    assert!(matches!(
        verify(&mint_with(|c| c.exp = NOW)),
        Err(TokenError::Expired)
    ));
    let lenient = Validation {
        leeway_secs: 5,
        ..validation()
    };
    let token = mint_with(|c| c.exp = NOW - 5);
    assert!(matches!(
        verify_access_token(&token, &key_set(), &lenient),
        Err(TokenError::Expired)
    ));
}

#[test]
fn issued_in_the_future() {
    let token = mint_with(|c| c.iat = NOW + 60);
    assert!(matches!(verify(&token), Err(TokenError::NotYetValid)));
    let lenient = Validation {
        leeway_secs: 60,
        ..validation()
    };
    assert!(verify_access_token(&token, &key_set(), &lenient).is_ok());
}

#[test]
fn not_before_in_the_future() {
    let key = key(Algorithm::ES256);
    let mut payload = access_payload();
    payload["nbf"] = json!(NOW + 60);
    let token = hand_built(&access_header(key), &payload, |m| {
        raw_signer(key).sign(m).unwrap()
    });
    assert!(matches!(verify(&token), Err(TokenError::NotYetValid)));
    payload["nbf"] = json!(NOW);
    let token = hand_built(&access_header(key), &payload, |m| {
        raw_signer(key).sign(m).unwrap()
    });
    verify(&token).unwrap();
}

#[test]
fn huge_exp_does_not_overflow_into_acceptance() {
    let token = mint_with(|c| c.exp = i64::MIN);
    let lenient = Validation {
        leeway_secs: i64::MAX,
        ..validation()
    };
    assert!(matches!(
        verify_access_token(&token, &key_set(), &lenient),
        Err(TokenError::Expired)
    ));
}

#[test]
fn wrong_issuer() {
    let token = mint_with(|c| c.iss = "https://evil.example".into());
    assert!(matches!(verify(&token), Err(TokenError::WrongIssuer)));
}

#[test]
fn wrong_audience() {
    let token = mint_with(|c| c.aud = vec!["https://other-api.example".into()]);
    assert!(matches!(verify(&token), Err(TokenError::WrongAudience)));
}

#[test]
fn tampered_payload() {
    for alg in ALGORITHMS {
        let token = mint_access_token(key(alg), &access_claims()).unwrap();
        let mut payload = segment_json(&token, 1);
        payload["sub"] = json!("admin");
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_vec(&payload).unwrap()),
            parts[2]
        );
        assert!(
            matches!(verify(&forged), Err(TokenError::BadSignature)),
            "{alg}"
        );
    }
}

#[test]
fn tampered_signature() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for alg in ALGORITHMS {
        let token = mint_access_token(key(alg), &access_claims()).unwrap();
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        signature[10] ^= 0x01;
        let forged = format!("{signing_input}.{}", b64(&signature));
        assert!(
            matches!(verify(&forged), Err(TokenError::BadSignature)),
            "{alg}"
        );
        let truncated = format!("{signing_input}.{}", b64(&signature[..signature.len() - 1]));
        assert!(
            matches!(verify(&truncated), Err(TokenError::BadSignature)),
            "{alg}"
        );
    }
}

#[test]
fn alg_none() {
    let key = key(Algorithm::ES256);
    for none in ["none", "None", "NONE"] {
        let header = json!({"alg": none, "typ": "at+jwt", "kid": key.kid()});
        let token = hand_built(&header, &access_payload(), |_| Vec::new());
        assert!(token.ends_with('.'));
        assert!(
            matches!(verify(&token), Err(TokenError::UnsupportedAlgorithm(ref a)) if a == none),
            "{none}"
        );
    }
}

#[test]
fn hs256_keyed_with_the_public_key() {
    // The classic confusion attack: HMAC "secret" = the published public key.
    let key = key(Algorithm::RS256);
    let secret = serde_json::to_vec(&key.public_jwk()).unwrap();
    let hmac = HS256.signer_from_bytes(&secret).unwrap();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": key.kid()});
    let token = hand_built(&header, &access_payload(), |m| {
        josekit::jws::JwsSigner::sign(&hmac, m).unwrap()
    });
    assert!(matches!(verify(&token), Err(TokenError::UnsupportedAlgorithm(ref a)) if a == "HS256"));
}

#[test]
fn unknown_kid() {
    let stranger = SigningKey::generate(Algorithm::ES256).unwrap();
    let token = mint_access_token(&stranger, &access_claims()).unwrap();
    assert!(
        matches!(verify(&token), Err(TokenError::UnknownKey(ref kid)) if kid == stranger.kid())
    );

    let header = json!({"alg": "ES256", "typ": "at+jwt"});
    let es = key(Algorithm::ES256);
    let no_kid = hand_built(&header, &access_payload(), |m| {
        raw_signer(es).sign(m).unwrap()
    });
    assert!(matches!(verify(&no_kid), Err(TokenError::Malformed)));
}

#[test]
fn rs256_signature_under_an_es256_kid() {
    let es = key(Algorithm::ES256);
    let rsa = raw_signer(key(Algorithm::RS256));

    // Honest about its alg: the kid's key is ES256, so the header's RS256 is refused.
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": es.kid()});
    let token = hand_built(&header, &access_payload(), |m| rsa.sign(m).unwrap());
    assert!(matches!(
        verify(&token),
        Err(TokenError::AlgorithmMismatch { ref header, key: Algorithm::ES256 }) if header == "RS256"
    ));

    // Lying about its alg: claims ES256, carries an RSA signature.
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": es.kid()});
    let token = hand_built(&header, &access_payload(), |m| rsa.sign(m).unwrap());
    assert!(matches!(verify(&token), Err(TokenError::BadSignature)));
}

#[test]
fn token_types_are_not_interchangeable() {
    let key = key(Algorithm::ES256);
    let id_token = mint_id_token(key, &id_claims()).unwrap();
    assert!(matches!(verify(&id_token), Err(TokenError::WrongType)));

    let access_token = mint_access_token(key, &access_claims()).unwrap();
    let v = Validation::new(ISSUER, NOW);
    assert!(matches!(
        verify_id_token(&access_token, &key_set(), &v),
        Err(TokenError::WrongType)
    ));

    let header = json!({"alg": "ES256", "kid": key.kid()});
    let untyped = hand_built(&header, &access_payload(), |m| {
        raw_signer(key).sign(m).unwrap()
    });
    assert!(matches!(verify(&untyped), Err(TokenError::WrongType)));
}

#[test]
fn retired_key_past_its_deadline() {
    let retired = key(Algorithm::ES256);
    let token = mint_access_token(retired, &access_claims()).unwrap();
    let keys = KeySet::new(vec![(
        retired.clone(),
        KeyState::Retired { until: NOW - 1 },
    )]);
    assert!(matches!(
        verify_access_token(&token, &keys, &validation()),
        Err(TokenError::UnknownKey(_))
    ));
}

#[test]
fn malformed_inputs() {
    let key = key(Algorithm::ES256);
    let good = mint_access_token(key, &access_claims()).unwrap();
    let oversized = format!("{good}{}", "A".repeat(20_000));
    let five_parts = format!("{good}.AA.AA");
    for token in [
        "",
        "abc",
        "a.b",
        "...",
        "!!.!!.!!",
        five_parts.as_str(),
        oversized.as_str(),
    ] {
        assert!(
            matches!(verify(token), Err(TokenError::Malformed)),
            "{token:.40}"
        );
    }

    let crit =
        json!({"alg": "ES256", "typ": "at+jwt", "kid": key.kid(), "crit": ["exp"], "exp": 1});
    let token = hand_built(&crit, &access_payload(), |m| {
        raw_signer(key).sign(m).unwrap()
    });
    assert!(matches!(verify(&token), Err(TokenError::Malformed)));

    let mut payload = access_payload();
    payload["exp"] = json!((NOW + 300) as f64 + 0.5);
    let token = hand_built(&access_header(key), &payload, |m| {
        raw_signer(key).sign(m).unwrap()
    });
    assert!(matches!(verify(&token), Err(TokenError::Malformed)));
}

#[test]
fn minting_refuses_claims_that_would_make_a_bad_token() {
    let key = key(Algorithm::ES256);
    let mut access = access_claims();
    access.aud.clear();
    assert!(matches!(
        mint_access_token(key, &access),
        Err(TokenError::InvalidClaims(_))
    ));

    let mut id = id_claims();
    id.extra.insert("iss".into(), json!("https://evil.example"));
    assert!(matches!(
        mint_id_token(key, &id),
        Err(TokenError::InvalidClaims(_))
    ));
}
