//! Private keys at rest: AES-256-GCM under a 32-byte master key.
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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{Dir, JweHeader};

use crate::error::TokenError;

const ENC: &str = "A256GCM";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` (typically [`SigningKey::private_pem`](crate::SigningKey::private_pem)).
pub fn seal(master_key: &[u8; 32], plaintext: &[u8]) -> Result<String, TokenError> {
    let encrypter = Dir
        .encrypter_from_bytes(master_key)
        .map_err(|e| TokenError::Sealed(e.to_string()))?;
    let mut header = JweHeader::new();
    header.set_content_encryption(ENC);
    josekit::jwe::serialize_compact(plaintext, &header, &encrypter)
        .map_err(|e| TokenError::Sealed(e.to_string()))
}

/// Decrypts what [`seal`] wrote. A wrong key, any modified byte, or any other JWE is an error.
pub fn open(master_key: &[u8; 32], sealed: &str) -> Result<Vec<u8>, TokenError> {
    check_format(sealed)?;
    let decrypter = Dir
        .decrypter_from_bytes(master_key)
        .map_err(|e| TokenError::Sealed(e.to_string()))?;
    // The GCM tag covers the header, IV and ciphertext: a wrong key and tampering look alike.
    let (plaintext, _header) = josekit::jwe::deserialize_compact(sealed, &decrypter)
        .map_err(|_| TokenError::Sealed("wrong master key or tampered data".into()))?;
    Ok(plaintext)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SealHeader {
    alg: String,
    enc: String,
}

fn check_format(sealed: &str) -> Result<(), TokenError> {
    let not_ours = |what: &str| TokenError::Sealed(format!("not a sealed key: {what}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn truncated_tag_is_refused_before_decryption() {
        let sealed = seal(&KEY, b"secret").unwrap();
        let (rest, tag) = sealed.rsplit_once('.').unwrap();
        let short_tag = URL_SAFE_NO_PAD.encode(&URL_SAFE_NO_PAD.decode(tag).unwrap()[..4]);
        let truncated = format!("{rest}.{short_tag}");
        assert!(matches!(open(&KEY, &truncated), Err(TokenError::Sealed(_))));
    }

    #[test]
    fn header_with_extra_members_is_refused() {
        let sealed = seal(&KEY, b"secret").unwrap();
        let (_, rest) = sealed.split_once('.').unwrap();
        let zip_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#);
        assert!(open(&KEY, &format!("{zip_header}.{rest}")).is_err());
    }
}
