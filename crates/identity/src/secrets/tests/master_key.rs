//! `MasterKey`: parsing, the key file, and subkey derivation.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use std::path::{Path, PathBuf};

use crate::secrets::{MasterKey, SecretsError};

const BYTES: [u8; 32] = [
    0xfb, 0xff, 0x3e, 0x01, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 26, 27, 28, 0xbf,
];

#[test]
fn load_or_create_creates_a_private_file_and_reads_it_back() {
    let dir = TempDir::new();
    let path = dir.path().join("nested/deeper/master.key");

    let (created, was_created) = MasterKey::load_or_create(&path).unwrap();
    assert!(was_created);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(STANDARD.decode(text.trim()).unwrap(), created.bytes());
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec!["master.key"],
        "no temporary file left behind"
    );

    let (loaded, was_created) = MasterKey::load_or_create(&path).unwrap();
    assert!(!was_created);
    assert_eq!(loaded.bytes(), created.bytes());
}

#[test]
fn load_or_create_reads_an_operator_written_file() {
    let dir = TempDir::new();
    let path = dir.path().join("master.key");
    std::fs::write(&path, format!("  {}\n\n", URL_SAFE_NO_PAD.encode(BYTES))).unwrap();

    let (key, created) = MasterKey::load_or_create(&path).unwrap();

    assert!(!created);
    assert_eq!(key.bytes(), &BYTES);
}

#[test]
fn load_or_create_never_overwrites_a_bad_file() {
    let dir = TempDir::new();
    let path = dir.path().join("master.key");
    std::fs::write(&path, "").unwrap();

    let err = MasterKey::load_or_create(&path).unwrap_err();

    assert!(matches!(err, SecretsError::MasterKey(_)), "{err:?}");
    assert!(err.to_string().contains("master.key"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
}

#[test]
fn load_or_create_reports_an_unreadable_path() {
    let dir = TempDir::new();
    // A directory where the file should be.
    let err = MasterKey::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(err, SecretsError::Io { .. }), "{err:?}");
}

#[test]
fn concurrent_creators_agree_on_one_key() {
    let dir = TempDir::new();
    let path = dir.path().join("master.key");
    let keys: Vec<(MasterKey, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| MasterKey::load_or_create(&path).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(keys.iter().filter(|(_, created)| *created).count(), 1);
    for (key, _) in &keys {
        assert_eq!(key.bytes(), keys[0].0.bytes());
    }
}

#[test]
fn from_base64_accepts_both_alphabets_with_or_without_padding() {
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        let encoded = engine.encode(BYTES);
        assert_eq!(
            MasterKey::from_base64(&encoded).unwrap().bytes(),
            &BYTES,
            "{encoded}"
        );
    }
}

#[test]
fn a_key_uses_one_alphabet() {
    let standard = STANDARD.encode([0xfb; 32]);
    assert!(standard.contains('+') || standard.contains('/'));
    assert!(MasterKey::from_base64(&standard).is_ok());
    let mixed = format!("-{}", &standard[1..]);
    assert!(MasterKey::from_base64(&mixed).is_err());
}

#[test]
fn from_base64_rejects_wrong_lengths_and_garbage() {
    for len in [0, 16, 31, 33, 64] {
        let err = MasterKey::from_base64(&STANDARD.encode(vec![7u8; len])).unwrap_err();
        assert!(matches!(err, SecretsError::MasterKey(_)), "{len}: {err:?}");
        assert!(err.to_string().contains("expected 32"), "{len}: {err}");
    }
    for garbage in ["not base64!", "AAAA====AAAA", "é"] {
        assert!(MasterKey::from_base64(garbage).is_err(), "{garbage}");
    }
}

#[test]
fn errors_and_debug_never_show_the_key() {
    let encoded = STANDARD.encode(BYTES);
    let key = MasterKey::from_base64(&encoded).unwrap();
    assert_eq!(format!("{key:?}"), "MasterKey(..)");
    let broken = format!("{}!", &encoded[..20]);
    let err = MasterKey::from_base64(&broken).unwrap_err();
    assert!(!err.to_string().contains(&encoded[..20]), "{err}");
}

#[test]
fn derive_is_deterministic_and_separates_purposes() {
    let key = MasterKey::from_base64(&STANDARD.encode(BYTES)).unwrap();
    let same = MasterKey::from_base64(&URL_SAFE.encode(BYTES)).unwrap();
    let other = MasterKey::from_base64(&STANDARD.encode([1u8; 32])).unwrap();

    assert_eq!(key.derive("client-secret"), same.derive("client-secret"));
    assert_ne!(key.derive("client-secret"), key.derive("csrf"));
    assert_ne!(key.derive("client-secret"), other.derive("client-secret"));
    assert_ne!(&key.derive(""), key.bytes());
}

#[test]
fn derive_is_hmac_sha256_over_the_prefixed_purpose() {
    // printf gatehouse:client-secret | openssl dgst -sha256 -mac HMAC -macopt hexkey:0b0b…0b (32 bytes)
    let key = MasterKey::from_base64(&STANDARD.encode([0x0b; 32])).unwrap();
    assert_eq!(
        hex(&key.derive("client-secret")),
        EXPECTED_CLIENT_SECRET_KEY
    );
}

const EXPECTED_CLIENT_SECRET_KEY: &str =
    "39d7a45809fa7fed33566b75c45119ca7b4c9b1dc966ad75fd46a40672e439d8";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A private directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "gatehouse-master-key-{:016x}",
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
