//! The set of signing keys and their rotation states, and the JWKS built from it.
//!
//! Rotation (the order a key moves through): `Next` is published before it signs, so relying
//! parties that cache the JWKS (RFC 7517 §5) already know it when the first token arrives;
//! `Active` signs new tokens; `Retired { until }` stays published, and verifiable, until
//! `until` — the caller sets it to the retirement time plus the longest token lifetime, so
//! every token the key signed has expired before the key disappears.

use serde_json::{Value, json};

use crate::algorithm::Algorithm;
use crate::signing_key::SigningKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, accepted for verification, not yet signing.
    Next,
    /// Signs new tokens; at most one per algorithm is used (see [`KeySet::new`]).
    Active,
    /// Published and accepted while `now <= until` (Unix seconds), then dropped.
    Retired { until: i64 },
}

impl KeyState {
    /// Whether the key is in the JWKS, and so accepted for verification, at `now`.
    pub fn is_published(self, now: i64) -> bool {
        match self {
            Self::Next | Self::Active => true,
            Self::Retired { until } => now <= until,
        }
    }
}

/// Built once per rotation and shared (behind an `Arc`) by every request; lookups are linear
/// scans, which beat hashing for the handful of keys a deployment publishes.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<(SigningKey, KeyState)>,
}

impl KeySet {
    /// If several keys of one algorithm are `Active`, the first listed signs; the others are
    /// still published and verify like `Next` keys. A `kid` listed twice resolves to the first.
    pub fn new(keys: Vec<(SigningKey, KeyState)>) -> Self {
        Self { keys }
    }

    /// The key that signs new tokens of `alg`.
    pub fn active(&self, alg: Algorithm) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|(key, state)| *state == KeyState::Active && key.algorithm() == alg)
            .map(|(key, _)| key)
    }

    /// Any key of the set by `kid`, whatever its state. Verification uses
    /// [`KeySet::verification_key`], which also applies the retirement deadline.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|(key, _)| key.kid() == kid)
            .map(|(key, _)| key)
    }

    /// The key a token with this `kid` may be verified with at `now`: Active, Next, or
    /// Retired and not past `until` — exactly the keys [`KeySet::jwks`] publishes.
    pub fn verification_key(&self, kid: &str, now: i64) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|(key, _)| key.kid() == kid)
            .filter(|(_, state)| state.is_published(now))
            .map(|(key, _)| key)
    }

    pub fn keys(&self) -> impl Iterator<Item = (&SigningKey, KeyState)> {
        self.keys.iter().map(|(key, state)| (key, *state))
    }

    /// The JWK Set document (RFC 7517 §5): public members only, retired keys past `until`
    /// left out. Cheap (no crypto, the JWKs are prebuilt), so callers may rebuild per request
    /// or cache it until the next rotation.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|(_, state)| state.is_published(now))
            .map(|(key, _)| Value::Object(key.public_jwk_ref().clone()))
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::KeyState;

    #[test]
    fn retired_keys_are_published_up_to_and_including_until() {
        let retired = KeyState::Retired { until: 100 };
        assert!(retired.is_published(99));
        assert!(retired.is_published(100));
        assert!(!retired.is_published(101));
        assert!(KeyState::Next.is_published(i64::MAX));
        assert!(KeyState::Active.is_published(i64::MAX));
    }
}
