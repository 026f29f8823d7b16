//! Gatehouse's application layer: the one place that decides who is signed in and what ending a
//! session does. The HTTP surfaces (pages, REST API, OIDC endpoints) and the CLI extract their
//! input, make one call here and map the result; the stores below (`identity` for durable data,
//! `sessions` for short-lived state, `authz` for the protocol's grants) never decide on their own
//! what a sign-in or a sign-out means. Nothing here knows HTTP; time is always a parameter.
//!
//! What lives here so far:
//! - [`Gatehouse::sign_in_with_password`]: authenticates, replaces the browser's previous
//!   session (a fixated cookie is never promoted) and opens a new one.
//! - [`Gatehouse::end_session`]: the one end-session path. Whatever ends a browser session goes
//!   through it: it deletes the session, revokes the grants issued in it (refresh tokens answer
//!   `invalid_grant`, access tokens stop passing introspection and userinfo; grants with
//!   `offline_access` survive a single sign-out), queues a back-channel logout notification for
//!   every client that received tokens in it, and writes the audit event. Sessions the per-user
//!   limit pushes out at sign-in go through the same consequences.
//! - [`Gatehouse::revoke_consent`]: withdraws a consent, audited.

mod audit;
mod consents;
mod error;
mod sessions;
mod sign_in;

use gatehouse_authz::Authz;
use gatehouse_identity::Accounts;
use gatehouse_sessions::BrowserSessions;

pub use error::AppError;
pub use sessions::{SessionEnd, SessionRef};
pub use sign_in::{SignInError, SignedIn};

/// The application service. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct Gatehouse {
    accounts: Accounts,
    sessions: BrowserSessions,
    authz: Authz,
}

impl Gatehouse {
    pub fn new(accounts: Accounts, sessions: BrowserSessions, authz: Authz) -> Self {
        Self {
            accounts,
            sessions,
            authz,
        }
    }
}
