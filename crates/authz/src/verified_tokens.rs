//! Access tokens whose signature already passed, so that the same token is not verified twice.
//!
//! Resource servers and gateways introspect the same access token many times in its life, and
//! userinfo sees it on every call; its ES256 verification costs more than the rest of the
//! request. This cache keeps the outcome of the signature check and the claims parse, and
//! nothing else:
//!
//! - Keyed by the SHA-256 of the whole token, never the token itself: a memory dump shows no
//!   usable token, and a token that differs in any byte (a forged signature on a copied header
//!   and payload) has another key and is verified in full.
//! - Only tokens that passed are kept, so a flood of forged or garbage tokens costs one hash
//!   each and cannot fill it. It holds at most `capacity` entries (moka evicts by recency and
//!   frequency past that), and an entry is dropped once its token has expired.
//! - A hit is revalidated ([`VerifiedAccessToken::revalidate`]): `exp`, `nbf`, `iat` against the
//!   caller's `now`, and the signing key still published. So a cached token never outlives its
//!   `exp` nor its key, whatever moka's own clock says.
//! - Revocation is not cached here: every caller still asks the session store (`denylist`),
//!   the client and the user on every request, hit or miss.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_tokens::{KeySet, TokenError, Validation, VerifiedAccessToken};
use moka::Expiry;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

type TokenHash = [u8; 32];

pub(crate) struct VerifiedTokenCache {
    /// `None` when configured with no entries.
    entries: Option<Cache<TokenHash, Arc<Entry>>>,
}

struct Entry {
    token: VerifiedAccessToken,
    /// Until the token's `exp`, from the protocol time it was verified at.
    lifetime: Duration,
}

/// Each entry lives until its token's `exp`.
struct UntilExpiry;

impl Expiry<TokenHash, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

impl VerifiedTokenCache {
    /// A cache of at most `capacity` verified tokens; zero disables it.
    pub(crate) fn new(capacity: u64) -> Self {
        let entries = (capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build()
        });
        Self { entries }
    }

    /// The verified token: from the cache when this exact token passed before and still
    /// passes [`VerifiedAccessToken::revalidate`], else through `verify` (kept when it passes).
    pub(crate) fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        validation: &Validation,
        verify: impl FnOnce() -> Result<VerifiedAccessToken, TokenError>,
    ) -> Result<VerifiedAccessToken, TokenError> {
        let Some(entries) = &self.entries else {
            return verify();
        };
        let key: TokenHash = Sha256::digest(token.as_bytes()).into();
        if let Some(entry) = entries.get(&key) {
            entry.token.revalidate(keys, validation)?;
            return Ok(entry.token.clone());
        }
        let verified = verify()?;
        let remaining = verified.claims.exp.saturating_sub(validation.now);
        if let Ok(secs) = u64::try_from(remaining)
            && secs > 0
        {
            entries.insert(
                key,
                Arc::new(Entry {
                    token: verified.clone(),
                    lifetime: Duration::from_secs(secs),
                }),
            );
        }
        Ok(verified)
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.entries.as_ref().map_or(0, |entries| {
            entries.run_pending_tasks();
            entries.entry_count()
        })
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_tokens::{AccessTokenClaims, verify_access_token_for_reuse};

    use super::*;

    /// A verified token with this `jti`, minted and verified with a throw-away key.
    fn verified(keys: &KeySet, jti: &str, now: i64) -> (String, VerifiedAccessToken) {
        let key = keys.active(gatehouse_tokens::Algorithm::ES256).unwrap();
        let claims = AccessTokenClaims {
            iss: "https://issuer.test".to_owned(),
            sub: "client".to_owned(),
            aud: vec!["https://issuer.test".to_owned()],
            client_id: "client".to_owned(),
            scope: String::new(),
            iat: now,
            exp: now + 600,
            jti: jti.to_owned(),
            auth_time: None,
            sid: None,
            grant_id: None,
            store_epoch: None,
            act: None,
            org_id: None,
            org_slug: None,
            org_roles: None,
        };
        let token = gatehouse_tokens::mint_access_token(key, &claims).unwrap();
        let verified = verify_access_token_for_reuse(
            &token,
            keys,
            &Validation::new("https://issuer.test", now),
        )
        .unwrap();
        (token, verified)
    }

    fn key_set() -> KeySet {
        let key =
            gatehouse_tokens::SigningKey::generate(gatehouse_tokens::Algorithm::ES256).unwrap();
        KeySet::new(vec![(key, gatehouse_tokens::KeyState::Active)])
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_only_hashes() {
        let keys = key_set();
        let now = 1_900_000_000;
        let validation = Validation::new("https://issuer.test", now);
        let cache = VerifiedTokenCache::new(8);
        for n in 0..40 {
            let (token, verified) = verified(&keys, &format!("jti-{n}"), now);
            let got = cache
                .verify(&token, &keys, &validation, || Ok(verified))
                .unwrap();
            assert_eq!(got.claims.jti, format!("jti-{n}"));
        }
        let len = cache.len();
        assert!(len <= 8, "{len} entries");
    }

    #[test]
    fn a_hit_skips_verification_and_a_miss_does_not() {
        let keys = key_set();
        let now = 1_900_000_000;
        let validation = Validation::new("https://issuer.test", now);
        let cache = VerifiedTokenCache::new(16);
        let (token, verified) = verified(&keys, "jti", now);
        let first = cache.verify(&token, &keys, &validation, || Ok(verified.clone()));
        assert!(first.is_ok());
        let again = cache.verify(&token, &keys, &validation, || {
            unreachable!("a cached token is not verified again")
        });
        assert_eq!(again.unwrap().claims.jti, "jti");
        // The same token with one more byte is another key.
        let mut calls = 0;
        let other = cache.verify(&format!("{token}x"), &keys, &validation, || {
            calls += 1;
            Err(TokenError::BadSignature)
        });
        assert!(matches!(other, Err(TokenError::BadSignature)));
        assert_eq!(calls, 1);
        // Failures are not kept.
        let other = cache.verify(&format!("{token}x"), &keys, &validation, || {
            calls += 1;
            Err(TokenError::BadSignature)
        });
        assert!(other.is_err());
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_hit_is_revalidated_against_now_and_the_published_keys() {
        let keys = key_set();
        let now = 1_900_000_000;
        let cache = VerifiedTokenCache::new(16);
        let (token, verified) = verified(&keys, "jti", now);
        let validation = Validation::new("https://issuer.test", now);
        cache
            .verify(&token, &keys, &validation, || Ok(verified))
            .unwrap();
        let never = || -> Result<VerifiedAccessToken, TokenError> { unreachable!() };
        let expired = Validation::new("https://issuer.test", now + 600);
        assert!(matches!(
            cache.verify(&token, &keys, &expired, never),
            Err(TokenError::Expired)
        ));
        let before_iat = Validation::new("https://issuer.test", now - 1);
        assert!(matches!(
            cache.verify(&token, &keys, &before_iat, never),
            Err(TokenError::NotYetValid)
        ));
        let other_issuer = Validation::new("https://other.test", now);
        assert!(matches!(
            cache.verify(&token, &keys, &other_issuer, never),
            Err(TokenError::WrongIssuer)
        ));
        // The key is gone from the published set: its tokens go with it.
        let rotated = key_set();
        assert!(matches!(
            cache.verify(&token, &rotated, &validation, never),
            Err(TokenError::UnknownKey(_))
        ));
    }

    #[test]
    fn zero_capacity_disables_the_cache() {
        let keys = key_set();
        let now = 1_900_000_000;
        let validation = Validation::new("https://issuer.test", now);
        let cache = VerifiedTokenCache::new(0);
        let (token, verified) = verified(&keys, "jti", now);
        let mut calls = 0;
        for _ in 0..2 {
            cache
                .verify(&token, &keys, &validation, || {
                    calls += 1;
                    Ok(verified.clone())
                })
                .unwrap();
        }
        assert_eq!(calls, 2);
    }
}
