//! Recovery codes, without storage: generation, what a person may type, and the stored hash.
//!
//! A code is 60 random bits from the OS, written as 12 characters of Crockford's base32 in
//! three groups (`7kq2-m9xd-4rtw`): no I, L, O or U, and a mistyped `i`, `l` or `o` is read as
//! the digit it resembles. Each is shown once and stored only hashed.
//!
//! The hash is HMAC-SHA256 (RFC 2104) under a key derived from the master key, over the user
//! id and the code, rather than a bare SHA-256. 60 random bits already defeat guessing online,
//! but a copy of the database alone would let anyone with enough GPUs search 2^60 SHA-256
//! preimages offline; without the master key (kept outside the database) it gives nothing. The
//! user id in the MAC stops someone who can write the table but not read the master key from
//! copying the hashes of codes they hold onto another account.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::TryRngCore as _;
use sha2::Sha256;

use crate::error::IdentityError;
use crate::users::id_text;

/// How many codes a user holds after enrolment or regeneration.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Crockford's base32 alphabet, lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const SYMBOLS: usize = 12;
const GROUP: usize = 4;
/// The prefix of every stored hash, naming the scheme so another can be introduced later.
const SCHEME: &str = "hmac-sha256$";

type HmacSha256 = Hmac<Sha256>;

/// Codes just generated, in the form to show the user once. `Debug` does not print them.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes(Vec<String>);

impl RecoveryCodes {
    pub fn codes(&self) -> &[String] {
        &self.0
    }

    pub fn into_codes(self) -> Vec<String> {
        self.0
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.0.len())
    }
}

/// A fresh set: the codes to show, and the hashes to store for `user_id`.
pub(crate) fn generate(
    hasher: &RecoveryCodeHasher,
    user_id: uuid::Uuid,
) -> Result<(RecoveryCodes, Vec<String>), IdentityError> {
    let mut codes: Vec<String> = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let code = generate_one()?;
        // Two equal codes in one set (odds 2^-54) would break the unique index; draw again.
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let hashes = codes
        .iter()
        .map(|code| hasher.hash(user_id, &normalize_generated(code)))
        .collect();
    Ok((RecoveryCodes(codes), hashes))
}

fn generate_one() -> Result<String, IdentityError> {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|err| IdentityError::Corrupt(format!("no randomness from the OS: {err}")))?;
    let mut bits = u64::from_le_bytes(bytes);
    let mut code = String::with_capacity(SYMBOLS + SYMBOLS / GROUP);
    for index in 0..SYMBOLS {
        if index > 0 && index % GROUP == 0 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[(bits & 0x1f) as usize]));
        bits >>= 5;
    }
    Ok(code)
}

fn normalize_generated(code: &str) -> String {
    code.chars().filter(|c| *c != '-').collect()
}

/// The canonical 12 symbols of what the user typed: case, spaces and dashes ignored, `i`/`l`
/// read as `1` and `o` as `0`. `None` when it cannot be a recovery code at all.
pub(crate) fn normalize(typed: &str) -> Option<String> {
    let mut normalized = String::with_capacity(SYMBOLS);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' | '\t' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        normalized.push(c);
        if normalized.len() > SYMBOLS {
            return None;
        }
    }
    (normalized.len() == SYMBOLS).then_some(normalized)
}

/// HMAC-SHA256 of user and code under the recovery-code key. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RecoveryCodeHasher {
    keyed: HmacSha256,
}

impl RecoveryCodeHasher {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        // A key shorter than the block is zero-padded by HMAC itself (RFC 2104 §2); padding it
        // here reaches the infallible fixed-size constructor.
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(&key);
        RecoveryCodeHasher {
            keyed: <HmacSha256 as hmac::digest::KeyInit>::new(&block.into()),
        }
    }

    /// `hmac-sha256$<base64url>` of `user_id` and a normalized code, as stored.
    pub(crate) fn hash(&self, user_id: uuid::Uuid, normalized: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(id_text(user_id).as_bytes());
        // The id has a fixed length, so this separator only makes the input readable.
        mac.update(b":");
        mac.update(normalized.as_bytes());
        format!(
            "{SCHEME}{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> RecoveryCodeHasher {
        RecoveryCodeHasher::new([3; 32])
    }

    #[test]
    fn a_set_is_ten_distinct_grouped_codes_of_60_bits() {
        let user = uuid::Uuid::new_v4();
        let (codes, hashes) = generate(&hasher(), user).unwrap();
        assert_eq!(codes.codes().len(), RECOVERY_CODE_COUNT);
        assert_eq!(hashes.len(), RECOVERY_CODE_COUNT);
        for code in codes.codes() {
            assert_eq!(code.len(), 14, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            assert!(groups.iter().all(|g| g.len() == 4), "{code}");
            assert_eq!(normalize(code).unwrap().len() * 5, 60);
        }
        let mut distinct = codes.codes().to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), RECOVERY_CODE_COUNT);
        let (again, _) = generate(&hasher(), user).unwrap();
        assert_ne!(codes, again);
    }

    #[test]
    fn the_stored_hash_is_the_hash_of_the_typed_code_and_hides_it() {
        let user = uuid::Uuid::new_v4();
        let (codes, hashes) = generate(&hasher(), user).unwrap();
        for (code, stored) in codes.codes().iter().zip(&hashes) {
            assert!(stored.starts_with(SCHEME), "{stored}");
            assert!(!stored.contains(&normalize_generated(code)));
            let typed = format!(" {} ", code.to_uppercase().replace('-', " "));
            assert_eq!(&hasher().hash(user, &normalize(&typed).unwrap()), stored);
        }
    }

    #[test]
    fn the_hash_depends_on_the_user_and_the_key() {
        let (one, other) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let code = "0123456789ab";
        assert_ne!(hasher().hash(one, code), hasher().hash(other, code));
        assert_ne!(
            hasher().hash(one, code),
            RecoveryCodeHasher::new([4; 32]).hash(one, code)
        );
        assert_eq!(hasher().hash(one, code), hasher().hash(one, code));
    }

    #[test]
    fn typing_mistakes_are_forgiven_and_other_input_is_not_a_code() {
        assert_eq!(normalize("IL0O-abcd-efgh").as_deref(), Some("1100abcdefgh"));
        assert_eq!(normalize("7KQ2 M9XD 4RTW").as_deref(), Some("7kq2m9xd4rtw"));
        for not_a_code in [
            "",
            "7kq2-m9xd-4rt",
            "7kq2-m9xd-4rtwx",
            "7kq2-m9xd-4rtu",
            "7kq2_m9xd_4rtw",
        ] {
            assert_eq!(normalize(not_a_code), None, "{not_a_code:?}");
        }
    }

    #[test]
    fn debug_does_not_show_the_codes() {
        let (codes, _) = generate(&hasher(), uuid::Uuid::new_v4()).unwrap();
        let shown = format!("{codes:?}");
        assert_eq!(shown, "RecoveryCodes(10 codes)");
    }
}
