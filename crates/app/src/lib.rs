//! Gatehouse's application layer: the one place that decides who is signed in and what ending a
//! session does. The HTTP surfaces (pages, REST API, OIDC endpoints) and the CLI extract their
//! input, make one call here and map the result; the stores below (`identity` for durable data,
//! `sessions` for short-lived state, `authz` for the protocol's grants) never decide on their own
//! what a sign-in or a sign-out means. Nothing here knows HTTP; time is always a parameter.
//!
//! What lives here so far:
//! - Sign-in is a state machine: [`Gatehouse::sign_in_with_password`] checks the password;
//!   an account without a second factor is then signed in (the browser's previous session is
//!   replaced, so a fixated cookie is never promoted); an account with one gets a *pending*
//!   sign-in (a short-lived handle in the session store, never a session) that
//!   [`Gatehouse::complete_second_factor`] turns into a session once a code passes. No session,
//!   code or token exists before every required factor has. A live session that a client
//!   wants stepped up to two factors goes through [`Gatehouse::begin_step_up`] the same way.
//! - The second factor's lifecycle on the account (`two_factor`): enrolment behind a
//!   re-authentication window, confirmation, recovery codes, switching it off, an
//!   operator's reset.
//! - [`Gatehouse::end_session`]: the one end-session path. Whatever ends a browser session goes
//!   through it: it deletes the session, revokes the grants issued in it (refresh tokens answer
//!   `invalid_grant`, access tokens stop passing introspection and userinfo; grants with
//!   `offline_access` survive a single sign-out), queues a back-channel logout notification for
//!   every client that received tokens in it, and writes the audit event. Sessions the per-user
//!   limit pushes out at sign-in go through the same consequences.
//! - [`Gatehouse::revoke_consent`]: withdraws a consent, audited.
//! - Sign-up and the account's address (`email`): registration with its verification mail,
//!   verification by link or code, changing the address, the `require_verified_email` policy.
//! - Passwords (`passwords`): reset from a mailed link (second factor included, every session
//!   and grant ended after), and a signed-in user's change.

mod account;
mod admin;
pub mod admin_audit;
pub mod admin_clients;
mod admin_console;
pub mod admin_orgs;
pub mod admin_users;
mod audit;
mod brute_force;
mod connected_apps;
mod consents;
mod device;
mod email;
mod error;
mod metrics;
mod passwords;
mod session_end_requests;
mod session_list;
mod sessions;
mod sign_in;
mod two_factor;

use std::sync::Arc;

use gatehouse_authz::Authz;
use gatehouse_identity::{Accounts, Database, IdentityError, TotpSettings};
use gatehouse_sessions::{BrowserSessions, PendingLogins};

pub use account::Account;
pub use admin::{
    Actor, AdminDenied, AdminOperation, OrgScope, TargetClient, TargetUser, judge, judge_on_client,
};
pub use admin_console::{AdminIdentity, ConsoleAccess, ConsoleAdmin};
pub use brute_force::{BruteForceGuard, SourcePolicy};
pub use connected_apps::{ConnectedApp, RevokedApp};
pub use email::{
    AccountMailSettings, AfterSignUp, DEFAULT_RESET_TTL_SECS, DEFAULT_VERIFICATION_TTL_SECS,
    Registered,
};
pub use error::AppError;
pub use passwords::{ChangePasswordFailure, OtherSessions, PasswordWasReset, ResetFailure};
pub use session_list::SessionView;
pub use sessions::{SessionEnd, SessionRef};
pub use sign_in::{
    PasswordSignIn, SecondFactorFailure, SecondFactorPassed, SignInError, SignedIn, StepUp,
};
pub use two_factor::{Reauthentication, TwoFactorError};

/// Settings of the application layer.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Issuer, parameters and keys of TOTP credentials.
    pub totp: TotpSettings,
    /// How recent a sign-in must be for a sensitive change (second-factor enrolment) to go
    /// ahead without asking for the password again.
    pub reauthentication_window: chrono::Duration,
    /// Account mails (verification, reset, notices) and the address policy.
    pub mail: AccountMailSettings,
    /// The admin console opens only for accounts with a confirmed second factor.
    pub admin_require_second_factor: bool,
}

/// The re-authentication window unless configured otherwise: ten minutes.
pub const DEFAULT_REAUTHENTICATION_WINDOW_SECS: i64 = 600;

/// The application service. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct Gatehouse {
    accounts: Accounts,
    sessions: BrowserSessions,
    pending: PendingLogins,
    authz: Authz,
    settings: AppSettings,
    mail: Arc<email::AccountMail>,
    /// Failed sign-ins per source, and the delays they earn (`docs/brute-force.md`).
    brute_force: BruteForceGuard,
}

impl Gatehouse {
    pub fn new(
        accounts: Accounts,
        sessions: BrowserSessions,
        pending: PendingLogins,
        authz: Authz,
        settings: AppSettings,
        brute_force: BruteForceGuard,
    ) -> Self {
        Self {
            mail: Arc::new(email::AccountMail::new(&settings.mail)),
            accounts,
            sessions,
            pending,
            authz,
            settings,
            brute_force,
        }
    }

    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }

    /// Runs synchronous database work on the blocking pool: the one way this layer reaches it.
    async fn with_db<T, E>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<IdentityError> + Send + 'static,
    {
        self.accounts.database().run(work).await
    }
}
