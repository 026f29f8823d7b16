//! User codes (RFC 8628 §6.1): what the user types on a second screen.
//!
//! Eight characters of the 20 consonants `BCDFGHJKLMNPQRSTVWXZ` (no vowels, so no words; no
//! `0/O`, `1/I`), about 34.6 bits, shown as `XXXX-XXXX`. Entry is case-insensitive and ignores
//! dashes and spaces (§6.1: "the authorization server should be case-insensitive ... and
//! ignore ... punctuation"). The short space is why wrong entries are rate-limited (§5.1) and
//! why codes live only as long as their device code (600 s).

use rand::TryRngCore as _;
use rand::rngs::OsRng;

/// The alphabet of RFC 8628 §6.1's example ("base 20").
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code.
pub const LENGTH: usize = 8;

/// A fresh user code from the OS random source, unformatted (`WDJBMJHT`). Each character is
/// uniform: bytes at or above 240 (the largest multiple of 20 below 256) are drawn again.
pub(crate) fn generate() -> Result<String, <OsRng as rand::TryRngCore>::Error> {
    let mut code = String::with_capacity(LENGTH);
    let mut pool = [0u8; 16];
    while code.len() < LENGTH {
        OsRng.try_fill_bytes(&mut pool)?;
        for byte in pool {
            if code.len() == LENGTH {
                break;
            }
            if byte < 240 {
                code.push(char::from(ALPHABET[usize::from(byte % 20)]));
            }
        }
    }
    Ok(code)
}

/// The canonical form of what the user typed: upper case, dashes and white space removed.
/// `None` if what remains cannot be a user code (wrong length or a character outside the
/// alphabet), which callers treat exactly like an unknown code.
pub fn normalize(entered: &str) -> Option<String> {
    let code: String = entered
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(code)
}

/// `XXXX-XXXX`, as shown to the user (§6.1: split into groups for readability). Anything that
/// is not a canonical code is returned unchanged.
pub fn display(code: &str) -> String {
    if code.len() == LENGTH && code.is_ascii() {
        format!("{}-{}", &code[..LENGTH / 2], &code[LENGTH / 2..])
    } else {
        code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_use_only_the_alphabet() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let code = generate().unwrap();
            assert_eq!(code.len(), LENGTH);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
            seen.insert(code);
        }
        assert!(seen.len() > 195, "codes repeat: {}", seen.len());
    }

    #[test]
    fn entry_ignores_case_dashes_and_spaces() {
        for entered in [
            "WDJB-MJHT",
            "wdjbmjht",
            " wdjb mjht ",
            "Wd-Jb-Mj-Ht",
            "WDJB\u{a0}MJHT",
        ] {
            assert_eq!(
                normalize(entered).as_deref(),
                Some("WDJBMJHT"),
                "{entered:?}"
            );
        }
        for wrong in [
            "",
            "WDJB-MJH",
            "WDJB-MJHTX",
            "WDJB-MJHA",
            "WDJB_MJHT",
            "WDJB-MJH1",
            "ẞDJBMJHT",
        ] {
            assert_eq!(normalize(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn codes_are_shown_in_two_groups() {
        assert_eq!(display("WDJBMJHT"), "WDJB-MJHT");
        assert_eq!(display("short"), "short");
    }
}
