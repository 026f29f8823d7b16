//! Values at rest (signing keys, TOTP secrets): AES-256-GCM under a 32-byte key, the master key
//! or a subkey derived from it ([`MasterKey::derive`](super::MasterKey::derive)).
//!
//! The format is a JWE in compact serialization (RFC 7516 §7.1) with `alg: "dir"` (RFC 7518
//! §4.5: the master key is the content key) and `enc: "A256GCM"` (§5.3). We use josekit's
//! JWE rather than a separate AEAD crate because it is already our audited JOSE dependency,
//! it calls OpenSSL's AES-GCM, and it draws a fresh random 96-bit IV per message; the
//! self-describing header also leaves room to rotate the master key later (`kid`).
//!
//! `open` is stricter than a general JWE parser. It accepts only what `seal` writes: exactly
//! `{"alg":"dir","enc":"A256GCM"}` (no `zip`, no `crit`), an empty encrypted key, a 12-byte IV
//! and a full 16-byte tag. OpenSSL would otherwise accept a truncated GCM tag, which makes
//! forgery far cheaper (NIST SP 800-38D §5.2.1.2, Appendix C).
//!
//! The format is stored: signing keys sealed before this module moved here from `tokens` must
//! still open. The additional authenticated data is what RFC 7516 §5.1 step 14 makes it, the
//! ASCII of the encoded protected header, so the header bytes written then (josekit writes
//! `{"enc":"A256GCM","alg":"dir"}`) are authenticated as they are; a fixture in the tests pins it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{Dir, JweHeader};

use super::error::SecretsError;

const ENC: &str = "A256GCM";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` (a signing key's private PEM, a TOTP secret) under `master_key`.
pub fn seal(master_key: &[u8; 32], plaintext: &[u8]) -> Result<String, SecretsError> {
    let encrypter = Dir
        .encrypter_from_bytes(master_key)
        .map_err(|e| SecretsError::Sealed(e.to_string()))?;
    let mut header = JweHeader::new();
    header.set_content_encryption(ENC);
    josekit::jwe::serialize_compact(plaintext, &header, &encrypter)
        .map_err(|e| SecretsError::Sealed(e.to_string()))
}

/// Decrypts what [`seal`] wrote. A wrong key, any modified byte, or any other JWE is an error.
pub fn open(master_key: &[u8; 32], sealed: &str) -> Result<Vec<u8>, SecretsError> {
    check_format(sealed)?;
    let decrypter = Dir
        .decrypter_from_bytes(master_key)
        .map_err(|e| SecretsError::Sealed(e.to_string()))?;
    // The GCM tag covers the header, IV and ciphertext: a wrong key and tampering look alike.
    let (plaintext, _header) = josekit::jwe::deserialize_compact(sealed, &decrypter)
        .map_err(|_| SecretsError::Sealed("wrong master key or tampered data".into()))?;
    Ok(plaintext)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SealHeader {
    alg: String,
    enc: String,
}

fn check_format(sealed: &str) -> Result<(), SecretsError> {
    let not_ours = |what: &str| SecretsError::Sealed(format!("not sealed by Gatehouse: {what}"));
    let parts: Vec<&str> = sealed.split('.').collect();
    let [header, encrypted_key, iv, _ciphertext, tag] = parts.as_slice() else {
        return Err(not_ours("expected five JWE parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| not_ours("header is not base64url"))?;
    let header: SealHeader =
        serde_json::from_slice(&header).map_err(|_| not_ours("unexpected header"))?;
    if header.alg != "dir" || header.enc != ENC {
        return Err(not_ours("unexpected algorithm"));
    }
    if !encrypted_key.is_empty() {
        return Err(not_ours("direct encryption has no encrypted key"));
    }
    let decoded_len = |part: &str| URL_SAFE_NO_PAD.decode(part).map(|bytes| bytes.len()).ok();
    if decoded_len(iv) != Some(IV_LEN) || decoded_len(tag) != Some(TAG_LEN) {
        return Err(not_ours("IV or tag has the wrong length"));
    }
    Ok(())
}
