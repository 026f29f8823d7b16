//! One end-to-end test binary: each module drives the real server over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod health;
mod login;
mod oidc_errors;
mod oidc_flow;
mod registration;
mod snapshots;
