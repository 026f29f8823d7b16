//! `at_hash`, the ID token's binding to the access token issued with it (OIDC Core §3.1.3.6).
//!
//! Hash the ASCII access token with the hash of the ID token's `alg`, keep the left-most half,
//! base64url-encode without padding. Both of our algorithms use SHA-256, so it is 16 bytes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use crate::algorithm::Algorithm;

pub fn at_hash(access_token: &str, alg: Algorithm) -> String {
    let digest = match alg {
        Algorithm::ES256 | Algorithm::RS256 => Sha256::digest(access_token.as_bytes()),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}
