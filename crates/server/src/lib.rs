//! The Gatehouse web server: configuration, the actix-web application, browser pages, the REST API
//! and the `gatehouse` command line. Protocol and data logic live in the crates below this one.

pub mod api;
pub mod app;
pub mod backchannel;
pub mod body;
pub mod bootstrap;
pub mod browser;
pub mod cli;
pub mod cli_clients;
pub mod cli_keys;
pub mod cli_orgs;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod dotenv;
pub mod health;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod poller;
pub mod problem;
pub mod reset_requests;
pub mod routing;
pub mod security_headers;
pub mod session_end_requests;
pub mod telemetry;
pub mod tls;
pub mod unavailable;

pub use app::{AppState, Application};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Settings;
