//! Behaviour tests of `gatehouse-sessions` through its public API.
//!
//! Each suite is written once, against `Arc<dyn KvStore>`, and instantiated for both backends:
//! the memory store under a paused tokio clock, and the real Redis (`TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`) under its own random key prefix.

// clippy.toml's allow-unwrap-in-tests covers `#[test]` functions, not the shared test bodies
// they call.
#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed step should fail the test, loudly"
)]

#[macro_use]
mod harness;

mod browser_sessions;
mod kv_behaviour;
mod memory_store;
mod rate_limit;
mod redis_store;
