//! Minting: claims → JSON → compact JWS (RFC 7515 §7.1) signed by a cached signer.
//!
//! Headers carry `alg`, `kid` (so verifiers pick the key, RFC 7515 §4.1.4) and `typ`:
//! `at+jwt` for access tokens (RFC 9068 §2.1), `JWT` for ID tokens (RFC 7519 §5.1) and
//! `logout+jwt` for logout tokens (Back-Channel Logout 1.0 §2.4). The distinct `typ` is what
//! stops one kind being replayed as another (RFC 8725 §3.11).
//! Claims are serialized straight from the typed structs, so timestamps stay integers.

use josekit::jws::JwsHeader;

use crate::claims::{AccessTokenClaims, ID_TOKEN_FIELDS, IdTokenClaims, LogoutTokenClaims};
use crate::error::TokenError;
use crate::signing_key::SigningKey;

/// `typ` of RFC 9068 access tokens (the `application/` prefix dropped, per RFC 7515 §4.1.9).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of ID tokens (RFC 7519 §5.1).
pub const ID_TOKEN_TYP: &str = "JWT";
/// `typ` of logout tokens (Back-Channel Logout 1.0 §2.4, RECOMMENDED "to prevent
/// cross-JWT confusion").
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// Back-Channel Logout 1.0 §2.4: "the expiration time [...] RECOMMENDED to be at most two minutes
/// after issuance".
pub const LOGOUT_TOKEN_MAX_LIFETIME_SECS: i64 = 120;

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

/// Back-Channel Logout 1.0 §2.4: refuses a token without `aud`, with neither `sub` nor `sid`
/// ("MUST contain either a sub or a sid Claim, and MAY contain both"), or whose `exp` is not
/// within [`LOGOUT_TOKEN_MAX_LIFETIME_SECS`] after `iat`. It cannot carry a `nonce` (the claim
/// set has no such field).
pub fn mint_logout_token(
    key: &SigningKey,
    claims: &LogoutTokenClaims,
) -> Result<String, TokenError> {
    if claims.aud.is_empty() {
        return Err(TokenError::InvalidClaims(
            "logout token needs an audience (Back-Channel Logout §2.4)",
        ));
    }
    if claims.sub.is_none() && claims.sid.is_none() {
        return Err(TokenError::InvalidClaims(
            "logout token needs sub or sid (Back-Channel Logout §2.4)",
        ));
    }
    let lifetime = claims.exp.saturating_sub(claims.iat);
    if !(1..=LOGOUT_TOKEN_MAX_LIFETIME_SECS).contains(&lifetime) {
        return Err(TokenError::InvalidClaims(
            "logout token must expire within two minutes of iat (Back-Channel Logout §2.4)",
        ));
    }
    let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Crypto(e.to_string()))?;
    sign(key, LOGOUT_TOKEN_TYP, &payload)
}

fn sign(key: &SigningKey, typ: &str, payload: &[u8]) -> Result<String, TokenError> {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    // josekit adds `alg` and `kid` from the signer, which was built once with the key.
    josekit::jws::serialize_compact(payload, &header, key.signer())
        .map_err(|e| TokenError::Crypto(e.to_string()))
}
