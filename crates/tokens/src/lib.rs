//! Signing keys, the published JWKS, and JWT minting and verification for Gatehouse.
//!
//! No HTTP and no clock: every time-dependent call takes `now` (Unix seconds; a `DateTime`
//! in [`keystore`]) from the caller so tests can move the clock. Only [`keystore`] touches
//! the database and the file system.
//!
//! | module | owns | specification |
//! |---|---|---|
//! | [`algorithm`] | the two JWS algorithms we sign with | RFC 7518 §3.1, §3.3, §3.4 |
//! | [`signing_key`] | one private key, its cached signer/verifier, its public JWK | RFC 7517 §4, RFC 7518 §6 |
//! | `es256` (private) | our ES256 signer/verifier behind josekit's traits | RFC 7518 §3.4 |
//! | [`thumbprint`] | key ids | RFC 7638 §3 |
//! | [`key_set`] | rotation states and the JWKS document | RFC 7517 §5 |
//! | [`keystore`] | signing keys stored in the database (sealed), rotated | OIDC Core §10.1.1 |
//! | [`claims`] | access-token, ID-token and logout-token claim sets | RFC 9068 §2, OIDC Core §2, OIDC Back-Channel Logout 1.0 §2.4 |
//! | [`mint`] | compact JWS serialization of claims | RFC 7515 §7.1, RFC 9068 §2.1 |
//! | [`mod@at_hash`] | the ID token's access-token hash | OIDC Core §3.1.3.6 |
//! | [`verify`] | signature and claim validation | RFC 7515 §5.2, RFC 7519 §7.2, RFC 9068 §4, RFC 8725 |
//!
//! The master key and the sealing of private keys at rest live in `gatehouse_identity::secrets`
//! (identity seals its own secrets too); they are re-exported here, so [`MasterKey`], [`seal()`]
//! and [`open`] read as before.
//!
//! Errors: see [`error`]. Every verification failure must reach a client as the single
//! `invalid_token` error; the variants exist for the server log.

pub mod algorithm;
pub mod at_hash;
pub mod claims;
pub mod error;
mod es256;
pub mod key_set;
pub mod keystore;
pub mod mint;
pub mod signing_key;
pub mod thumbprint;
pub mod verify;

pub use algorithm::Algorithm;
pub use at_hash::at_hash;
pub use claims::{
    AccessTokenClaims, BACKCHANNEL_LOGOUT_EVENT, IdTokenClaims, LogoutEvents, LogoutTokenClaims,
    new_jti,
};
pub use error::TokenError;
pub use gatehouse_identity::secrets::{MasterKey, SecretsError, open, seal};
pub use key_set::{KeySet, KeyState};
pub use keystore::{KeyManager, KeyPolicy, KeyStoreError};
pub use mint::{
    ACCESS_TOKEN_TYP, ID_TOKEN_TYP, LOGOUT_TOKEN_MAX_LIFETIME_SECS, LOGOUT_TOKEN_TYP,
    mint_access_token, mint_id_token, mint_logout_token,
};
pub use signing_key::SigningKey;
pub use thumbprint::jwk_thumbprint;
pub use verify::{
    Validation, VerifiedAccessToken, verify_access_token, verify_access_token_for_reuse,
    verify_id_token,
};
