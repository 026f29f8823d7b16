//! The JWS algorithms Gatehouse signs with (RFC 7518 §3.1).
//!
//! Only ES256 (§3.4, ECDSA P-256 + SHA-256) and RS256 (§3.3, RSASSA-PKCS1-v1_5 + SHA-256).
//! Keeping the set closed is what lets verification refuse `none`, the HMAC family and
//! anything else an attacker writes into a header (RFC 8725 §3.1).

use std::fmt;

/// Variant names are the JOSE registry names, which serde also writes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    ES256,
    RS256,
}

impl Algorithm {
    /// The `alg` value in JWS headers and JWKs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    /// Exact, case-sensitive match (RFC 7515 §4.1.1 compares `alg` as a string).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Algorithm;

    #[test]
    fn names_round_trip_and_reject_lookalikes() {
        for alg in [Algorithm::ES256, Algorithm::RS256] {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for other in ["none", "None", "es256", "HS256", "PS256", ""] {
            assert_eq!(Algorithm::from_name(other), None, "{other}");
        }
    }
}
