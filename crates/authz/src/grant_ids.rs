//! Grant ids, and the two secrets that name one: the authorization code and refresh tokens.
//!
//! A *grant* is one authorization: its code, then (once exchanged) its refresh-token family.
//! Both secrets are the grant id plus an HMAC-SHA256 tag under a key derived from the master
//! key, so every instance of a deployment makes and accepts the same ones:
//!
//! - code: `grant ‖ tag`, 48 bytes, 64 base64url characters;
//! - refresh token: `grant ‖ generation ‖ tag`, 56 bytes, 75 characters.
//!
//! The tag makes them unforgeable, so the store can be keyed by the plain grant id and never
//! holds a secret (RFC 6749 §10.5 and RFC 9700 §4.14.2 ask codes and refresh tokens to be
//! protected like credentials; a dump of the store names grants but cannot be replayed). It
//! also means an authentic code or refresh token that is no longer live is recognisably a
//! replay without a tombstone per use. 256-bit tags are above the 2^-160 guessing bound of
//! RFC 6749 §10.10. Each kind of secret has its own MAC domain, so one cannot pass as the other.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

const GRANT_LEN: usize = 16;
const GENERATION_LEN: usize = 8;
const TAG_LEN: usize = 32;
const CODE_LEN: usize = GRANT_LEN + TAG_LEN;
const REFRESH_LEN: usize = GRANT_LEN + GENERATION_LEN + TAG_LEN;

const CODE_DOMAIN: &[u8] = b"gatehouse authorization code v1\0";
const REFRESH_DOMAIN: &[u8] = b"gatehouse refresh token v1\0";

/// A grant's identifier: 128 random bits, written as base64url (in store keys and the
/// `grant_id` claim of access tokens).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct GrantId([u8; GRANT_LEN]);

impl GrantId {
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantId({self})")
    }
}

impl std::str::FromStr for GrantId {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| ())?;
        Ok(Self(bytes.try_into().map_err(|_| ())?))
    }
}

/// Makes and reads codes and refresh tokens.
#[derive(Clone)]
pub(crate) struct TokenCodec {
    key: [u8; 32],
}

impl TokenCodec {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, domain: &[u8], body: &[u8]) -> Hmac<Sha256> {
        #[expect(
            clippy::expect_used,
            reason = "HMAC takes keys of any length; new_from_slice cannot fail"
        )]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key");
        mac.update(domain);
        mac.update(body);
        mac
    }

    fn seal<const N: usize>(&self, domain: &[u8], body: &[u8]) -> String {
        let mut bytes = [0u8; N];
        let (head, tag) = bytes.split_at_mut(N - TAG_LEN);
        head.copy_from_slice(body);
        tag.copy_from_slice(&self.mac(domain, body).finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The body of a sealed value of `N` bytes, if its tag is right (compared in constant
    /// time); `None` for anything else.
    fn open<const N: usize>(&self, domain: &[u8], text: &str) -> Option<[u8; N]> {
        if text.len() != (N * 4).div_ceil(3) {
            return None;
        }
        let bytes: [u8; N] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
        let (body, tag) = bytes.split_at(N - TAG_LEN);
        self.mac(domain, body).verify_slice(tag).ok()?;
        Some(bytes)
    }

    /// The authorization code of `grant`.
    pub fn code(&self, grant: GrantId) -> String {
        self.seal::<CODE_LEN>(CODE_DOMAIN, &grant.0)
    }

    /// The grant of a code we issued.
    pub fn parse_code(&self, code: &str) -> Option<GrantId> {
        let bytes = self.open::<CODE_LEN>(CODE_DOMAIN, code)?;
        Some(GrantId(bytes[..GRANT_LEN].try_into().ok()?))
    }

    /// The refresh token of `grant` at `generation`.
    pub fn refresh_token(&self, grant: GrantId, generation: u64) -> String {
        let mut body = [0u8; GRANT_LEN + GENERATION_LEN];
        body[..GRANT_LEN].copy_from_slice(&grant.0);
        body[GRANT_LEN..].copy_from_slice(&generation.to_be_bytes());
        self.seal::<REFRESH_LEN>(REFRESH_DOMAIN, &body)
    }

    /// The grant and generation of a refresh token we issued.
    pub fn parse_refresh_token(&self, token: &str) -> Option<(GrantId, u64)> {
        let bytes = self.open::<REFRESH_LEN>(REFRESH_DOMAIN, token)?;
        let (grant, rest) = bytes.split_at(GRANT_LEN);
        Some((
            GrantId(grant.try_into().ok()?),
            u64::from_be_bytes(rest[..GENERATION_LEN].try_into().ok()?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> TokenCodec {
        TokenCodec::new([7; 32])
    }

    /// Every single-character change of `text`.
    fn damaged(text: &str) -> impl Iterator<Item = String> + '_ {
        (0..text.len()).map(move |i| {
            let mut chars: Vec<char> = text.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            chars.into_iter().collect()
        })
    }

    #[test]
    fn refresh_tokens_round_trip_and_name_grant_and_generation() {
        let grant = GrantId::random();
        let token = codec().refresh_token(grant, 41);
        assert_eq!(token.len(), 75);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(codec().parse_refresh_token(&token), Some((grant, 41)));
        assert_ne!(codec().refresh_token(grant, 42), token);
    }

    #[test]
    fn codes_round_trip_and_name_their_grant() {
        let grant = GrantId::random();
        let code = codec().code(grant);
        assert_eq!(code.len(), 64);
        assert_eq!(codec().parse_code(&code), Some(grant));
        assert_ne!(codec().code(GrantId::random()), code);
    }

    #[test]
    fn forged_damaged_or_foreign_secrets_are_refused() {
        let grant = GrantId::random();
        let token = codec().refresh_token(grant, 3);
        let code = codec().code(grant);
        // Another key.
        assert_eq!(TokenCodec::new([8; 32]).parse_refresh_token(&token), None);
        assert_eq!(TokenCodec::new([8; 32]).parse_code(&code), None);
        for bad in damaged(&token) {
            assert_eq!(codec().parse_refresh_token(&bad), None, "{bad}");
        }
        for bad in damaged(&code) {
            assert_eq!(codec().parse_code(&bad), None, "{bad}");
        }
        // The generation rewritten under the old tag.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[GRANT_LEN + GENERATION_LEN - 1] ^= 1;
        assert_eq!(
            codec().parse_refresh_token(&URL_SAFE_NO_PAD.encode(&bytes)),
            None
        );
        // A code is not a refresh token, nor the other way round: different lengths, and a
        // code-shaped value sealed in the refresh domain fails the tag.
        assert_eq!(codec().parse_code(&token), None);
        assert_eq!(codec().parse_refresh_token(&code), None);
        let cross = codec().seal::<CODE_LEN>(REFRESH_DOMAIN, &grant.0);
        assert_eq!(codec().parse_code(&cross), None);
        // Wrong lengths and alphabets.
        let plus = format!("+{}", &token[1..]);
        for bad in ["", "x", &token[1..], &format!("{token}A"), &plus] {
            assert_eq!(codec().parse_refresh_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn grant_ids_are_128_bit_base64url_and_parse_back() {
        let grant = GrantId::random();
        let text = grant.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(text.parse::<GrantId>(), Ok(grant));
        assert_eq!("short".parse::<GrantId>(), Err(()));
        assert_ne!(GrantId::random(), grant);
    }
}
