//! One end-to-end test binary: each module drives the real server over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_api;
mod account_sessions;
mod account_two_factor;
mod admin_audit;
mod admin_clients;
mod admin_console;
mod admin_console_audit;
mod admin_console_clients;
mod admin_console_users;
mod admin_users;
mod api_docs;
mod backchannel_logout;
mod brute_force;
mod connected_apps;
mod database_outage;
mod device_flow;
mod email_verification;
mod health;
mod log_secrets;
mod login;
mod mail;
mod methods;
mod metrics;
mod oidc_errors;
mod oidc_flow;
mod org_isolation;
mod org_sign_in;
mod organizations;
mod password_change;
mod password_reset;
mod rate_limits;
mod registration;
mod reset_2fa;
mod resource_indicators;
mod second_factor;
mod security_headers;
mod session_end;
mod sign_up_page;
mod snapshots;
mod tls;
mod token_exchange;
mod token_rate_limits;
mod trusted_proxies;
mod untrusted_text;
