//! Sealing private keys at rest, through the functions re-exported from
//! `gatehouse_identity::secrets` (where the format's own tests live).

use gatehouse_tokens::{Algorithm, SecretsError, SigningKey, open, seal};

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
fn a_private_key_sealed_under_another_key_does_not_open() {
    let sealed = seal(&MASTER, &key(Algorithm::RS256).private_pem().unwrap()).unwrap();
    let mut other = MASTER;
    other[0] ^= 1;
    assert!(matches!(
        open(&other, &sealed),
        Err(SecretsError::Sealed(_))
    ));
}
