//! Test backends and the macro that runs one behaviour test against each of them.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_sessions::{KvStore, MemoryStore, RedisStore};

/// TTL for expiry tests: short, because on Redis the test really waits.
pub const TTL: Duration = Duration::from_millis(200);
/// Long enough after [`TTL`] that Redis has expired the key.
pub const PAST_TTL: Duration = Duration::from_millis(250);
/// A TTL no test outlives.
pub const HOUR: Duration = Duration::from_secs(3600);

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn unique_prefix() -> String {
    format!("gatehouse-test:{}:", uuid::Uuid::new_v4())
}

enum Clock {
    /// The test runs under `start_paused`; time moves only when the test says so.
    Paused,
    /// Redis expires keys by wall-clock time.
    Real,
}

pub struct TestStore {
    pub store: Arc<dyn KvStore>,
    clock: Clock,
    redis_keys: Option<RedisKeys>,
}

impl TestStore {
    pub fn memory() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            clock: Clock::Paused,
            redis_keys: None,
        }
    }

    pub fn redis() -> Self {
        let keys = RedisKeys {
            url: redis_url(),
            prefix: unique_prefix(),
        };
        Self {
            store: Arc::new(RedisStore::new(&keys.url, &keys.prefix).unwrap()),
            clock: Clock::Real,
            redis_keys: Some(keys),
        }
    }

    pub async fn elapse(&self, duration: Duration) {
        match self.clock {
            Clock::Paused => tokio::time::advance(duration).await,
            Clock::Real => tokio::time::sleep(duration).await,
        }
    }

    /// The keys really present in Redis for this test, without the prefix; None for memory.
    pub fn raw_redis_keys(&self) -> Option<Vec<String>> {
        self.redis_keys.as_ref().map(RedisKeys::list)
    }
}

/// A test's key prefix in Redis; its keys are deleted on drop, also when the test fails.
///
/// Reads and deletes through a [`RedisStore`] of its own (on a side thread with its own runtime,
/// so it also works from `Drop` and from sync code), which lists keys on every primary of a
/// cluster and follows a Sentinel master: `TEST_REDIS_URL` may be any URL the store accepts.
pub struct RedisKeys {
    pub url: String,
    pub prefix: String,
}

impl RedisKeys {
    fn with_store<T: Send>(
        &self,
        work: impl AsyncFnOnce(&RedisStore) -> T + Send,
    ) -> Result<T, String> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|err| err.to_string())?;
                    let store =
                        RedisStore::new(&self.url, &self.prefix).map_err(|err| err.to_string())?;
                    Ok(runtime.block_on(work(&store)))
                })
                .join()
                .map_err(|_| "the Redis side thread panicked".to_owned())?
        })
    }

    pub fn list(&self) -> Vec<String> {
        self.with_store(async |store| store.list_keys().await)
            .unwrap()
            .unwrap()
    }

    /// What Redis itself reports as `key`'s remaining TTL.
    pub fn pttl(&self, key: &str) -> Option<Duration> {
        self.with_store(async |store| store.remaining_ttl(key).await)
            .unwrap()
            .unwrap()
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        // Best effort and without panicking: this also runs while a failed test unwinds.
        let _ = self.with_store(async |store| store.delete_all_keys().await);
    }
}

/// For each named `async fn(TestStore)`, generates a module of that name with a `memory` and a
/// `redis` test. `paused` runs the memory variant on a paused clock; `concurrent` runs both on a
/// multi-threaded runtime so the memory store's atomicity is really contended.
macro_rules! backend_tests {
    (paused: $($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test(start_paused = true)]
                async fn memory() {
                    super::$test(crate::harness::TestStore::memory()).await;
                }

                #[tokio::test]
                async fn redis() {
                    super::$test(crate::harness::TestStore::redis()).await;
                }
            }
        )+
    };
    (concurrent: $($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn memory() {
                    super::$test(crate::harness::TestStore::memory()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn redis() {
                    super::$test(crate::harness::TestStore::redis()).await;
                }
            }
        )+
    };
}
