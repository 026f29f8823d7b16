//! Verification of tokens we minted.
//!
//! josekit only checks signatures, and its one-call decoders trust the header to pick how.
//! So the order here is ours, following RFC 8725 §3.1 and RFC 7515 §5.2:
//!
//! 1. split the compact JWS and decode the header without trusting it;
//! 2. `alg` must be ES256 or RS256 — `none`, HS256 (the "public key as HMAC secret" attack)
//!    and everything else are refused before any key is looked at; `crit` is refused since
//!    we understand no extensions (RFC 7515 §4.1.11); `jku`/`jwk`/`x5u` are ignored, never
//!    fetched or trusted;
//! 3. `kid` must name a published key whose algorithm equals `alg`;
//! 4. the signature is checked with that key's cached verifier;
//! 5. `typ` must be this kind of token's (RFC 9068 §4, RFC 8725 §3.11);
//! 6. `exp`, `nbf`, `iat` against `now` with leeway (RFC 7519 §4.1.4–4.1.6), then `iss`
//!    (exact) and `aud` (contains, RFC 7519 §4.1.3).
//!
//! Timestamps must be integers; a token with fractional ones is `Malformed` (we never mint it).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::algorithm::Algorithm;
use crate::claims::{AccessTokenClaims, IdTokenClaims, audience};
use crate::error::TokenError;
use crate::key_set::KeySet;
use crate::mint::{ACCESS_TOKEN_TYP, ID_TOKEN_TYP};

/// Larger than any token we mint by an order of magnitude; bounds the work an attacker can
/// make us do before the signature check.
const MAX_TOKEN_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    /// Must equal `iss` exactly.
    pub issuer: &'a str,
    /// When set, `aud` must contain it. `None` skips the check (e.g. an `id_token_hint`,
    /// which may name any client).
    pub audience: Option<&'a str>,
    /// `None` means this kind's default: `at+jwt` for access tokens; for ID tokens, `JWT`
    /// or no `typ` at all. Compared case-insensitively, `application/` prefix optional
    /// (RFC 7515 §4.1.9).
    pub expected_typ: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`; negative counts as zero.
    pub leeway_secs: i64,
}

impl<'a> Validation<'a> {
    /// No audience check, default `typ`, no leeway.
    pub fn new(issuer: &'a str, now: i64) -> Self {
        Self {
            issuer,
            audience: None,
            expected_typ: None,
            now,
            leeway_secs: 0,
        }
    }
}

pub fn verify_access_token(
    token: &str,
    keys: &KeySet,
    v: &Validation,
) -> Result<AccessTokenClaims, TokenError> {
    verify_access_token_for_reuse(token, keys, v).map(|verified| verified.claims)
}

/// An access token that passed [`verify_access_token`], with what it takes to accept it again
/// without its signature (a cache of verified tokens, keyed by the token's hash):
/// [`VerifiedAccessToken::revalidate`].
#[derive(Debug, Clone)]
pub struct VerifiedAccessToken {
    pub claims: AccessTokenClaims,
    /// The key whose signature passed (an RFC 7638 thumbprint, so it names that key alone).
    kid: String,
    nbf: Option<i64>,
}

impl VerifiedAccessToken {
    /// Checks again everything of [`verify_access_token`] that can change after the signature
    /// passed: the key must still be published at `v.now` (a retired key past its window
    /// takes its tokens with it), and `exp`, `nbf`, `iat`, `iss` and `aud` must hold against
    /// `v`. The `typ` and the signature cannot change for the same token bytes.
    pub fn revalidate(&self, keys: &KeySet, v: &Validation) -> Result<(), TokenError> {
        if keys.verification_key(&self.kid, v.now).is_none() {
            return Err(TokenError::UnknownKey(self.kid.clone()));
        }
        let claims = &self.claims;
        check_registered_claims(
            RegisteredClaimsRef {
                iss: &claims.iss,
                aud: &claims.aud,
                exp: claims.exp,
                iat: claims.iat,
                nbf: self.nbf,
            },
            v,
        )
    }
}

/// [`verify_access_token`], keeping what [`VerifiedAccessToken::revalidate`] needs.
pub fn verify_access_token_for_reuse(
    token: &str,
    keys: &KeySet,
    v: &Validation,
) -> Result<VerifiedAccessToken, TokenError> {
    let verified = verify_signature(token, keys, v.now)?;
    let expected = v.expected_typ.unwrap_or(ACCESS_TOKEN_TYP);
    if !verified
        .typ
        .as_deref()
        .is_some_and(|typ| typ_matches(typ, expected))
    {
        return Err(TokenError::WrongType);
    }
    let registered: RegisteredClaims = parse_json(&verified.payload)?;
    check_registered_claims(registered.as_ref(), v)?;
    Ok(VerifiedAccessToken {
        claims: parse_json(&verified.payload)?,
        kid: verified.kid,
        nbf: registered.nbf,
    })
}

pub fn verify_id_token(
    token: &str,
    keys: &KeySet,
    v: &Validation,
) -> Result<IdTokenClaims, TokenError> {
    let verified = verify_signature(token, keys, v.now)?;
    let typ_ok = match (v.expected_typ, verified.typ.as_deref()) {
        (Some(expected), Some(typ)) => typ_matches(typ, expected),
        (Some(_), None) => false,
        // OIDC Core does not require `typ` on ID tokens, but an `at+jwt` is never one.
        (None, Some(typ)) => typ_matches(typ, ID_TOKEN_TYP),
        (None, None) => true,
    };
    if !typ_ok {
        return Err(TokenError::WrongType);
    }
    let registered: RegisteredClaims = parse_json(&verified.payload)?;
    check_registered_claims(registered.as_ref(), v)?;
    parse_json(&verified.payload)
}

/// The header members we read; everything else is ignored, never acted on.
#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<IgnoredAny>,
}

/// The claims every token of ours carries and that [`check_registered_claims`] validates.
#[derive(serde::Deserialize)]
struct RegisteredClaims {
    iss: String,
    #[serde(deserialize_with = "audience::deserialize")]
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: Option<i64>,
}

impl RegisteredClaims {
    fn as_ref(&self) -> RegisteredClaimsRef<'_> {
        RegisteredClaimsRef {
            iss: &self.iss,
            aud: &self.aud,
            exp: self.exp,
            iat: self.iat,
            nbf: self.nbf,
        }
    }
}

/// What [`check_registered_claims`] reads, borrowed from wherever the claims are.
#[derive(Clone, Copy)]
struct RegisteredClaimsRef<'a> {
    iss: &'a str,
    aud: &'a [String],
    exp: i64,
    iat: i64,
    nbf: Option<i64>,
}

struct Verified {
    typ: Option<String>,
    kid: String,
    payload: Vec<u8>,
}

fn verify_signature(token: &str, keys: &KeySet, now: i64) -> Result<Verified, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    if payload.contains('.') {
        return Err(TokenError::Malformed);
    }

    let header: Header = parse_json(&decode_part(header)?)?;
    let alg = Algorithm::from_name(&header.alg)
        .ok_or_else(|| TokenError::UnsupportedAlgorithm(header.alg.clone()))?;
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    let kid = header.kid.ok_or(TokenError::Malformed)?;
    let key = keys
        .verification_key(&kid, now)
        .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
    if key.algorithm() != alg {
        return Err(TokenError::AlgorithmMismatch {
            header: header.alg,
            key: key.algorithm(),
        });
    }

    key.verifier()
        .verify(signing_input.as_bytes(), &decode_part(signature)?)
        .map_err(|_| TokenError::BadSignature)?;
    Ok(Verified {
        typ: header.typ,
        kid,
        payload: decode_part(payload)?,
    })
}

fn check_registered_claims(
    claims: RegisteredClaimsRef<'_>,
    v: &Validation,
) -> Result<(), TokenError> {
    let leeway = v.leeway_secs.max(0);
    // Saturating: `exp` and friends are attacker-chosen and must not overflow into a pass.
    if v.now.saturating_sub(leeway) >= claims.exp {
        return Err(TokenError::Expired);
    }
    let latest_acceptable = v.now.saturating_add(leeway);
    if claims.nbf.is_some_and(|nbf| nbf > latest_acceptable) || claims.iat > latest_acceptable {
        return Err(TokenError::NotYetValid);
    }
    if claims.iss != v.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if let Some(expected) = v.audience
        && !claims.aud.iter().any(|aud| aud == expected)
    {
        return Err(TokenError::WrongAudience);
    }
    Ok(())
}

/// RFC 7515 §4.1.9: media types compare case-insensitively, and `application/` may be
/// left off when no other `/` follows.
fn typ_matches(actual: &str, expected: &str) -> bool {
    fn subtype(typ: &str) -> &str {
        const PREFIX: &str = "application/";
        match (typ.get(..PREFIX.len()), typ.get(PREFIX.len()..)) {
            (Some(prefix), Some(rest))
                if prefix.eq_ignore_ascii_case(PREFIX) && !rest.contains('/') =>
            {
                rest
            }
            _ => typ,
        }
    }
    subtype(actual).eq_ignore_ascii_case(subtype(expected))
}

/// Strict base64url without padding: the base64 engine also refuses non-canonical trailing
/// bits, so one token has exactly one encoding.
fn decode_part(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TokenError> {
    serde_json::from_slice(bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::typ_matches;

    #[test]
    fn typ_comparison_follows_rfc_7515() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "application/at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("at+jwt", "JWT"));
        assert!(!typ_matches("application/x/at+jwt", "at+jwt"));
        assert!(!typ_matches("", "at+jwt"));
    }
}
