//! One end-to-end test binary: each module drives the real server over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_sessions;
mod backchannel_logout;
mod database_outage;
mod health;
mod login;
mod methods;
mod oidc_errors;
mod oidc_flow;
mod registration;
mod session_end;
mod snapshots;
mod untrusted_text;
