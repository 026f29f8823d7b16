//! Refresh tokens and their families (RFC 6749 §6, §10.4; RFC 9700 §4.14.2).
//!
//! Every refresh token descends from one code exchange: its *family*. Rotation replaces the
//! token on each use; presenting a used token again means two parties hold it, so RFC 9700
//! §4.14.2 has the whole family revoked ("the authorization server cannot determine which
//! party submitted the invalid refresh token ... will revoke the active refresh token").
//!
//! A family is ONE store record, whatever the number of rotations: it holds the grant and the
//! *generation* of the one live token. A token is `family ‖ generation ‖ HMAC(family ‖
//! generation)`, base64url: the MAC makes tokens unforgeable (only the server holds the key,
//! derived from the master key), and it is what lets a used token be recognised without
//! keeping a tombstone per rotation — an authentic token of an older generation is a replay.
//! Rotation is a compare-and-swap of the record to the next generation, so of N concurrent
//! uses exactly one wins. The store never holds a token, only what it stands for (RFC 9700
//! §4.14.2 asks refresh tokens to be protected like credentials). The MAC is 256 bits, above
//! the 2^-160 guessing bound of RFC 6749 §10.10.
//!
//! Revoking a family deletes its record, which kills its refresh token, and writes a marker
//! that outlives the family's access tokens: they carry the family in their `fam` claim, so
//! introspection and userinfo refuse them (RFC 7009 §2.1: revoking a refresh token SHOULD
//! invalidate the access tokens of the same grant).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_sessions::{KvStore, StoreError};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::store::{family_key, family_revoked_key, ttl_until};

/// A family's identifier: 128 random bits, written as base64url (in store keys and the `fam`
/// claim of access tokens).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FamilyId([u8; FAMILY_LEN]);

const FAMILY_LEN: usize = 16;
const GENERATION_LEN: usize = 8;
const TAG_LEN: usize = 32;
const TOKEN_LEN: usize = FAMILY_LEN + GENERATION_LEN + TAG_LEN;

impl FamilyId {
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyId({self})")
    }
}

impl std::str::FromStr for FamilyId {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| ())?;
        Ok(Self(bytes.try_into().map_err(|_| ())?))
    }
}

impl serde::Serialize for FamilyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FamilyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse()
            .map_err(|()| serde::de::Error::custom("not a refresh-token family id"))
    }
}

/// Makes and reads refresh tokens. The key is derived from the master key, so every instance
/// of a deployment accepts every other's tokens.
#[derive(Clone)]
pub(crate) struct TokenCodec {
    key: [u8; 32],
}

impl TokenCodec {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        #[expect(
            clippy::expect_used,
            reason = "HMAC takes keys of any length; new_from_slice cannot fail"
        )]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key");
        mac.update(b"gatehouse refresh token v1\0");
        mac.update(body);
        mac
    }

    /// The token of `family` at `generation`.
    pub fn encode(&self, family: FamilyId, generation: u64) -> String {
        let mut bytes = [0u8; TOKEN_LEN];
        bytes[..FAMILY_LEN].copy_from_slice(&family.0);
        bytes[FAMILY_LEN..FAMILY_LEN + GENERATION_LEN].copy_from_slice(&generation.to_be_bytes());
        let tag = self
            .mac(&bytes[..FAMILY_LEN + GENERATION_LEN])
            .finalize()
            .into_bytes();
        bytes[FAMILY_LEN + GENERATION_LEN..].copy_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The family and generation of a token we issued; `None` for anything else (the MAC is
    /// compared in constant time).
    pub fn decode(&self, token: &str) -> Option<(FamilyId, u64)> {
        if token.len() != (TOKEN_LEN * 4).div_ceil(3) {
            return None;
        }
        let bytes: [u8; TOKEN_LEN] = URL_SAFE_NO_PAD.decode(token).ok()?.try_into().ok()?;
        let (body, tag) = bytes.split_at(FAMILY_LEN + GENERATION_LEN);
        self.mac(body).verify_slice(tag).ok()?;
        let (family, generation) = body.split_at(FAMILY_LEN);
        Some((
            FamilyId(family.try_into().ok()?),
            u64::from_be_bytes(generation.try_into().ok()?),
        ))
    }
}

/// A family: the grant of one code exchange, and which of its tokens is live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FamilyRecord {
    pub client_id: String,
    pub user_id: uuid::Uuid,
    /// The scope of the original grant (RFC 6749 §6: a rotated token keeps it exactly).
    pub scopes: Vec<String>,
    pub auth_time: i64,
    pub sid: String,
    pub amr: Vec<String>,
    /// The generation of the one live token; each rotation adds one.
    pub generation: u64,
    /// When the live token was issued and when it expires (Unix seconds). The expiry is
    /// checked against the caller's clock as well as enforced by the store TTL.
    pub iat: i64,
    pub exp: i64,
}

/// A family record as read, with the exact bytes a rotation must swap from.
pub(crate) struct StoredFamily {
    pub record: FamilyRecord,
    raw: Vec<u8>,
}

fn encode(record: &FamilyRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// What [`start`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Started {
    Started,
    /// The id is taken (a broken random source).
    Taken,
    /// The family was revoked before it was written: a replay of the code that started it
    /// raced the first exchange (RFC 6749 §4.1.2). Nothing is left in the store.
    Revoked,
}

/// Writes a new family at generation 0.
///
/// A revocation may come first (the code's reuse marker names the family before the first
/// exchange gets here). [`revoke`] writes its marker and then deletes the record; this writes
/// the record and then looks for the marker. Whichever order the four steps run in, either the
/// revocation deletes the record or this sees the marker and deletes it itself.
pub(crate) async fn start(
    store: &dyn KvStore,
    family: FamilyId,
    record: &FamilyRecord,
    ttl: Duration,
) -> Result<Started, StoreError> {
    let key = family_key(family);
    if !store.put_if_absent(&key, &encode(record)?, ttl).await? {
        return Ok(Started::Taken);
    }
    if store.exists_any(&[&family_revoked_key(family)]).await? {
        store.delete(&key).await?;
        return Ok(Started::Revoked);
    }
    Ok(Started::Started)
}

/// The live family, if it has not expired or been revoked.
pub(crate) async fn find(
    store: &dyn KvStore,
    family: FamilyId,
) -> Result<Option<StoredFamily>, StoreError> {
    let key = family_key(family);
    let Some(raw) = store.get(&key).await? else {
        return Ok(None);
    };
    let record = serde_json::from_slice(&raw).map_err(|e| {
        StoreError::Corrupt(format!("value under {key:?} is not what we wrote: {e}"))
    })?;
    Ok(Some(StoredFamily { record, raw }))
}

/// Moves the family from the state that was read to `next`; false if anything changed it in
/// between (another rotation, a revocation). This is the one atomic step that makes rotation
/// race-free.
pub(crate) async fn rotate(
    store: &dyn KvStore,
    family: FamilyId,
    read: &StoredFamily,
    next: &FamilyRecord,
    ttl: Duration,
) -> Result<bool, StoreError> {
    store
        .replace_if(&family_key(family), &read.raw, &encode(next)?, ttl)
        .await
}

/// Kills the family's refresh token and, until `latest_exp` (the latest expiry one of its
/// access tokens can have), its access tokens. The marker is written first, so that a failure
/// half-way never leaves a live family whose access tokens still pass.
pub(crate) async fn revoke(
    store: &dyn KvStore,
    family: FamilyId,
    now: i64,
    latest_exp: i64,
) -> Result<(), StoreError> {
    // A rotation that won just before the revocation may still be minting its access token:
    // a minute of margin covers its `exp` too.
    let until = latest_exp.saturating_add(60);
    store
        .put(&family_revoked_key(family), b"1", ttl_until(until, now))
        .await?;
    store.delete(&family_key(family)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use gatehouse_sessions::MemoryStore;

    use super::*;

    fn record() -> FamilyRecord {
        FamilyRecord {
            client_id: "c".into(),
            user_id: uuid::Uuid::nil(),
            scopes: vec!["openid".into()],
            auth_time: 1,
            sid: "s".into(),
            amr: vec!["pwd".into()],
            generation: 0,
            iat: 1,
            exp: 100,
        }
    }

    #[tokio::test]
    async fn a_family_revoked_before_it_starts_never_comes_alive() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(60);
        let family = FamilyId::random();
        revoke(&store, family, 0, 600).await.unwrap();
        assert_eq!(
            start(&store, family, &record(), ttl).await.unwrap(),
            Started::Revoked
        );
        assert!(find(&store, family).await.unwrap().is_none());

        let other = FamilyId::random();
        assert_eq!(
            start(&store, other, &record(), ttl).await.unwrap(),
            Started::Started
        );
        assert_eq!(
            start(&store, other, &record(), ttl).await.unwrap(),
            Started::Taken
        );
        // Revoked after it started: the record goes.
        revoke(&store, other, 0, 600).await.unwrap();
        assert!(find(&store, other).await.unwrap().is_none());
    }

    fn codec() -> TokenCodec {
        TokenCodec::new([7; 32])
    }

    #[test]
    fn tokens_round_trip_and_name_family_and_generation() {
        let family = FamilyId::random();
        let token = codec().encode(family, 41);
        assert_eq!(token.len(), 75);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(codec().decode(&token), Some((family, 41)));
        assert_ne!(codec().encode(family, 42), token);
    }

    #[test]
    fn a_forged_or_damaged_token_is_refused() {
        let family = FamilyId::random();
        let token = codec().encode(family, 3);
        // Another key.
        assert_eq!(TokenCodec::new([8; 32]).decode(&token), None);
        // Every single-character change.
        for i in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let damaged: String = chars.into_iter().collect();
            assert_eq!(codec().decode(&damaged), None, "position {i}");
        }
        // The generation rewritten with the old MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[FAMILY_LEN + GENERATION_LEN - 1] ^= 1;
        assert_eq!(codec().decode(&URL_SAFE_NO_PAD.encode(&bytes)), None);
        // Wrong lengths and alphabets.
        let plus = format!("+{}", &token[1..]);
        for bad in ["", "x", &token[1..], &format!("{token}A"), &plus] {
            assert_eq!(codec().decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn family_ids_are_128_bit_base64url_and_parse_back() {
        let family = FamilyId::random();
        let text = family.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(text.parse::<FamilyId>(), Ok(family));
        assert_eq!("short".parse::<FamilyId>(), Err(()));
        let json = serde_json::to_string(&family).unwrap();
        assert_eq!(serde_json::from_str::<FamilyId>(&json).unwrap(), family);
        assert_ne!(FamilyId::random(), family);
    }
}
