//! One asymmetric signing key and everything derived from it.
//!
//! The signer, the verifier and the public JWK (RFC 7517 §4, members per RFC 7518 §6.2.1 and
//! §6.3.1) are built once, when the key is loaded, and reused for every token: parsing PEM or
//! DER per token would cost more than the signature itself. The `kid` is the RFC 7638
//! thumbprint, so the same key always gets the same id, across restarts and replicas.

use std::fmt;

use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, JwsSigner, JwsVerifier, RS256};
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::error::TokenError;
use crate::es256::Es256Signer;
use crate::thumbprint::jwk_thumbprint;

/// RSA modulus size for generated keys (RFC 7518 §3.3 requires at least 2048 bits).
const RSA_BITS: u32 = 2048;

/// The public members RFC 7518 §6 defines for each key type: the only ones we ever copy
/// out of josekit's JWK, so a private member can never reach the JWKS by accident.
const EC_PUBLIC_MEMBERS: [&str; 3] = ["crv", "x", "y"];
const RSA_PUBLIC_MEMBERS: [&str; 2] = ["n", "e"];

#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    kid: String,
    public_jwk: Map<String, Value>,
    key_pair: Box<dyn KeyPair>,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
}

impl SigningKey {
    /// A fresh key: P-256 for ES256, 2048-bit RSA for RS256.
    pub fn generate(alg: Algorithm) -> Result<Self, TokenError> {
        let key_pair: Box<dyn KeyPair> = match alg {
            Algorithm::ES256 => Box::new(ES256.generate_key_pair().map_err(crypto)?),
            Algorithm::RS256 => Box::new(RS256.generate_key_pair(RSA_BITS).map_err(crypto)?),
        };
        Self::from_key_pair(alg, key_pair)
    }

    /// Loads a PKCS#8 PEM (or the traditional `EC`/`RSA PRIVATE KEY` PEM). The key must fit
    /// `alg`: a P-256 key for ES256, an RSA key of at least 2048 bits for RS256.
    pub fn from_private_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, TokenError> {
        let key_pair: Box<dyn KeyPair> = match alg {
            Algorithm::ES256 => Box::new(ES256.key_pair_from_pem(pem).map_err(crypto)?),
            Algorithm::RS256 => Box::new(RS256.key_pair_from_pem(pem).map_err(crypto)?),
        };
        Self::from_key_pair(alg, key_pair)
    }

    fn from_key_pair(alg: Algorithm, key_pair: Box<dyn KeyPair>) -> Result<Self, TokenError> {
        let public_members = public_jwk(alg, &key_pair.to_jwk_public_key())?;
        let kid = jwk_thumbprint(&public_members)?;

        // DER rather than PEM: no base64 round trip. The curve (ours) or the modulus size
        // (josekit) is checked again, so a signer can never disagree with `alg`. ES256 uses
        // our own signer and verifier (see `es256`); RS256 keeps josekit's.
        let private_der = key_pair.to_der_private_key();
        let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
            Algorithm::ES256 => {
                let signer = Es256Signer::from_private_der(&private_der, &kid).map_err(crypto)?;
                let verifier = signer.verifier().map_err(crypto)?;
                (Box::new(signer), Box::new(verifier))
            }
            Algorithm::RS256 => {
                let public_der = key_pair.to_der_public_key();
                let mut signer = RS256.signer_from_der(&private_der).map_err(crypto)?;
                signer.set_key_id(kid.as_str());
                let verifier = RS256.verifier_from_der(&public_der).map_err(crypto)?;
                (Box::new(signer), Box::new(verifier))
            }
        };

        let mut published = public_members;
        published.insert("kid".into(), Value::String(kid.clone()));
        Ok(Self {
            algorithm: alg,
            kid,
            public_jwk: published,
            key_pair,
            signer,
            verifier,
        })
    }

    /// PKCS#8 PEM of the private key, to be [`sealed`](crate::seal()) before it is stored.
    pub fn private_pem(&self) -> Result<Vec<u8>, TokenError> {
        Ok(self.key_pair.to_pem_private_key())
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The JWK published in the JWKS: `kty`, `use`, `alg`, `kid` and the public members only.
    pub fn public_jwk(&self) -> Map<String, Value> {
        self.public_jwk.clone()
    }

    pub(crate) fn public_jwk_ref(&self) -> &Map<String, Value> {
        &self.public_jwk
    }

    /// The cached signer; its key id is set, so josekit writes `kid` into every header.
    pub(crate) fn signer(&self) -> &dyn JwsSigner {
        self.signer.as_ref()
    }

    pub(crate) fn verifier(&self) -> &dyn JwsVerifier {
        self.verifier.as_ref()
    }
}

/// Never prints key material: a key ends up in `tracing` fields and panic messages.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Builds the published JWK from an allow-list of members rather than by deleting private
/// ones from josekit's output, so a member we did not think of stays out.
fn public_jwk(alg: Algorithm, jwk: &Jwk) -> Result<Map<String, Value>, TokenError> {
    let (kty, members): (&str, &[&str]) = match alg {
        Algorithm::ES256 => ("EC", &EC_PUBLIC_MEMBERS),
        Algorithm::RS256 => ("RSA", &RSA_PUBLIC_MEMBERS),
    };
    let mut out = Map::new();
    out.insert("kty".into(), Value::String(kty.into()));
    out.insert("use".into(), Value::String("sig".into()));
    out.insert("alg".into(), Value::String(alg.name().into()));
    for &name in members {
        let value = jwk
            .parameter(name)
            .ok_or_else(|| TokenError::Crypto(format!("public JWK lacks {name:?}")))?;
        out.insert(name.into(), value.clone());
    }
    Ok(out)
}

fn crypto(err: josekit::JoseError) -> TokenError {
    TokenError::Crypto(err.to_string())
}
