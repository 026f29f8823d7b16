//! Black-box tests of the public API: one binary, one module per concern.
//! Tokens are taken apart and hand-built here with base64, sha2 and josekit directly, so the
//! checks do not lean on the code they test.

// clippy.toml already allows these inside `#[test]` functions; fixture helpers are test code
// too, and a fixture that cannot be built should abort the test that asked for it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test binary: helpers outside #[test] fns"
)]

mod at_hash;
mod keys;
mod logout_token;
mod rejection;
mod round_trip;
mod seal;
mod support;
