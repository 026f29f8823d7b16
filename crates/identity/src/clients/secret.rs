//! Client secrets: generation, hashing and verification.
//!
//! A client secret is 256 random bits, not something a person chose, so it cannot be guessed
//! from a dictionary and a slow password hash (Argon2) would buy nothing but a capped token
//! endpoint. HMAC-SHA256 under a server-side key (RFC 2104) is enough: a leaked database alone
//! does not let anyone test candidate secrets. Hashes are compared in constant time.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of every stored hash, naming the scheme so another can be introduced later.
const SCHEME: &str = "hmac-sha256$";

/// Hashes and verifies client secrets under one server key. Cheap to clone.
#[derive(Clone)]
pub struct ClientSecretHasher {
    /// Keyed once; each hash clones this state instead of re-deriving the HMAC pads.
    keyed: HmacSha256,
}

impl ClientSecretHasher {
    pub fn new(key: [u8; 32]) -> Self {
        // HMAC zero-pads a key shorter than the hash's 64-byte block (RFC 2104 §2), so this is
        // HMAC under `key` itself, reached without the fallible variable-length constructor.
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(&key);
        ClientSecretHasher {
            keyed: <HmacSha256 as hmac::digest::KeyInit>::new(&block.into()),
        }
    }

    /// 32 random bytes as unpadded base64url: 43 characters, safe in a form body and in HTTP
    /// Basic credentials.
    pub fn generate_secret() -> String {
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    }

    /// `hmac-sha256$<base64url of the MAC>`.
    pub fn hash(&self, secret: &str) -> String {
        format!("{SCHEME}{}", URL_SAFE_NO_PAD.encode(self.mac(secret)))
    }

    /// Whether `secret` hashes to `stored_hash`; `false` for a hash in any other format.
    pub fn verify(&self, secret: &str, stored_hash: &str) -> bool {
        let Some(encoded) = stored_hash.strip_prefix(SCHEME) else {
            return false;
        };
        let Ok(expected) = URL_SAFE_NO_PAD.decode(encoded) else {
            return false;
        };
        // Slices of different lengths compare unequal, also in constant time.
        self.mac(secret).as_slice().ct_eq(&expected).into()
    }

    fn mac(&self, secret: &str) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for ClientSecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretHasher")
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn secrets_are_43_url_safe_characters_and_distinct() {
        let a = ClientSecretHasher::generate_secret();
        let b = ClientSecretHasher::generate_secret();
        assert_eq!(a.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn the_right_secret_verifies_and_others_do_not() {
        let hasher = ClientSecretHasher::new(KEY);
        let secret = ClientSecretHasher::generate_secret();
        let stored = hasher.hash(&secret);
        assert!(stored.starts_with("hmac-sha256$"), "{stored}");
        assert_eq!(stored.len(), SCHEME.len() + 43);
        assert!(!stored.contains(&secret));
        assert_eq!(stored, hasher.hash(&secret), "deterministic under one key");
        assert!(hasher.verify(&secret, &stored));

        assert!(!hasher.verify("", &stored));
        assert!(!hasher.verify(&secret[..42], &stored));
        assert!(!hasher.verify(&format!("{secret}x"), &stored));
        assert!(!hasher.verify(&ClientSecretHasher::generate_secret(), &stored));
    }

    #[test]
    fn another_server_key_verifies_nothing() {
        let secret = ClientSecretHasher::generate_secret();
        let stored = ClientSecretHasher::new(KEY).hash(&secret);
        let mut other = KEY;
        other[31] ^= 1;
        assert!(!ClientSecretHasher::new(other).verify(&secret, &stored));
    }

    #[test]
    fn malformed_stored_hashes_never_verify() {
        let hasher = ClientSecretHasher::new(KEY);
        let secret = "s3cret";
        let good = hasher.hash(secret);
        let encoded = good.strip_prefix(SCHEME).unwrap();
        let truncated = format!("{SCHEME}{}", &encoded[..40]);
        let padded = format!("{good}=");
        let standard_alphabet = good.replace('-', "+").replace('_', "/");
        let cases = [
            "",
            "hmac-sha256$",
            "hmac-sha256$!!!not-base64!!!",
            encoded,
            &truncated,
            &padded,
            &format!("HMAC-SHA256${encoded}"),
            &format!("sha256${encoded}"),
            "$argon2id$v=19$m=256,t=1,p=1$c2FsdA$aGFzaA",
        ];
        for stored in cases {
            assert!(!hasher.verify(secret, stored), "{stored:?}");
        }
        // Only when the alphabets differ is the standard form a different string.
        if standard_alphabet != good {
            assert!(!hasher.verify(secret, &standard_alphabet));
        }
        assert!(hasher.verify(secret, &good));
    }

    /// The zero-padded block key must be HMAC under the 32-byte key itself.
    #[test]
    fn the_block_key_equals_hmac_under_the_raw_key() {
        let mut reference = HmacSha256::new_from_slice(&KEY).unwrap();
        reference.update(b"secret");
        let expected = URL_SAFE_NO_PAD.encode(reference.finalize().into_bytes());
        assert_eq!(
            ClientSecretHasher::new(KEY).hash("secret"),
            format!("{SCHEME}{expected}")
        );
    }

    /// RFC 4231 test case 2 pins the construction to standard HMAC-SHA256.
    #[test]
    fn hmac_matches_rfc_4231() {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let hasher = ClientSecretHasher::new(key);
        let mac = hasher.mac("what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let shown = format!("{:?}", ClientSecretHasher::new(KEY));
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains('7'), "{shown}");
    }
}
