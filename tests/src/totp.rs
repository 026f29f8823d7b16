//! TOTP codes computed independently of the server (RFC 6238 §4 on RFC 4226 §5.3, HMAC-SHA-1,
//! 6 digits, 30 s), so the suite checks Gatehouse against the RFC rather than against the
//! library it uses.

use chrono::{DateTime, Utc};
use hmac13::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;

/// RFC 4648 base32 (upper or lower case, padding and spaces ignored).
pub fn decode_base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("not base32: {text}"));
        bits = (bits << 5) | value as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// The HOTP value (RFC 4226 §5.3) of `counter`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).unwrap();
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let binary = (u32::from(hash[offset] & 0x7f) << 24)
        | (u32::from(hash[offset + 1]) << 16)
        | (u32::from(hash[offset + 2]) << 8)
        | u32::from(hash[offset + 3]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// The 6-digit code of a base32 secret at `at`, `offset` steps away (−1 = the previous one).
pub fn code_at(secret_base32: &str, at: DateTime<Utc>, offset: i64) -> String {
    let step = at.timestamp().div_euclid(30) + offset;
    hotp(&decode_base32(secret_base32), step as u64, 6)
}

/// The secret of an `otpauth://` URI.
pub fn secret_of_uri(otpauth_uri: &str) -> String {
    let url = url::Url::parse(otpauth_uri).unwrap();
    url.query_pairs()
        .find(|(key, _)| key == "secret")
        .map(|(_, value)| value.into_owned())
        .expect("otpauth URI without a secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 Appendix D: the HOTP values of the secret "12345678901234567890".
    #[test]
    fn matches_the_rfc_4226_test_values() {
        let expected = ["755224", "287082", "359152", "969429", "338314"];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *value);
        }
        assert_eq!(decode_base32("GEZDGNBVGY3TQOJQ"), b"1234567890");
    }
}
