//! Key ids: the RFC 7638 JWK thumbprint (SHA-256, base64url without padding).
//!
//! §3.2 hashes a JSON object made of the key type's *required* public members only, in
//! lexicographic order, with no whitespace. We write that object by hand instead of
//! serializing a `serde_json::Map`: josekit turns on serde_json's `preserve_order`, so a map
//! would keep insertion order and the hash would depend on how the JWK was built.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::TokenError;

/// RFC 7638 §3 thumbprint of an `EC` or `RSA` JWK. Members other than the required ones
/// (`kid`, `alg`, `use`, private members) are ignored, as §3.2 requires.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, TokenError> {
    let canonical = canonical_json(jwk)?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

fn canonical_json(jwk: &Map<String, Value>) -> Result<String, TokenError> {
    let member = |name: &str| -> Result<String, TokenError> {
        let value = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| TokenError::Crypto(format!("JWK lacks string member {name:?}")))?;
        // §3.3: members are JSON strings with the usual minimal escaping, which serde_json emits.
        serde_json::to_string(value).map_err(|e| TokenError::Crypto(e.to_string()))
    };
    // §3.2: only the required members of each key type (RFC 7518 §6.2.1, §6.3.1), sorted.
    match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => Ok(format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        )),
        Some("RSA") => Ok(format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        )),
        other => Err(TokenError::Crypto(format!(
            "cannot thumbprint JWK of kty {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_form_is_sorted_and_ignores_optional_members() {
        let jwk = json!({"y": "Y", "x": "X", "kid": "k", "use": "sig", "kty": "EC", "crv": "P-256", "d": "secret"});
        let canonical = canonical_json(jwk.as_object().unwrap()).unwrap();
        assert_eq!(canonical, r#"{"crv":"P-256","kty":"EC","x":"X","y":"Y"}"#);
    }

    #[test]
    fn rejects_unknown_key_types_and_missing_members() {
        let oct = json!({"kty": "oct", "k": "AAAA"});
        assert!(jwk_thumbprint(oct.as_object().unwrap()).is_err());
        let no_n = json!({"kty": "RSA", "e": "AQAB"});
        assert!(jwk_thumbprint(no_n.as_object().unwrap()).is_err());
    }
}
