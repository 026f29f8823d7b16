//! Sealing values at rest: round trips, fresh IVs, refusal of anything but what `seal` wrote,
//! and the stored format of the release that sealed under `tokens`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secrets::{MasterKey, SecretsError, open, seal};

const MASTER: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

/// Sealed by `gatehouse_tokens::seal` (josekit, before the move) under `[0x42; 32]`.
const SEALED_BEFORE_THE_MOVE: &str = "eyJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiZGlyIn0..43Ern2EuvNVe980V.\
     HBA4Ic0CEBDT3H1ZWT2Q4tv6rnLOYyxMRJ-Pqhjy_1qpUQ.W6ocv_QjY_ibw4VYVZg3RA";

#[test]
fn data_sealed_before_the_move_still_opens() {
    assert_eq!(
        open(&[0x42; 32], SEALED_BEFORE_THE_MOVE).unwrap(),
        b"sealed before the move to identity"
    );
    assert!(open(&[0x43; 32], SEALED_BEFORE_THE_MOVE).is_err());
}

#[test]
fn sealed_data_round_trips_and_hides_the_plaintext() {
    let plaintext = b"-----BEGIN PRIVATE KEY----- more or less";
    let sealed = seal(&MASTER, plaintext).unwrap();
    assert!(!sealed.contains("PRIVATE"));
    assert_eq!(open(&MASTER, &sealed).unwrap(), plaintext);
}

#[test]
fn a_subkey_of_the_master_key_seals_too() {
    let master = MasterKey::from_base64(&URL_SAFE_NO_PAD.encode(MASTER)).unwrap();
    let subkey = master.derive("totp-secret-a256gcm");
    let sealed = seal(&subkey, b"secret").unwrap();
    assert_eq!(open(&subkey, &sealed).unwrap(), b"secret");
    assert!(open(master.bytes(), &sealed).is_err());
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
    assert!(matches!(
        open(&other, &sealed),
        Err(SecretsError::Sealed(_))
    ));
}

#[test]
fn tampering_with_any_part_fails() {
    let sealed = seal(&MASTER, b"a private key, more or less").unwrap();
    let parts: Vec<&str> = sealed.split('.').collect();
    assert_eq!(parts.len(), 5);
    // Header, IV, ciphertext, tag (the encrypted-key part is empty for "dir").
    for index in [0, 2, 3, 4] {
        let mut bytes = URL_SAFE_NO_PAD.decode(parts[index]).unwrap();
        bytes[0] ^= 0x01;
        let mut forged = parts.clone();
        let replaced = URL_SAFE_NO_PAD.encode(&bytes);
        forged[index] = &replaced;
        assert!(
            matches!(
                open(&MASTER, &forged.join(".")),
                Err(SecretsError::Sealed(_))
            ),
            "part {index}"
        );
    }
    assert!(open(&MASTER, "not.a.jwe").is_err());
}

#[test]
fn truncated_tag_is_refused_before_decryption() {
    let sealed = seal(&MASTER, b"secret").unwrap();
    let (rest, tag) = sealed.rsplit_once('.').unwrap();
    let short_tag = URL_SAFE_NO_PAD.encode(&URL_SAFE_NO_PAD.decode(tag).unwrap()[..4]);
    let truncated = format!("{rest}.{short_tag}");
    assert!(matches!(
        open(&MASTER, &truncated),
        Err(SecretsError::Sealed(_))
    ));
}

#[test]
fn header_with_extra_members_is_refused() {
    let sealed = seal(&MASTER, b"secret").unwrap();
    let (_, rest) = sealed.split_once('.').unwrap();
    let zip_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#);
    assert!(open(&MASTER, &format!("{zip_header}.{rest}")).is_err());
}
