//! Argon2id password hashing (RFC 9106) on a bounded blocking pool.
//!
//! Each hash costs tens of milliseconds of CPU and `memory_kib` of RAM. Running it on the async
//! workers would stall every other request during a login storm, and running it unbounded on
//! the blocking pool would exhaust memory; a semaphore caps how many run at once and the rest
//! queue without occupying a thread.
//!
//! The Argon2 working memory (19 MiB at the default cost) is allocated once per slot and reused.
//! Allocating it per hash on whichever blocking thread runs it fragmented the C allocator's
//! per-thread arenas: a login storm left gigabytes resident, and touching fresh pages on every
//! login cost time (measured with tests/load/run.sh).

use std::fmt;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
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
    /// Working memory for hashes at `params`, at most one per slot, reused across hashes.
    buffers: Mutex<Vec<Vec<Block>>>,
    /// Verified against when there is no account, so that "no such user" costs the same time as
    /// "wrong password" and response timing does not reveal which accounts exist.
    dummy_phc: String,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl PasswordHasher {
    /// Fails if Argon2 rejects `params` or `max_concurrent` is zero.
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
        let max_concurrent = max_concurrent.min(Semaphore::MAX_PERMITS);
        let dummy_phc = dummy_hash(&argon2)?;
        let hasher = PasswordHasher {
            inner: Arc::new(Inner {
                params,
                argon2,
                buffers: Mutex::new(Vec::new()),
                dummy_phc,
                slots: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
            }),
        };
        Ok(hasher)
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
        let salt: [u8; 16] = rand::random();
        let mut out = [0u8; 32];
        self.compute(&self.inner.argon2, password.as_bytes(), &salt, &mut out)?;
        phc_string(&self.inner.argon2, &salt, &out)
    }

    /// Runs Argon2 with pooled working memory when the cost matches the configured one (a
    /// stored hash with another cost gets a one-off buffer).
    fn compute(
        &self,
        argon2: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), IdentityError> {
        let blocks = argon2.params().block_count();
        let pooled = blocks == self.inner.argon2.params().block_count();
        let mut memory = if pooled {
            self.inner
                .buffers
                .lock()
                .ok()
                .and_then(|mut free| free.pop())
                .unwrap_or_else(|| vec![Block::default(); blocks])
        } else {
            vec![Block::default(); blocks]
        };
        let result = argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..])
            .map_err(hash_error);
        if pooled
            && let Ok(mut free) = self.inner.buffers.lock()
            && free.len() < self.inner.max_concurrent
        {
            free.push(memory);
        }
        result
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

    /// Recomputes the hash with the algorithm, version, cost and salt stored in `phc` and
    /// compares the outputs in constant time.
    fn matches(&self, phc: &str, password: &str) -> Result<bool, IdentityError> {
        let parsed = PasswordHash::new(phc).map_err(|err| {
            IdentityError::Hash(format!("stored hash is not a PHC string: {err}"))
        })?;
        let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(hash_error)?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(hash_error)?,
            None => Version::V0x13,
        };
        let params = Params::try_from(&parsed).map_err(hash_error)?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(IdentityError::Hash(
                "stored hash has no salt or output".to_owned(),
            ));
        };
        let argon2 = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        self.compute(&argon2, password.as_bytes(), salt.as_ref(), &mut out)?;
        Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
    }

    /// Waits for a free slot without holding a thread, then runs `work` on the blocking pool.
    /// The permit moves into the task: if the caller gives up, the slot stays taken until the
    /// hash actually finishes.
    async fn in_slot<T, F>(&self, work: F) -> Result<T, IdentityError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, IdentityError> + Send + 'static,
    {
        let queued = std::time::Instant::now();
        let permit = Arc::clone(&self.inner.slots)
            .acquire_owned()
            .await
            .map_err(|err| IdentityError::Hash(err.to_string()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // Waiting covers the slot and the blocking pool's start: what a login storm adds.
            let started = std::time::Instant::now();
            metrics::histogram!("gatehouse_password_hash_queue_wait_seconds")
                .record(started.duration_since(queued));
            let result = span.in_scope(work);
            metrics::histogram!("gatehouse_password_hash_duration_seconds")
                .record(started.elapsed());
            result
        })
        .await?
    }
}

fn hash_error(err: impl fmt::Display) -> IdentityError {
    IdentityError::Hash(err.to_string())
}

/// A PHC string at the configured cost with a random salt and a random output. Verifying a
/// password against it costs exactly what a real verification costs and never succeeds, and it
/// needs no hashing at start-up (which would hold `memory_kib` resident from the first second).
fn dummy_hash(argon2: &Argon2<'_>) -> Result<String, IdentityError> {
    phc_string(
        argon2,
        &rand::random::<[u8; 16]>(),
        &rand::random::<[u8; 32]>(),
    )
}

/// `$argon2id$v=19$m=…,t=…,p=…$<salt>$<output>` for `argon2`'s cost.
fn phc_string(argon2: &Argon2<'_>, salt: &[u8], out: &[u8]) -> Result<String, IdentityError> {
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(u32::from(Version::V0x13)),
        params: ParamsString::try_from(argon2.params()).map_err(hash_error)?,
        salt: Some(Salt::new(salt).map_err(hash_error)?),
        hash: Some(Output::new(out).map_err(hash_error)?),
    };
    Ok(phc.to_string())
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

    #[test]
    fn hashes_interoperate_with_the_upstream_argon2_api() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let ours = hasher.hash_blocking("interop password").unwrap();
        let upstream = Argon2::default();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            upstream
                .verify_password(b"interop password", &parsed)
                .is_ok()
        );
        assert!(
            upstream
                .verify_password(b"other password", &parsed)
                .is_err()
        );

        // A hash written by the upstream API at another cost verifies through the one-off path.
        let other_cost = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(512, 2, 1, None).unwrap(),
        );
        let theirs = other_cost
            .hash_password(b"legacy password")
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify_blocking(Some(&theirs), "legacy password")
                .unwrap()
        );
        assert!(!hasher.verify_blocking(Some(&theirs), "wrong").unwrap());
    }

    #[test]
    fn working_memory_is_reused_and_bounded_by_the_slots() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();
        assert_eq!(
            hasher.inner.buffers.lock().unwrap().len(),
            0,
            "idle: nothing kept"
        );
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| hasher.hash_blocking("concurrent password").unwrap());
            }
        });
        let kept = hasher.inner.buffers.lock().unwrap().len();
        assert!((1..=2).contains(&kept), "kept {kept} buffers");
    }
}
