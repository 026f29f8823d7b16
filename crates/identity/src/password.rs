//! Argon2id password hashing (RFC 9106) on a bounded blocking pool.
//!
//! Each hash costs tens of milliseconds of CPU and `memory_kib` of RAM. Running it on the async
//! workers would stall every other request during a login storm, and running it unbounded on
//! the blocking pool would exhaust memory; a semaphore caps how many run at once and the rest
//! queue without occupying a thread.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::IdentityError;

/// Argon2id cost for new hashes. Existing hashes verify with the cost embedded in them, so
/// raising these only affects passwords hashed afterwards.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// OWASP's minimum recommendation for Argon2id.
impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords; cheap to clone, all clones share one concurrency limit.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Argon2Params,
    argon2: Argon2<'static>,
    /// Verified against when there is no account, so that "no such user" costs the same time as
    /// "wrong password" and response timing does not reveal which accounts exist.
    dummy_phc: String,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl PasswordHasher {
    /// Fails if Argon2 rejects `params` or `max_concurrent` is zero. Hashes one throw-away
    /// password, so it takes as long as one login.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, IdentityError> {
        if max_concurrent == 0 {
            return Err(IdentityError::Hash(
                "max_concurrent must be at least 1".to_owned(),
            ));
        }
        let cost = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|err| {
            IdentityError::Hash(format!("invalid Argon2 parameters {params:?}: {err}"))
        })?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost);
        let dummy_password: [u8; 32] = rand::random();
        let dummy_phc = hash_bytes(&argon2, &dummy_password)?;
        let max_concurrent = max_concurrent.min(Semaphore::MAX_PERMITS);
        Ok(PasswordHasher {
            inner: Arc::new(Inner {
                params,
                argon2,
                dummy_phc,
                slots: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
            }),
        })
    }

    pub fn params(&self) -> Argon2Params {
        self.inner.params
    }

    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a fresh random salt.
    #[tracing::instrument(skip(self, password))]
    pub async fn hash(&self, password: String) -> Result<String, IdentityError> {
        let this = self.clone();
        self.in_slot(move || this.hash_blocking(&password)).await
    }

    /// Whether `password` matches `phc`, using the cost parameters embedded in `phc`. With no
    /// hash (unknown account) a dummy hash is verified at the same cost and the answer is false.
    #[tracing::instrument(skip(self, phc, password))]
    pub async fn verify(
        &self,
        phc: Option<String>,
        password: String,
    ) -> Result<bool, IdentityError> {
        let this = self.clone();
        self.in_slot(move || this.verify_blocking(phc.as_deref(), &password))
            .await
    }

    /// `hash` on the calling thread, outside the concurrency limit.
    #[tracing::instrument(skip(self, password))]
    pub fn hash_blocking(&self, password: &str) -> Result<String, IdentityError> {
        hash_bytes(&self.inner.argon2, password.as_bytes())
    }

    /// `verify` on the calling thread, outside the concurrency limit.
    #[tracing::instrument(skip(self, phc, password))]
    pub fn verify_blocking(
        &self,
        phc: Option<&str>,
        password: &str,
    ) -> Result<bool, IdentityError> {
        match phc {
            Some(phc) => self.matches(phc, password),
            None => {
                self.matches(&self.inner.dummy_phc, password)?;
                Ok(false)
            }
        }
    }

    fn matches(&self, phc: &str, password: &str) -> Result<bool, IdentityError> {
        let parsed = PasswordHash::new(phc).map_err(|err| {
            IdentityError::Hash(format!("stored hash is not a PHC string: {err}"))
        })?;
        match self
            .inner
            .argon2
            .verify_password(password.as_bytes(), &parsed)
        {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(err) => Err(IdentityError::Hash(err.to_string())),
        }
    }

    /// Waits for a free slot without holding a thread, then runs `work` on the blocking pool.
    /// The permit moves into the task: if the caller gives up, the slot stays taken until the
    /// hash actually finishes.
    async fn in_slot<T, F>(&self, work: F) -> Result<T, IdentityError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, IdentityError> + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.slots)
            .acquire_owned()
            .await
            .map_err(|err| IdentityError::Hash(err.to_string()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await?
    }
}

fn hash_bytes(argon2: &Argon2<'static>, password: &[u8]) -> Result<String, IdentityError> {
    argon2
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|err| IdentityError::Hash(err.to_string()))
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .field("max_concurrent", &self.inner.max_concurrent)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let phc = hasher
            .hash("correct horse battery".to_owned())
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        assert!(
            hasher
                .verify(Some(phc.clone()), "correct horse battery".to_owned())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Some(phc), "Correct horse battery".to_owned())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn salts_differ_between_hashes_of_one_password() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let a = hasher.hash("same password".to_owned()).await.unwrap();
        let b = hasher.hash("same password".to_owned()).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn no_hash_means_a_dummy_verification_that_fails() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        assert!(
            !hasher
                .verify(None, "anything at all".to_owned())
                .await
                .unwrap()
        );
        assert!(
            hasher
                .inner
                .dummy_phc
                .starts_with("$argon2id$v=19$m=256,t=1,p=1$")
        );
    }

    #[test]
    fn verification_uses_the_cost_embedded_in_the_hash() {
        let old = PasswordHasher::new(CHEAP, 1).unwrap();
        let phc = old.hash_blocking("rotated params").unwrap();
        let stronger = Argon2Params {
            memory_kib: 512,
            iterations: 2,
            parallelism: 1,
        };
        let new = PasswordHasher::new(stronger, 1).unwrap();
        assert!(new.verify_blocking(Some(&phc), "rotated params").unwrap());
        assert!(new.hash_blocking("x").unwrap().contains("m=512,t=2,p=1"));
    }

    #[test]
    fn a_malformed_stored_hash_is_an_error_not_a_mismatch() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let err = hasher.verify_blocking(Some("not-a-phc"), "pw").unwrap_err();
        assert!(matches!(err, IdentityError::Hash(_)), "{err}");
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let too_little_memory = Argon2Params {
            memory_kib: 1,
            ..CHEAP
        };
        assert!(PasswordHasher::new(too_little_memory, 1).is_err());
        let no_threads = Argon2Params {
            parallelism: 0,
            ..CHEAP
        };
        assert!(PasswordHasher::new(no_threads, 1).is_err());
        assert!(PasswordHasher::new(CHEAP, 0).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_max_concurrent_hashes_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Barrier};

        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        // Each job waits for a partner: proves two run together, and with eight queued a third
        // would raise the peak if the limit leaked.
        let pair = Arc::new(Barrier::new(2));
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (hasher, running, peak, pair) = (
                hasher.clone(),
                Arc::clone(&running),
                Arc::clone(&peak),
                Arc::clone(&pair),
            );
            jobs.spawn(async move {
                hasher
                    .in_slot(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        pair.wait();
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            });
        }
        while let Some(done) = jobs.join_next().await {
            done.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(hasher.inner.slots.available_permits(), 2);
    }
}
