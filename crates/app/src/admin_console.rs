//! Who may open the HTML admin console, and when a destructive action needs a fresh sign-in.
//!
//! The console acts with the signed-in user's roles, read at every request (a role taken away
//! stops working at once), through the same permission gate as the REST API
//! ([`Gatehouse::admit`]). Two rules belong to the console alone:
//! - with `require_second_factor` on (the default), an account holding a role but no confirmed
//!   TOTP is sent to enrol before any console page opens: a stolen password alone must not
//!   open administration;
//! - destructive actions (delete, lock, role change, secret and key rotation) need a sign-in
//!   within the re-authentication window (ten minutes by default), so a browser left signed in
//!   is not enough to do lasting harm.

use chrono::{DateTime, Utc};
use gatehouse_sessions::BrowserSession;

use crate::{Actor, AppError, Gatehouse};

/// A user the console opens for.
#[derive(Debug, Clone)]
pub struct ConsoleAdmin {
    /// The user, with the roles they hold now.
    pub actor: Actor,
    pub username: String,
    /// When the session's sign-in happened (Unix seconds).
    pub auth_time: i64,
}

/// Whether the console opens for a session.
#[derive(Debug, Clone)]
pub enum ConsoleAccess {
    Open(ConsoleAdmin),
    /// The account holds no administrative role.
    NoRole,
    /// The account must enrol a second factor first.
    SecondFactorRequired,
    /// The session's account no longer exists.
    Gone,
}

impl Gatehouse {
    /// Decides whether the console opens for `session`.
    pub async fn console_access(
        &self,
        session: &BrowserSession,
    ) -> Result<ConsoleAccess, AppError> {
        let Some(account) = self.account(session.user_id).await? else {
            return Ok(ConsoleAccess::Gone);
        };
        if account.roles.is_empty() {
            return Ok(ConsoleAccess::NoRole);
        }
        if self.settings.admin_require_second_factor && !account.totp.enabled {
            return Ok(ConsoleAccess::SecondFactorRequired);
        }
        Ok(ConsoleAccess::Open(ConsoleAdmin {
            actor: Actor::User {
                id: account.user.id,
                roles: account.roles,
            },
            username: account.user.username,
            auth_time: session.auth_time,
        }))
    }

    /// Whether `admin` signed in recently enough for a destructive action.
    pub fn console_sign_in_is_fresh(&self, admin: &ConsoleAdmin, now: DateTime<Utc>) -> bool {
        self.within_reauthentication_window(admin.auth_time, now)
    }
}
