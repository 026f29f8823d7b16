//! Account rules on top of the store: registration and password login with the account-wide
//! lockout. Each
//! operation owns its transaction and takes `now` from the caller; every outcome is audited.

mod attempts;
mod email;
mod lockout;
mod login;
mod passwords;
mod register;
mod second_factor;

pub use email::{
    AccountMails, EmailChangeError, EmailStatus, EmailVerified, ResentVerification, TokenMail,
    VerifyEmailError,
};
pub use login::PasswordVerified;
pub use passwords::{PasswordChangeError, PasswordResetDone, PasswordResetError, ResetTarget};
pub use second_factor::{SecondFactorError, SecondFactorMethod};

use std::fmt;

use chrono::{DateTime, Utc};

use crate::audit::{ActorKind, AuditAction, AuditOutcome, NewAuditEvent};
use crate::db::Database;
use crate::error::IdentityError;
use crate::password::PasswordHasher;
pub use crate::validation::FieldError;

/// The account-wide ceiling of brute-force protection: `max_failures` wrong passwords or codes
/// within `window` (from the first one, from any source) lock the account for everyone for
/// `lock_for`. A `max_failures` of zero turns locking off. The other half, the per-source delays
/// that keep one source from reaching the ceiling, is the application layer's (kept in the
/// session store); `docs/brute-force.md` tells both.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window: chrono::Duration,
    pub lock_for: chrono::Duration,
}

impl Default for LockoutPolicy {
    /// The defaults of `config/default.toml`.
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 50,
            window: chrono::Duration::minutes(15),
            lock_for: chrono::Duration::minutes(15),
        }
    }
}

/// Where a request came from, for the audit trail. `actor` is who acts: an administrator or
/// service account (`user:ID`, `client:ID`), the user acting on their own account (the bare
/// user id), the deployment (`bootstrap`, `cli`), or nobody signed in (`None`); its kind
/// follows from the name ([`ActorKind::of_actor`]).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub actor: Option<String>,
    /// The request's `x-request-id`, so an event can be matched with the request's log lines
    /// and with the id a user quotes from an error page. `None` outside a request.
    pub request_id: Option<String>,
    /// The organisation the request acts in (an org admin's scope, a sign-in to an
    /// organisation's client): recorded with its audit events, so the organisation's admins
    /// read them. `None`: platform-wide.
    pub org_id: Option<uuid::Uuid>,
}

impl RequestContext {
    /// The deployment acting on its own (`bootstrap`, `cli`, a background job): `name` is
    /// recorded as the actor, of kind [`ActorKind::System`].
    pub fn system(name: &str) -> Self {
        RequestContext {
            actor: Some(name.to_owned()),
            ..RequestContext::default()
        }
    }

    pub fn actor_kind(&self) -> ActorKind {
        ActorKind::of_actor(self.actor.as_deref())
    }
}

/// A sign-up form.
#[derive(Clone, serde::Deserialize)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("{field} is already taken")]
    Duplicate { field: &'static str },
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

/// Unknown account, wrong password, locked and disabled all read the same to the caller, so a
/// login form cannot be used to probe which accounts exist or their state; the audit trail
/// records the real reason.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

/// Registration and login. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Accounts {
    db: Database,
    hasher: PasswordHasher,
    lockout: LockoutPolicy,
}

impl Accounts {
    pub fn new(db: Database, hasher: PasswordHasher, lockout: LockoutPolicy) -> Self {
        Accounts {
            db,
            hasher,
            lockout,
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    pub fn lockout_policy(&self) -> LockoutPolicy {
        self.lockout
    }
}

fn audit_event(
    ctx: &RequestContext,
    now: DateTime<Utc>,
    action: AuditAction,
    outcome: AuditOutcome,
    target: Option<String>,
    details: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent::in_context(ctx, now, action, outcome, target, details)
}
