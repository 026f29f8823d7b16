//! One end-to-end test binary: each module drives the real server over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_api;
mod account_sessions;
mod account_two_factor;
mod backchannel_logout;
mod connected_apps;
mod database_outage;
mod health;
mod login;
mod mail;
mod methods;
mod oidc_errors;
mod oidc_flow;
mod rate_limits;
mod registration;
mod reset_2fa;
mod second_factor;
mod session_end;
mod snapshots;
mod untrusted_text;
