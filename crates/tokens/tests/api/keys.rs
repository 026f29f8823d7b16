//! Key ids (RFC 7638), PEM export/import, the JWKS, and what a key prints.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_tokens::{Algorithm, KeySet, KeyState, SigningKey, jwk_thumbprint};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair as _};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::*;

const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

/// RFC 7638 §3.1: the example key (RFC 7517 Appendix A.1/A.2) and its published thumbprint.
const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// The private half of the same key, from RFC 7517 Appendix A.2.
fn rfc7517_private_jwk() -> Value {
    json!({
        "kty": "RSA",
        "n": RFC7638_N,
        "e": "AQAB",
        "d": "X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q",
        "p": "83i-7IvMGXoMXCskv73TKr8637FiO7Z27zv8oj6pbWUQyLPQBQxtPVnwD20R-60eTDmD2ujnMt5PoqMrm8RfmNhVWDtjjMmCMjOpSXicFHj7XOuVIYQyqVWlWEh6dN36GVZYk93N8Bc9vY41xy8B9RzzOGVQzXvNEvn7O0nVbfs",
        "q": "3dfOR9cuYq-0S-mkFLzgItgMEfFzB2q3hWehMuG0oCuqnb3vobLyumqjVZQO1dIrdwgTnCdpYzBcOfW5r370AFXjiWft_NGEiovonizhKpo9VVS78TzFgxkIdrecRezsZ-1kYd_s1qDbxtkDEgfAITAG9LUnADun4vIcb6yelxk",
        "dp": "G4sPXkc6Ya9y8oJW9_ILj4xuppu0lzi_H7VTkS8xj5SdX3coE0oimYwxIi2emTAue0UOa5dpgFGyBJ4c8tQ2VF402XRugKDTP8akYhFo5tAA77Qe_NmtuYZc3C3m3I24G2GvR5sSDxUyAN2zq8Lfn9EUms6rY3Ob8YeiKkTiBj0",
        "dq": "s9lAH9fggBsoFR8Oac2R_E2gw282rT2kGOAhvIllETE1efrA6huUUvMfBcMpn8lqeW6vzznYY5SSQF7pMdC_agI3nG8Ibp1BUb0JUiraRNqUfLhcQb_d9GF4Dh7e74WbRsobRonujTYN1xCaP6TO61jvWrX-L18txXw494Q_cgk",
        "qi": "GyM_p6JrXySiz1toFgKbWV-JdI3jQ4ypu9rbMWx3rQJBfmt0FoYzgUIZEVFEcOqwemRN81zoDAaa-Bk0KWNGDjJHZDdDmFhW3AN7lI-puxk_mHZGJ11rxyR8O55XLSe3SPmRfKwZI6yU24ZxvQKFYItdldUKGzO6Ia6zTKhAVRU",
    })
}

/// RFC 7638 §3, written out independently of the crate: required members, sorted, no spaces.
fn independent_thumbprint(jwk: &Map<String, Value>) -> String {
    let s = |name: &str| jwk[name].as_str().unwrap().to_owned();
    let canonical = match s("kty").as_str() {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        other => panic!("unexpected kty {other}"),
    };
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[test]
fn thumbprint_matches_rfc_7638_example() {
    let jwk =
        json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
    let jwk = jwk.as_object().unwrap();
    assert_eq!(independent_thumbprint(jwk), RFC7638_THUMBPRINT);
    assert_eq!(jwk_thumbprint(jwk).unwrap(), RFC7638_THUMBPRINT);
}

#[test]
fn kid_of_rfc_example_private_key_is_its_published_thumbprint() {
    let jwk = Jwk::from_map(rfc7517_private_jwk().as_object().unwrap().clone()).unwrap();
    let pem = RsaKeyPair::from_jwk(&jwk).unwrap().to_pem_private_key();
    let key = SigningKey::from_private_pem(Algorithm::RS256, &pem).unwrap();
    assert_eq!(key.kid(), RFC7638_THUMBPRINT);
    assert_eq!(key.public_jwk()["n"], json!(RFC7638_N));
}

#[test]
fn kid_is_the_thumbprint_of_the_public_jwk() {
    for alg in ALGORITHMS {
        let key = key(alg);
        assert_eq!(
            key.kid(),
            independent_thumbprint(&key.public_jwk()),
            "{alg}"
        );
        assert_eq!(key.algorithm(), alg);
    }
}

#[test]
fn pem_round_trip_keeps_the_kid() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let pem = key.private_pem().unwrap();
        assert!(
            String::from_utf8_lossy(&pem).starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8"
        );
        let reloaded = SigningKey::from_private_pem(alg, &pem).unwrap();
        assert_eq!(reloaded.kid(), key.kid(), "{alg}");
    }
}

#[test]
fn pem_of_the_wrong_key_type_is_refused() {
    let ec_pem = key(Algorithm::ES256).private_pem().unwrap();
    let rsa_pem = key(Algorithm::RS256).private_pem().unwrap();
    assert!(SigningKey::from_private_pem(Algorithm::RS256, &ec_pem).is_err());
    assert!(SigningKey::from_private_pem(Algorithm::ES256, &rsa_pem).is_err());
    assert!(SigningKey::from_private_pem(Algorithm::ES256, b"not a pem").is_err());
}

#[test]
fn fresh_keys_get_distinct_kids() {
    let a = SigningKey::generate(Algorithm::ES256).unwrap();
    let b = SigningKey::generate(Algorithm::ES256).unwrap();
    assert_ne!(a.kid(), b.kid());
}

#[test]
fn public_jwk_has_public_members_only() {
    let es = key(Algorithm::ES256).public_jwk();
    assert_eq!(es["kty"], json!("EC"));
    assert_eq!(es["crv"], json!("P-256"));
    assert_eq!(es["alg"], json!("ES256"));
    assert_eq!(es["use"], json!("sig"));
    let rsa = key(Algorithm::RS256).public_jwk();
    assert_eq!(rsa["kty"], json!("RSA"));
    assert_eq!(rsa["e"], json!("AQAB"));
    for jwk in [es, rsa] {
        let mut names: Vec<&str> = jwk.keys().map(String::as_str).collect();
        names.sort_unstable();
        let allowed = ["alg", "crv", "e", "kid", "kty", "n", "use", "x", "y"];
        assert!(names.iter().all(|n| allowed.contains(n)), "{names:?}");
    }
}

#[test]
fn jwks_has_no_private_members_and_drops_expired_retired_keys() {
    let expired = SigningKey::generate(Algorithm::ES256).unwrap();
    let retiring = SigningKey::generate(Algorithm::ES256).unwrap();
    let next = SigningKey::generate(Algorithm::ES256).unwrap();
    let keys = KeySet::new(vec![
        (key(Algorithm::ES256).clone(), KeyState::Active),
        (key(Algorithm::RS256).clone(), KeyState::Active),
        (next.clone(), KeyState::Next),
        (retiring.clone(), KeyState::Retired { until: NOW + 10 }),
        (expired.clone(), KeyState::Retired { until: NOW - 10 }),
    ]);

    let jwks = keys.jwks(NOW);
    let published: Vec<&Value> = jwks["keys"].as_array().unwrap().iter().collect();
    let kids: Vec<&str> = published
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [
            key(Algorithm::ES256).kid(),
            key(Algorithm::RS256).kid(),
            next.kid(),
            retiring.kid()
        ]
    );
    for jwk in &published {
        for member in PRIVATE_MEMBERS {
            assert!(jwk.get(member).is_none(), "{member} in {jwk}");
        }
    }
    // After the retiring key's deadline it disappears too.
    assert_eq!(keys.jwks(NOW + 11)["keys"].as_array().unwrap().len(), 3);
}

#[test]
fn active_key_per_algorithm() {
    let next = SigningKey::generate(Algorithm::ES256).unwrap();
    let keys = KeySet::new(vec![
        (next.clone(), KeyState::Next),
        (key(Algorithm::ES256).clone(), KeyState::Active),
    ]);
    assert_eq!(
        keys.active(Algorithm::ES256).unwrap().kid(),
        key(Algorithm::ES256).kid()
    );
    assert!(keys.active(Algorithm::RS256).is_none());
    assert_eq!(keys.find(next.kid()).unwrap().kid(), next.kid());
    assert!(keys.find("nope").is_none());
}

#[test]
fn debug_output_has_no_key_material() {
    for alg in ALGORITHMS {
        let key = key(alg);
        let printed = format!("{key:?}");
        assert!(printed.contains(key.kid()));
        let pem = String::from_utf8(key.private_pem().unwrap()).unwrap();
        let body_line = pem.lines().nth(1).unwrap();
        assert!(!printed.contains(body_line), "{printed}");
        assert!(!printed.to_lowercase().contains("private"), "{printed}");
    }
}

#[test]
fn keys_can_be_shared_across_worker_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<SigningKey>();
    shareable::<KeySet>();
}
