//! Sealing private keys at rest.

use gatehouse_tokens::{Algorithm, SigningKey, TokenError, open, seal};

use crate::support::*;

const MASTER: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

#[test]
fn sealed_private_key_round_trips() {
    let key = key(Algorithm::ES256);
    let sealed = seal(&MASTER, &key.private_pem().unwrap()).unwrap();
    assert!(!sealed.contains("PRIVATE"));
    let reloaded =
        SigningKey::from_private_pem(Algorithm::ES256, &open(&MASTER, &sealed).unwrap()).unwrap();
    assert_eq!(reloaded.kid(), key.kid());
}

#[test]
fn each_seal_uses_a_fresh_iv() {
    assert_ne!(
        seal(&MASTER, b"same").unwrap(),
        seal(&MASTER, b"same").unwrap()
    );
}

#[test]
fn wrong_key_fails() {
    let sealed = seal(&MASTER, b"secret").unwrap();
    let mut other = MASTER;
    other[0] ^= 1;
    assert!(matches!(open(&other, &sealed), Err(TokenError::Sealed(_))));
}

#[test]
fn tampering_with_any_part_fails() {
    let sealed = seal(&MASTER, b"a private key, more or less").unwrap();
    let parts: Vec<&str> = sealed.split('.').collect();
    assert_eq!(parts.len(), 5);
    // Header, IV, ciphertext, tag (the encrypted-key part is empty for "dir").
    for index in [0, 2, 3, 4] {
        let mut bytes = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[index])
                .unwrap()
        };
        bytes[0] ^= 0x01;
        let mut forged = parts.clone();
        let replaced = b64(&bytes);
        forged[index] = &replaced;
        assert!(
            matches!(open(&MASTER, &forged.join(".")), Err(TokenError::Sealed(_))),
            "part {index}"
        );
    }
    assert!(open(&MASTER, "not.a.jwe").is_err());
}
