//! `at_hash` (OIDC Core §3.1.3.6).

use gatehouse_tokens::{Algorithm, at_hash, mint_access_token};
use sha2::{Digest as _, Sha256};

use crate::support::*;

#[test]
fn matches_the_oidc_core_example() {
    // OIDC Core Appendix A.4: this access token and its at_hash.
    let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
    assert_eq!(at_hash(token, Algorithm::RS256), "77QmUPtjPfzWtF2AnpK9RQ");
    assert_eq!(at_hash(token, Algorithm::ES256), "77QmUPtjPfzWtF2AnpK9RQ");
}

#[test]
fn is_the_left_half_of_sha256_of_a_real_token() {
    let token = mint_access_token(key(Algorithm::ES256), &access_claims()).unwrap();
    let digest = Sha256::digest(token.as_bytes());
    assert_eq!(at_hash(&token, Algorithm::ES256), b64(&digest[..16]));
    assert_eq!(at_hash(&token, Algorithm::ES256).len(), 22);
}
