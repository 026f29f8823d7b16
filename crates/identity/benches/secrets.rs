//! Cost of checking credentials: a client secret (HMAC-SHA256, every confidential client's
//! token request) and a user password (Argon2id at the configured default cost, every login
//! and registration).
//!
//! Argon2 runs through `hash_blocking` / `verify_blocking`, i.e. one hash on the calling
//! thread, which is what each slot of the server's blocking pool does. Its numbers bound how
//! many logins per second and per core the server can take.
//!
//! Run with `cargo bench -p gatehouse-identity --bench secrets`.

#![expect(
    clippy::expect_used,
    reason = "benchmark setup: a hash that fails here makes the numbers meaningless"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_identity::{Argon2Params, ClientSecretHasher, PasswordHasher};

const PASSWORD: &str = "correct horse battery staple";

fn bench_client_secret(c: &mut Criterion) {
    let hasher = ClientSecretHasher::new(rand::random());
    let secret = ClientSecretHasher::generate_secret();
    let wrong = ClientSecretHasher::generate_secret();
    let stored = hasher.hash(&secret);
    assert!(hasher.verify(&secret, &stored) && !hasher.verify(&wrong, &stored));

    let mut group = c.benchmark_group("client_secret/verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("correct", |b| {
        b.iter(|| hasher.verify(black_box(&secret), black_box(&stored)))
    });
    group.bench_function("wrong", |b| {
        b.iter(|| hasher.verify(black_box(&wrong), black_box(&stored)))
    });
    group.finish();
}

fn bench_argon2id(c: &mut Criterion) {
    let params = Argon2Params::default();
    let hasher = PasswordHasher::new(params, 1).expect("default Argon2 parameters are valid");
    let phc = hasher.hash_blocking(PASSWORD).expect("hash");
    assert!(
        hasher
            .verify_blocking(Some(&phc), PASSWORD)
            .expect("verify")
    );

    // Tens of milliseconds per hash: few samples, or one run takes minutes.
    let mut group = c.benchmark_group(format!(
        "argon2id/m={},t={},p={}",
        params.memory_kib, params.iterations, params.parallelism
    ));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    group.bench_function("hash", |b| {
        b.iter(|| hasher.hash_blocking(black_box(PASSWORD)))
    });
    group.bench_function("verify", |b| {
        b.iter(|| hasher.verify_blocking(black_box(Some(&phc)), black_box(PASSWORD)))
    });
    group.finish();
}

criterion_group!(secrets, bench_client_secret, bench_argon2id);
criterion_main!(secrets);
