//! Minting: claims → JSON → compact JWS (RFC 7515 §7.1) signed by a cached signer.
//!
//! Headers carry `alg`, `kid` (so verifiers pick the key, RFC 7515 §4.1.4) and `typ`:
//! `at+jwt` for access tokens (RFC 9068 §2.1) and `JWT` for ID tokens (RFC 7519 §5.1). The
//! distinct `typ` is what stops an ID token being replayed as an access token (RFC 8725 §3.11).
//! Claims are serialized straight from the typed structs, so timestamps stay integers.

use josekit::jws::JwsHeader;

use crate::claims::{AccessTokenClaims, ID_TOKEN_FIELDS, IdTokenClaims};
use crate::error::TokenError;
use crate::signing_key::SigningKey;

/// `typ` of RFC 9068 access tokens (the `application/` prefix dropped, per RFC 7515 §4.1.9).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of ID tokens (RFC 7519 §5.1).
pub const ID_TOKEN_TYP: &str = "JWT";

pub fn mint_access_token(
    key: &SigningKey,
    claims: &AccessTokenClaims,
) -> Result<String, TokenError> {
    if claims.aud.is_empty() {
        return Err(TokenError::InvalidClaims(
            "access token needs an audience (RFC 9068 §2.2)",
        ));
    }
    let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Crypto(e.to_string()))?;
    sign(key, ACCESS_TOKEN_TYP, &payload)
}

pub fn mint_id_token(key: &SigningKey, claims: &IdTokenClaims) -> Result<String, TokenError> {
    if claims.aud.is_empty() {
        return Err(TokenError::InvalidClaims(
            "ID token needs an audience (OIDC Core §2)",
        ));
    }
    if claims
        .extra
        .keys()
        .any(|name| ID_TOKEN_FIELDS.contains(&name.as_str()))
    {
        return Err(TokenError::InvalidClaims(
            "extra claims repeat a registered ID token claim",
        ));
    }
    let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Crypto(e.to_string()))?;
    sign(key, ID_TOKEN_TYP, &payload)
}

fn sign(key: &SigningKey, typ: &str, payload: &[u8]) -> Result<String, TokenError> {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    // josekit adds `alg` and `kid` from the signer, which was built once with the key.
    josekit::jws::serialize_compact(payload, &header, key.signer())
        .map_err(|e| TokenError::Crypto(e.to_string()))
}
