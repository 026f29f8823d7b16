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
//!
//! An account without a platform role that is `org_admin` of an enabled organisation opens the
//! console too, as [`Actor::OrgAdmin`] of one of them (the same second-factor rule applies):
//! the one the console's switcher chose, else the first by slug. [`Gatehouse::admin_identity`]
//! is the one place, for the console and the REST API, that turns a user into the actor it
//! administers as (see `crate::admin` for what an organisation admin may do).

use chrono::{DateTime, Utc};
use gatehouse_identity::Role;
use gatehouse_identity::organizations::{self, OrgRole};
use gatehouse_sessions::BrowserSession;
use uuid::Uuid;

use crate::{Actor, AppError, Gatehouse, OrgScope};

/// Who a user administers as.
#[derive(Debug, Clone)]
pub enum AdminIdentity {
    /// The actor, and the organisations the user administers (empty for a platform actor).
    Acting {
        actor: Actor,
        organizations: Vec<OrgScope>,
    },
    /// `org_admin` of several organisations and none named: the request must name one.
    ChooseOrganization(Vec<OrgScope>),
    /// The named organisation is not one the user administers (or does not exist, or is
    /// disabled: the same answer).
    NotOrgAdmin,
}

/// A user the console opens for.
#[derive(Debug, Clone)]
pub struct ConsoleAdmin {
    /// The user, with the roles they hold now.
    pub actor: Actor,
    pub username: String,
    /// When the session's sign-in happened (Unix seconds).
    pub auth_time: i64,
    /// The organisations the user administers, by slug (the switcher's choices); empty for a
    /// platform admin.
    pub organizations: Vec<OrgScope>,
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
    /// Decides whether the console opens for `session`; `organization` is the switcher's
    /// choice (slug or id) for an organisation admin, ignored when it names none of theirs.
    pub async fn console_access(
        &self,
        session: &BrowserSession,
        organization: Option<&str>,
    ) -> Result<ConsoleAccess, AppError> {
        let Some(account) = self.account(session.user_id).await? else {
            return Ok(ConsoleAccess::Gone);
        };
        let identity = self
            .admin_identity(account.user.id, account.roles, organization, true)
            .await?;
        let AdminIdentity::Acting {
            actor,
            organizations,
        } = identity
        else {
            return Ok(ConsoleAccess::NoRole);
        };
        if actor.roles().is_empty() && actor.organization().is_none() {
            return Ok(ConsoleAccess::NoRole);
        }
        if self.settings.admin_require_second_factor && !account.totp.enabled {
            return Ok(ConsoleAccess::SecondFactorRequired);
        }
        Ok(ConsoleAccess::Open(ConsoleAdmin {
            actor,
            username: account.user.username,
            auth_time: session.auth_time,
            organizations,
        }))
    }

    /// Who user `id` (holding platform `roles`) administers as. Platform roles win: such a user
    /// acts with them. Otherwise the user's `org_admin` memberships of enabled organisations
    /// decide: `requested` (a slug or an id) must name one of them; without it, the only one is
    /// implied, and with several the first (by slug) when `fall_back` (the console), else the
    /// request must choose. With none, the actor holds no role (the gate refuses everything).
    pub async fn admin_identity(
        &self,
        id: Uuid,
        roles: Vec<Role>,
        requested: Option<&str>,
        fall_back: bool,
    ) -> Result<AdminIdentity, AppError> {
        if !roles.is_empty() {
            return Ok(AdminIdentity::Acting {
                actor: Actor::User { id, roles },
                organizations: Vec::new(),
            });
        }
        let scopes: Vec<OrgScope> = self
            .with_db(move |db| organizations::memberships_of(db, id))
            .await?
            .into_iter()
            .filter(|membership| membership.role == OrgRole::OrgAdmin)
            .filter(|membership| membership.organization.enabled)
            .map(|membership| OrgScope {
                id: membership.organization.id,
                slug: membership.organization.slug,
                name: membership.organization.name,
            })
            .collect();
        let named = requested.filter(|name| !name.is_empty()).map(|name| {
            scopes
                .iter()
                .find(|scope| scope.slug == name || scope.id.to_string() == name.to_lowercase())
                .cloned()
        });
        let chosen = match named {
            Some(Some(scope)) => Some(scope),
            Some(None) if !fall_back => return Ok(AdminIdentity::NotOrgAdmin),
            _ if scopes.len() == 1 || (fall_back && !scopes.is_empty()) => scopes.first().cloned(),
            _ if scopes.is_empty() => None,
            _ => return Ok(AdminIdentity::ChooseOrganization(scopes)),
        };
        let actor = match chosen {
            Some(org) => Actor::OrgAdmin { id, org },
            None => Actor::User {
                id,
                roles: Vec::new(),
            },
        };
        Ok(AdminIdentity::Acting {
            actor,
            organizations: scopes,
        })
    }

    /// Whether `admin` signed in recently enough for a destructive action.
    pub fn console_sign_in_is_fresh(&self, admin: &ConsoleAdmin, now: DateTime<Utc>) -> bool {
        self.within_reauthentication_window(admin.auth_time, now)
    }
}
