//! Cost of the authorization-code round trip through each [`KvStore`] backend: the
//! `put_if_absent` that issues a code (60 s TTL, RFC 6749 §4.1.2) and the atomic `take` that
//! redeems it, with a payload shaped and sized like `gatehouse_authz::codes::AuthorizationCode`
//! (about 400 bytes of JSON) under a `code:<sha256 hex>` key.
//!
//! Every iteration uses a key no other iteration used, so a put always writes and a take always
//! finds its code. Keys are built outside the timed section, and puts measured alone are taken
//! back untimed (and vice versa), in chunks, so the store never holds more than one chunk.
//!
//! The Redis group runs against `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) under a
//! fresh key prefix; if Redis does not answer it is skipped with a note. Both groups run on a
//! current-thread tokio runtime, so a measurement stays on one core.
//!
//! Run with `cargo bench -p gatehouse-sessions --bench code_store`.

#![expect(
    clippy::expect_used,
    reason = "benchmark setup: a store call that fails here makes the numbers meaningless"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_sessions::{KvStore, MemoryStore, RedisStore};
use serde_json::json;
use tokio::runtime::Runtime;

const CODE_TTL: Duration = Duration::from_secs(60);
/// Codes written (or taken) per timed stretch before the untimed other half of the round trip.
const CHUNK: u64 = 1024;

/// A code's stored JSON, as the authorize endpoint writes it.
fn code_payload() -> Vec<u8> {
    let code = json!({
        "grant": {
            "owner_id": "5f0c6b9e-8a57-4a43-9d1e-3c2b7f4e9a10",
            "client_id": "photo-gallery-web",
            "scope": ["openid", "profile", "email", "offline_access"],
            "redirect_uri": "https://gallery.example.com/oauth/callback",
            "until": 1_767_225_660,
            "extensions": {
                "nonce": { "public": "n-0S6_WzA2Mj-8fXqL3vRkTgYp" },
                "pkce": { "private": "S256:E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" }
            }
        },
        "auth_time": 1_767_225_600,
        "sid": "Qm9vdHN0cmFwcGVkLXNlc3Npb24taWQtMDAx",
        "amr": ["pwd", "otp"]
    });
    serde_json::to_vec(&code).expect("serialize payload")
}

/// Fresh `code:<64 hex>` keys, never repeated within one store.
#[derive(Default)]
struct CodeKeys {
    next: AtomicU64,
}

impl CodeKeys {
    fn chunk(&self, len: u64) -> Vec<String> {
        let first = self.next.fetch_add(len, Ordering::Relaxed);
        (first..first + len)
            .map(|n| format!("code:{n:064x}"))
            .collect()
    }
}

/// One store under test and what its round trips need.
struct Fixture {
    store: Box<dyn KvStore>,
    keys: CodeKeys,
    payload: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Timed {
    Put,
    Take,
    PutThenTake,
}

impl Fixture {
    fn new(store: Box<dyn KvStore>) -> Self {
        Self {
            store,
            keys: CodeKeys::default(),
            payload: code_payload(),
        }
    }

    async fn put(&self, key: &str) {
        let written = self
            .store
            .put_if_absent(key, &self.payload, CODE_TTL)
            .await
            .expect("put_if_absent");
        assert!(written, "key {key} was already taken");
    }

    async fn take(&self, key: &str) {
        let taken = self.store.take(key).await.expect("take");
        assert_eq!(taken.map(|value| value.len()), Some(self.payload.len()));
    }

    /// `iters` round trips, timing only the `timed` part of each.
    async fn run(&self, iters: u64, timed: Timed) -> Duration {
        let mut elapsed = Duration::ZERO;
        let mut remaining = iters;
        while remaining > 0 {
            let keys = self.keys.chunk(remaining.min(CHUNK));
            remaining -= keys.len() as u64;
            match timed {
                Timed::Put => {
                    let start = Instant::now();
                    for key in &keys {
                        self.put(key).await;
                    }
                    elapsed += start.elapsed();
                    for key in &keys {
                        self.take(key).await;
                    }
                }
                Timed::Take => {
                    for key in &keys {
                        self.put(key).await;
                    }
                    let start = Instant::now();
                    for key in &keys {
                        self.take(key).await;
                    }
                    elapsed += start.elapsed();
                }
                Timed::PutThenTake => {
                    let start = Instant::now();
                    for key in &keys {
                        self.put(key).await;
                        self.take(key).await;
                    }
                    elapsed += start.elapsed();
                }
            }
        }
        elapsed
    }
}

fn bench_store(c: &mut Criterion, runtime: &Runtime, backend: &str, fixture: &Fixture) {
    let mut group = c.benchmark_group(format!("code_store/{backend}"));
    group.throughput(Throughput::Elements(1));
    for (name, timed) in [
        ("put_if_absent", Timed::Put),
        ("take", Timed::Take),
        ("put_then_take", Timed::PutThenTake),
    ] {
        group.bench_function(name, |b| {
            b.to_async(runtime)
                .iter_custom(|iters| fixture.run(iters, timed))
        });
    }
    group.finish();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn bench_memory(c: &mut Criterion) {
    let runtime = runtime();
    let fixture = Fixture::new(Box::new(MemoryStore::new()));
    bench_store(c, &runtime, "memory", &fixture);
}

fn bench_redis(c: &mut Criterion) {
    let url =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("gatehouse-bench:{}:", uuid::Uuid::new_v4());
    let runtime = runtime();
    let reachable = RedisStore::new(&url, &prefix)
        .map_err(|err| err.to_string())
        .and_then(|store| {
            runtime
                .block_on(store.ping())
                .map(|()| store)
                .map_err(|err| err.to_string())
        });
    match reachable {
        Ok(store) => bench_store(c, &runtime, "redis", &Fixture::new(Box::new(store))),
        Err(err) => eprintln!("skipping code_store/redis: Redis at {url} is unreachable ({err})"),
    }
}

criterion_group!(code_store, bench_memory, bench_redis);
criterion_main!(code_store);
