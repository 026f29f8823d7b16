//! The TOTP algorithm itself, without storage: codes for a time step (RFC 6238 §4, on HOTP,
//! RFC 4226 §5), the verification window, new secrets, and what an authenticator app scans
//! (the Key URI Format's `otpauth://` URI, as an inline SVG QR code).
//!
//! Code generation is `totp-rs`; the window and replay rules are ours. Its `check` accepts a
//! code again and again within its window, while RFC 6238 §5.2 says a verifier MUST NOT accept
//! the second attempt of the same OTP: [`matching_steps`] reports every step a code matches, and
//! the caller accepts only a step later than the last one it accepted.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rand::TryRngCore as _;

use crate::error::IdentityError;

/// RFC 4226 §4 R6 asks for at least 128 bits and recommends 160: the HMAC-SHA-1 output size.
pub(crate) const SECRET_LEN: usize = 20;

/// Steps accepted either side of the current one. RFC 6238 §5.2 recommends allowing at most one
/// step of network delay; one step ahead as well forgives a device clock a little fast.
const WINDOW: u64 = 1;

/// The HMAC behind a credential's codes (RFC 6238 §1.2, the `algorithm` of the Key URI Format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotpAlgorithm {
    /// What nearly every authenticator app implements; HMAC-SHA-1 is not weakened by SHA-1
    /// collisions (RFC 4226 Appendix B.2).
    #[default]
    Sha1,
    Sha256,
    Sha512,
}

impl TotpAlgorithm {
    /// The stored value, and the `algorithm` parameter of the `otpauth://` URI.
    pub fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }

    fn library(self) -> totp_rs::Algorithm {
        match self {
            TotpAlgorithm::Sha1 => totp_rs::Algorithm::SHA1,
            TotpAlgorithm::Sha256 => totp_rs::Algorithm::SHA256,
            TotpAlgorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

impl fmt::Display for TotpAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TotpAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "SHA1" => Ok(TotpAlgorithm::Sha1),
            "SHA256" => Ok(TotpAlgorithm::Sha256),
            "SHA512" => Ok(TotpAlgorithm::Sha512),
            other => Err(format!("unknown TOTP algorithm `{other}`")),
        }
    }
}

/// How one credential computes its codes. Stored with each credential, so a later change of the
/// defaults for new enrolments never breaks an authenticator already enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParameters {
    pub algorithm: TotpAlgorithm,
    /// 6 to 8 (RFC 4226 §5.3: at least 6; more than 8 is not what authenticator apps offer).
    pub digits: u8,
    /// The time step X of RFC 6238 §4.1, in seconds (30 recommended, §5.2).
    pub period_secs: u32,
}

impl Default for TotpParameters {
    /// SHA-1, 6 digits, 30 seconds: the values every authenticator app supports.
    fn default() -> Self {
        TotpParameters {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period_secs: 30,
        }
    }
}

/// The longest time step accepted: with a one-step window a code stays valid for three of them.
const MAX_PERIOD_SECS: u32 = 300;

impl TotpParameters {
    /// Why these parameters cannot make a credential, if they cannot.
    pub fn check(&self) -> Result<(), &'static str> {
        if !(6..=8).contains(&self.digits) {
            return Err("TOTP codes have 6 to 8 digits");
        }
        if !(1..=MAX_PERIOD_SECS).contains(&self.period_secs) {
            return Err("the TOTP period must be 1 to 300 seconds");
        }
        Ok(())
    }
}

/// One credential's secret with its parameters: computes and checks its codes.
pub(crate) struct Authenticator {
    totp: totp_rs::Totp,
    period: u64,
}

impl Authenticator {
    /// Fails only for parameters [`TotpParameters::check`] refuses or a secret under 128 bits,
    /// i.e. for a row this code did not write.
    pub(crate) fn new(secret: &[u8], parameters: TotpParameters) -> Result<Self, IdentityError> {
        parameters
            .check()
            .map_err(|reason| corrupt(reason.to_owned()))?;
        let totp = totp_rs::Builder::new()
            .with_algorithm(parameters.algorithm.library())
            .with_digits(parameters.digits)
            .with_step_duration(u64::from(parameters.period_secs))
            // One step at a time: `matching_steps` walks the window itself.
            .with_skew(0)
            .with_secret(secret.to_vec())
            .build()
            .map_err(|err| corrupt(err.to_string()))?;
        Ok(Authenticator {
            totp,
            period: u64::from(parameters.period_secs),
        })
    }

    /// The time step `now` falls in: T = floor((now − T0) / X), T0 = 0 (RFC 6238 §4.2).
    /// `None` before 1970.
    pub(crate) fn step_at(&self, now: DateTime<Utc>) -> Option<u64> {
        u64::try_from(now.timestamp())
            .ok()
            .map(|secs| secs / self.period)
    }

    /// The code of time step `step`.
    #[cfg(test)]
    pub(crate) fn code_at_step(&self, step: u64) -> String {
        self.totp
            .generate(step.saturating_mul(self.period))
            .to_string()
    }

    /// Every step in the window around `now` whose code is `code`, oldest first. Usually none
    /// or one; two steps can share a code by chance. Whitespace inside the code is ignored
    /// (apps show `123 456`); anything but the right number of digits matches nothing. The
    /// comparison is constant-time.
    pub(crate) fn matching_steps(&self, code: &str, now: DateTime<Utc>) -> Vec<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let Some(current) = self.step_at(now) else {
            return Vec::new();
        };
        (current.saturating_sub(WINDOW)..=current.saturating_add(WINDOW))
            .filter(|&step| {
                self.totp
                    .check(&code, step.saturating_mul(self.period))
                    .is_some()
            })
            .collect()
    }
}

fn corrupt(reason: String) -> IdentityError {
    IdentityError::Corrupt(format!("TOTP credential: {reason}"))
}

/// A fresh shared secret from the operating system's CSPRNG (RFC 4226 §4 R6, §7.5).
pub(crate) fn generate_secret() -> Result<[u8; SECRET_LEN], IdentityError> {
    let mut secret = [0u8; SECRET_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret)
        .map_err(|err| IdentityError::Corrupt(format!("no randomness from the OS: {err}")))?;
    Ok(secret)
}

/// RFC 4648 §6 base32 without padding: how the Key URI Format and manual entry spell secrets.
pub(crate) fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

/// The Key URI Format's `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=…&digits=…
/// &period=…`. Every parameter is spelled out, defaults included, so no app has to guess.
pub(crate) fn otpauth_uri(
    issuer: &str,
    account: &str,
    secret: &[u8],
    parameters: TotpParameters,
) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={algorithm}\
         &digits={digits}&period={period}",
        account = percent_encode(account),
        secret = base32(secret),
        algorithm = parameters.algorithm,
        digits = parameters.digits,
        period = parameters.period_secs,
    )
}

/// Percent-encodes all but RFC 3986 §2.3's unreserved characters, so a label or issuer reads
/// the same in the path and in the query (no `+` for space, no bare `:` or `&`).
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `uri` as a QR code in an `<svg>` element, ready to inline in a page: no image library, no
/// external resource, no XML prologue.
pub(crate) fn qr_svg(uri: &str) -> Result<String, IdentityError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|err| {
        IdentityError::Corrupt(format!("the otpauth URI does not fit a QR code: {err}"))
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn authenticator(seed: &[u8], algorithm: TotpAlgorithm, digits: u8) -> Authenticator {
        let parameters = TotpParameters {
            algorithm,
            digits,
            period_secs: 30,
        };
        Authenticator::new(seed, parameters).unwrap()
    }

    /// RFC 6238 Appendix B: the seeds are the ASCII digits repeated to the hash's output size.
    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// (T in seconds, SHA1, SHA256, SHA512) from the table of RFC 6238 Appendix B.
    const RFC6238_VECTORS: [(i64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = authenticator(SEED_SHA1, TotpAlgorithm::Sha1, 8);
        let sha256 = authenticator(SEED_SHA256, TotpAlgorithm::Sha256, 8);
        let sha512 = authenticator(SEED_SHA512, TotpAlgorithm::Sha512, 8);
        for (secs, expected_sha1, expected_sha256, expected_sha512) in RFC6238_VECTORS {
            for (authenticator, expected) in [
                (&sha1, expected_sha1),
                (&sha256, expected_sha256),
                (&sha512, expected_sha512),
            ] {
                let step = authenticator.step_at(at(secs)).unwrap();
                assert_eq!(authenticator.code_at_step(step), expected, "T = {secs}");
                assert_eq!(
                    authenticator.matching_steps(expected, at(secs)),
                    vec![step],
                    "T = {secs}"
                );
            }
        }
    }

    /// RFC 4226 Appendix D: HOTP values for counters 0 to 9; TOTP is HOTP of the time step.
    #[test]
    fn rfc4226_appendix_d_vectors() {
        const EXPECTED: [&str; 10] = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let hotp = authenticator(SEED_SHA1, TotpAlgorithm::Sha1, 6);
        for (counter, expected) in (0u64..).zip(EXPECTED) {
            assert_eq!(hotp.code_at_step(counter), expected, "counter {counter}");
        }
    }

    #[test]
    fn the_window_is_one_step_either_side() {
        let totp = authenticator(SEED_SHA1, TotpAlgorithm::Sha1, 6);
        let now = at(1_234_567_890);
        let current = totp.step_at(now).unwrap();
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let step = current.checked_add_signed(offset).unwrap();
            let code = totp.code_at_step(step);
            assert_eq!(
                totp.matching_steps(&code, now).contains(&step),
                accepted,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn only_the_right_number_of_digits_can_match() {
        let totp = authenticator(SEED_SHA1, TotpAlgorithm::Sha1, 6);
        let now = at(59);
        let code = totp.code_at_step(totp.step_at(now).unwrap());
        assert_eq!(totp.matching_steps(&code, now).len(), 1);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(totp.matching_steps(&spaced, now).len(), 1, "{spaced}");
        let too_long = format!("{code}0");
        let signed = format!("+{}", &code[1..]);
        for wrong in [&code[..5], too_long.as_str(), signed.as_str(), "", "abcdef"] {
            assert!(totp.matching_steps(wrong, now).is_empty(), "{wrong:?}");
        }
        assert!(totp.matching_steps(&code, at(-1)).is_empty(), "before 1970");
    }

    #[test]
    fn parameters_outside_the_rfc_are_refused() {
        for (digits, period_secs) in [(5, 30), (9, 30), (6, 0), (6, 301)] {
            let parameters = TotpParameters {
                algorithm: TotpAlgorithm::Sha1,
                digits,
                period_secs,
            };
            assert!(parameters.check().is_err(), "{parameters:?}");
            assert!(Authenticator::new(SEED_SHA1, parameters).is_err());
        }
        assert!(Authenticator::new(&[7; 15], TotpParameters::default()).is_err());
        assert!(TotpParameters::default().check().is_ok());
    }

    #[test]
    fn algorithms_round_trip_through_their_stored_form() {
        for algorithm in [
            TotpAlgorithm::Sha1,
            TotpAlgorithm::Sha256,
            TotpAlgorithm::Sha512,
        ] {
            assert_eq!(algorithm.as_str().parse(), Ok(algorithm));
        }
        assert!("MD5".parse::<TotpAlgorithm>().is_err());
    }

    #[test]
    fn new_secrets_are_160_random_bits() {
        let one = generate_secret().unwrap();
        assert_eq!(one.len() * 8, 160);
        assert_ne!(one, generate_secret().unwrap());
        assert_eq!(base32(&one).len(), 32);
    }

    #[test]
    fn the_uri_spells_out_every_parameter_and_encodes_the_label() {
        let uri = otpauth_uri("Gatehouse", "alice", SEED_SHA1, TotpParameters::default());
        assert_eq!(
            uri,
            "otpauth://totp/Gatehouse:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
        let odd = otpauth_uri(
            "Acme & Co",
            "bob:x",
            SEED_SHA1,
            TotpParameters {
                algorithm: TotpAlgorithm::Sha256,
                digits: 8,
                period_secs: 60,
            },
        );
        assert!(
            odd.starts_with("otpauth://totp/Acme%20%26%20Co:bob%3Ax?secret="),
            "{odd}"
        );
        assert!(
            odd.ends_with("&issuer=Acme%20%26%20Co&algorithm=SHA256&digits=8&period=60"),
            "{odd}"
        );
    }

    #[test]
    fn the_qr_code_is_an_inline_svg() {
        let svg = qr_svg("otpauth://totp/Gatehouse:alice?secret=GEZDGNBVGY3TQOJQ").unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains("href"), "no external resource");
    }
}
