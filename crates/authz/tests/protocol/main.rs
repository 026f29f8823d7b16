//! Protocol tests of `gatehouse-authz` without HTTP (STYLE #11): every flow against a real
//! database and real stores, with the clock passed in.
//!
//! Run against Postgres and Redis too with `TEST_DATABASE_URL` and `TEST_REDIS_URL`.

// clippy.toml's allow-unwrap-in-tests covers `#[test]` functions, not the shared test bodies
// and fixtures they call: a step that fails should fail the test, loudly.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code outside #[test] functions"
)]

#[macro_use]
mod support;

mod authorize;
mod backchannel_logout;
mod client_credentials;
mod code_exchange;
mod concurrency;
mod device_code;
mod introspection;
mod logout;
mod organizations;
mod refresh;
mod resource_indicators;
mod revocation;
mod session_end;
mod store_loss;
mod store_outage;
mod token_exchange;
mod userinfo;
mod verified_token_cache;
