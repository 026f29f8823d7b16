//! Key management against a real database: SQLite by default, Postgres when
//! `TEST_DATABASE_URL` is set. Each test gets its own database, so they run in parallel.
//! Time is injected; nothing sleeps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test binary: helpers outside #[test] fns"
)]

mod instances;
mod master_key;
mod open;
mod rotation;
mod support;
