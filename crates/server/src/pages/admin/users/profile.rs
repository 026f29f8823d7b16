//! `/admin/users/{id}`: one user's page. Their profile, the forms of every action on them
//! (posted to [`super::actions`]), their live sessions and grants, and their audit trail.
//!
//! The page reads through the same gated calls as the REST API. The forms an actor's roles do
//! not permit at all are left out ([`AdminOperation::permitted_to`] is side-effect free); the
//! gate still decides each post, guard rails included. The audit trail shows only to roles that
//! may read the audit log, asked of [`judge`] first, so that a `user_admin` opening a user does
//! not leave an `admin.denied` event behind on every page view.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::DateTime;
use gatehouse_app::admin_audit::AuditQuery;
use gatehouse_app::admin_users::{AdminUserGrant, UserSummary};
use gatehouse_app::{AdminOperation, SessionView, judge};
use gatehouse_identity::admin::audit::AuditFilter;
use gatehouse_identity::{AuditAction, AuditEvent, Role, UserStatus};
use strum::IntoEnumIterator as _;
use uuid::Uuid;

use super::{effective_status, format_time, parse_user_id, user_path};
use crate::app::AppState;
use crate::pages::admin::{Chrome, Console, ConsoleError, Section};

/// Events of the user's audit trail shown on the page (the audit log has the rest).
const TRAIL_LENGTH: u32 = 20;

/// Which forms the page shows: those the actor's roles permit at all.
struct Allowed {
    update: bool,
    lock: bool,
    unlock: bool,
    roles: bool,
    reset_second_factor: bool,
    password_reset: bool,
    end_sessions: bool,
    revoke_grant: bool,
    delete: bool,
}

impl Allowed {
    fn for_roles(roles: &[Role]) -> Self {
        let may = |operation: AdminOperation| operation.permitted_to(roles);
        Self {
            update: may(AdminOperation::UpdateUser),
            lock: may(AdminOperation::LockUser),
            unlock: may(AdminOperation::UnlockUser),
            roles: may(AdminOperation::ChangeUserRoles),
            reset_second_factor: may(AdminOperation::ResetUserSecondFactor),
            password_reset: may(AdminOperation::SendPasswordReset),
            end_sessions: may(AdminOperation::EndUserSessions),
            revoke_grant: may(AdminOperation::RevokeUserGrant),
            delete: may(AdminOperation::DeleteUser),
        }
    }

    fn anything(&self) -> bool {
        self.update
            || self.lock
            || self.unlock
            || self.roles
            || self.reset_second_factor
            || self.password_reset
            || self.end_sessions
            || self.revoke_grant
            || self.delete
    }
}

/// A checkbox of the roles form.
struct RoleChoice {
    value: &'static str,
    held: bool,
}

struct SessionRow {
    /// The first characters of the session's public id, enough to tell sessions apart.
    short_id: String,
    created: String,
    last_seen: String,
    ip: String,
    user_agent: String,
    methods: String,
    clients: String,
}

fn unix_time(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0).map_or_else(|| "—".to_owned(), format_time)
}

impl From<SessionView> for SessionRow {
    fn from(view: SessionView) -> Self {
        let session = view.session;
        Self {
            short_id: view.handle.as_str().chars().take(12).collect(),
            created: unix_time(session.created_at),
            last_seen: unix_time(session.last_seen_at.unwrap_or(session.created_at)),
            ip: session.ip.unwrap_or_else(|| "—".to_owned()),
            user_agent: session.user_agent.unwrap_or_else(|| "—".to_owned()),
            methods: session.amr.join(", "),
            clients: if view.clients.is_empty() {
                "—".to_owned()
            } else {
                view.clients.join(", ")
            },
        }
    }
}

struct GrantRow {
    grant_id: String,
    client: String,
    client_id: String,
    offline: bool,
    issued: String,
}

impl From<AdminUserGrant> for GrantRow {
    fn from(grant: AdminUserGrant) -> Self {
        Self {
            client: grant
                .client_name
                .unwrap_or_else(|| "(deleted client)".to_owned()),
            grant_id: grant.grant_id,
            client_id: grant.client_id,
            offline: grant.offline,
            issued: unix_time(grant.issued_at),
        }
    }
}

struct EventRow {
    when: String,
    action: String,
    actor: String,
    outcome: &'static str,
    details: String,
}

impl From<AuditEvent> for EventRow {
    fn from(event: AuditEvent) -> Self {
        Self {
            when: event
                .occurred_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            action: event.action,
            actor: event.actor.unwrap_or_else(|| "—".to_owned()),
            outcome: event.outcome.as_str(),
            details: match &event.details {
                serde_json::Value::Object(map) if map.is_empty() => String::new(),
                serde_json::Value::Null => String::new(),
                details => details.to_string(),
            },
        }
    }
}

/// The user's audit trail, newest first: `None` when the actor may not read the audit log.
struct Trail {
    events: Vec<EventRow>,
    total: i64,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    chrome: Chrome,
    /// Why the last form was not done (a 400 re-rendering of the page).
    error: Option<String>,
    id: Uuid,
    /// The page's own path; the forms post below it.
    path: String,
    username: String,
    email: String,
    email_verified: bool,
    status: &'static str,
    /// When the lock ends; `None` with status `locked` is a lock until unlocked.
    locked_until: Option<String>,
    /// The reason of the administrator's lock, read from the trail.
    lock_reason: Option<String>,
    /// A lock whose time ran out (the account signs in again): when it ended.
    lapsed_lock: Option<String>,
    failed_logins: i32,
    totp: bool,
    created: String,
    roles: Vec<RoleChoice>,
    held_roles: String,
    is_self: bool,
    allowed: Allowed,
    may_change_anything: bool,
    sessions: Vec<SessionRow>,
    grants: Vec<GrantRow>,
    trail: Option<Trail>,
}

/// The reason of the lock in force, if an administrator locked the account: the newest event
/// (of `(action, details)` pairs, newest first) that locked or unlocked it decides (a lockout
/// after failed sign-ins has no reason).
fn lock_reason<'a>(
    events: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
) -> Option<String> {
    let lock: &str = AuditAction::AdminUserLock.into();
    let unlock: &str = AuditAction::AdminUserUnlock.into();
    let lockout: &str = AuditAction::AccountLockout.into();
    let update: &str = AuditAction::AdminUserUpdate.into();
    let (action, details) = events.into_iter().find(|(action, details)| {
        [lock, unlock, lockout].contains(action)
            // An edit ends a lock only when it set the status.
            || (*action == update && details.get("status").is_some_and(|s| !s.is_null()))
    })?;
    if action != lock {
        return None;
    }
    details.get("reason")?.as_str().map(str::to_owned)
}

/// Renders the page of user `id`; with `error`, as the 400 answer to a form that was not done.
pub(super) async fn render(
    state: &AppState,
    console: &Console,
    id: Uuid,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let now = state.clock.now();
    let actor = console.actor();
    let ctx = &console.ctx;
    let summary: UserSummary = state.app.admin_user(actor, id, ctx, now).await?;
    let sessions = state.app.admin_user_sessions(actor, id, ctx, now).await?;
    let grants = state.app.admin_user_grants(actor, id, ctx, now).await?;
    let trail = if judge(actor, AdminOperation::ReadAudit, None).is_ok() {
        let query = AuditQuery {
            filter: AuditFilter {
                target: Some(id.to_string()),
                ..AuditFilter::default()
            },
            limit: TRAIL_LENGTH,
            before: None,
        };
        Some(state.app.admin_audit_events(actor, query, ctx, now).await?)
    } else {
        None
    };

    let user = &summary.user;
    let status = effective_status(user, now);
    let lock_reason = match (&trail, status) {
        (Some(trail), UserStatus::Locked) => lock_reason(
            trail
                .events
                .iter()
                .map(|event| (event.action.as_str(), &event.details)),
        ),
        _ => None,
    };
    let lapsed_lock = match (user.status, status) {
        (UserStatus::Locked, UserStatus::Active) => user.locked_until.map(format_time),
        _ => None,
    };
    let allowed = Allowed::for_roles(actor.roles());
    let page = UserPage {
        chrome: console.chrome(Section::Users),
        error: error.clone(),
        id,
        path: user_path(id),
        username: user.username.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        status: status.as_str(),
        locked_until: match status {
            UserStatus::Locked => user.locked_until.map(format_time),
            _ => None,
        },
        lock_reason,
        lapsed_lock,
        failed_logins: user.failed_logins,
        totp: summary.totp_enabled,
        created: format_time(user.created_at),
        roles: Role::iter()
            .map(|role| RoleChoice {
                value: role.as_str(),
                held: summary.roles.contains(&role),
            })
            .collect(),
        held_roles: summary
            .roles
            .iter()
            .map(|role| role.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        is_self: actor.user_id() == Some(id),
        may_change_anything: allowed.anything(),
        allowed,
        sessions: sessions.into_iter().map(SessionRow::from).collect(),
        grants: grants.into_iter().map(GrantRow::from).collect(),
        trail: trail.map(|page| Trail {
            total: page.total,
            events: page.events.into_iter().map(EventRow::from).collect(),
        }),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    console.render(state, status, &page)
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let id = parse_user_id(&path)?;
    let console = Console::open(&state, &req).await?;
    render(&state, &console, id, None).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_lock_reason_is_the_newest_lock_s_unless_something_ended_it() {
        let locked = ("admin.user_lock", json!({"reason": "phished"}));
        let unlocked = ("admin.user_unlock", json!({}));
        let failure = ("login.failure", json!({"reason": "password"}));
        let verified = (
            "admin.user_update",
            json!({"changed": ["email_verified"], "status": null}),
        );
        let enabled = (
            "admin.user_update",
            json!({"changed": ["status"], "status": "active"}),
        );
        let reason = |events: &[&(&'static str, serde_json::Value)]| {
            lock_reason(events.iter().map(|(action, details)| (*action, details)))
        };
        assert_eq!(
            reason(&[&failure, &verified, &locked]).as_deref(),
            Some("phished")
        );
        assert_eq!(reason(&[&unlocked, &locked]), None);
        assert_eq!(reason(&[&enabled, &locked]), None);
        assert_eq!(reason(&[]), None);
    }
}
