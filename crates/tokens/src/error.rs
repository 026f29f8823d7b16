//! The crate's one error type.
//!
//! Policy: verification failures get one variant per check so the server log says *why* a
//! token was refused, but the caller must answer every one of them with the same OAuth error
//! (`invalid_token`, RFC 6750 §3.1): telling a client which check failed helps only an
//! attacker. `Crypto` is an internal fault (a key that will not load) and belongs in a logged,
//! opaque 500; so does a sealed key that will not open, which is the key store's error.
//! Messages never contain key material.

use crate::algorithm::Algorithm;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, or its header or claims are not the JSON we expect.
    #[error("token is malformed")]
    Malformed,
    /// The signature does not verify under the key named by `kid`.
    #[error("token signature is invalid")]
    BadSignature,
    /// No published key has this `kid` (or it is a retired key past its publication window).
    #[error("no verification key with kid {0:?}")]
    UnknownKey(String),
    /// The header names an algorithm we never sign with: `none`, `HS256`, `PS256`, ...
    #[error("unsupported JWS algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The header's `alg` is one we use, but not the one of the key its `kid` names.
    #[error("header alg {header:?} does not match the {key:?} key it names")]
    AlgorithmMismatch { header: String, key: Algorithm },
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future, or `iat` is later than now plus leeway.
    #[error("token is not yet valid")]
    NotYetValid,
    #[error("token was issued by another issuer")]
    WrongIssuer,
    #[error("token is not meant for this audience")]
    WrongAudience,
    /// The `typ` header is not the one this kind of token carries (RFC 8725 §3.11).
    #[error("token has the wrong type")]
    WrongType,
    /// Claims we were asked to sign would make an invalid token.
    #[error("cannot mint token: {0}")]
    InvalidClaims(&'static str),
    /// Key generation, loading or signing failed inside the crypto library.
    #[error("crypto failure: {0}")]
    Crypto(String),
}
