//! Proof Key for Code Exchange (RFC 7636), S256 only.
//!
//! - RFC 7636 §4.3 / RFC 9700 §2.1.1: public clients MUST send a challenge; every client that
//!   sends one is held to it. `plain` is refused (RFC 9700 §2.1.1: S256 is the method to use;
//!   RFC 7636 §4.2 lets a server refuse `plain`), and since RFC 7636 §4.3 makes `plain` the
//!   default, a challenge without `code_challenge_method` is refused too.
//! - RFC 7636 §4.1 / §4.2: verifier and challenge are 43–128 characters of
//!   `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
//! - RFC 7636 §4.6: the comparison `BASE64URL(SHA256(verifier)) == challenge` is oxide-auth's
//!   `Pkce` extension (constant time), fed through the grant's extension data.
//! - RFC 9700 §4.8.2 (PKCE downgrade): a verifier sent for a code issued without a challenge is
//!   refused, so an attacker cannot strip the challenge from the authorization request.

use std::borrow::Cow;

use oxide_auth::code_grant::extensions::Pkce;
use oxide_auth::primitives::grant::{Extensions, Value};

pub const S256: &str = "S256";

/// RFC 7636 §4.1 `code-verifier = 43*128unreserved`, and the same for the challenge (§4.2).
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Validates the authorization request's PKCE parameters and returns the extension value to
/// store with the code (`None` when no challenge was sent and none is required). The error is
/// the `error_description` of an `invalid_request`.
pub fn challenge(
    method: Option<&str>,
    challenge: Option<&str>,
    required: bool,
) -> Result<Option<Value>, &'static str> {
    match (method, challenge) {
        (None, None) if required => {
            return Err("code_challenge is required for public clients (PKCE with S256)");
        }
        (None, None) => return Ok(None),
        (Some(_), None) => return Err("code_challenge_method was sent without code_challenge"),
        (None, Some(_)) | (Some("plain"), Some(_)) => {
            return Err("code_challenge_method must be S256; plain is not supported");
        }
        (Some(method), Some(_)) if method != S256 => {
            return Err("code_challenge_method must be S256");
        }
        (Some(_), Some(challenge)) if !is_well_formed(challenge) => {
            return Err("code_challenge must be 43 to 128 unreserved characters");
        }
        (Some(_), Some(_)) => {}
    }
    let extension = if required {
        Pkce::required()
    } else {
        Pkce::optional()
    };
    extension
        .challenge(method.map(Cow::Borrowed), challenge.map(Cow::Borrowed))
        .map_err(|()| "code_challenge is not acceptable")
}

/// Checks the token request's `code_verifier` against the challenge stored in the grant's
/// extensions (which it removes). The error is the `error_description` of an `invalid_grant`
/// (RFC 7636 §4.6).
pub fn verify(extensions: &mut Extensions, verifier: Option<&str>) -> Result<(), &'static str> {
    let pkce = Pkce::optional();
    let stored = extensions.remove(&pkce);
    match (&stored, verifier) {
        (None, None) => return Ok(()),
        (None, Some(_)) => {
            return Err(
                "code_verifier was sent but no code_challenge was in the authorization request",
            );
        }
        (Some(_), None) => return Err("code_verifier is required"),
        (Some(_), Some(verifier)) if !is_well_formed(verifier) => {
            return Err("code_verifier must be 43 to 128 unreserved characters");
        }
        (Some(_), Some(_)) => {}
    }
    pkce.verify(stored, verifier.map(Cow::Borrowed))
        .map_err(|()| "code_verifier does not match the code_challenge")
}

/// The extension's identifier, for storing its value alongside the grant.
pub fn extension_name() -> &'static str {
    use oxide_auth::primitives::grant::GrantExtension as _;
    Pkce::optional().identifier()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::{Digest as _, Sha256};

    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    // RFC 7636 Appendix B.
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn stored(challenge_value: Option<Value>) -> Extensions {
        let mut extensions = Extensions::new();
        if let Some(value) = challenge_value {
            extensions.set(&Pkce::optional(), value);
        }
        extensions
    }

    #[test]
    fn the_rfc_7636_appendix_b_example_verifies() {
        assert_eq!(
            URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes())),
            CHALLENGE
        );
        let value = challenge(Some("S256"), Some(CHALLENGE), true).unwrap();
        assert!(verify(&mut stored(value.clone()), Some(VERIFIER)).is_ok());
        let wrong = "x".repeat(43);
        assert!(verify(&mut stored(value), Some(&wrong)).is_err());
    }

    #[test]
    fn plain_missing_method_and_bad_shapes_are_refused() {
        assert!(challenge(Some("plain"), Some(CHALLENGE), false).is_err());
        assert!(challenge(None, Some(CHALLENGE), false).is_err());
        assert!(challenge(Some("S512"), Some(CHALLENGE), false).is_err());
        assert!(challenge(Some("S256"), None, false).is_err());
        assert!(challenge(Some("S256"), Some("short"), false).is_err());
        assert!(challenge(Some("S256"), Some(&"a".repeat(129)), false).is_err());
        assert!(challenge(Some("S256"), Some(&format!("{}!", "a".repeat(43))), false).is_err());
        assert!(challenge(None, None, true).is_err());
        assert_eq!(challenge(None, None, false), Ok(None));
    }

    #[test]
    fn verifier_rules() {
        let value = challenge(Some("S256"), Some(CHALLENGE), false).unwrap();
        assert!(verify(&mut stored(value.clone()), None).is_err());
        assert!(verify(&mut stored(value), Some("short")).is_err());
        assert!(verify(&mut stored(None), Some(VERIFIER)).is_err());
        assert!(verify(&mut stored(None), None).is_ok());
    }
}
