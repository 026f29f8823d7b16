//! The forms of a user's page: each post opens the console (Fetch Metadata, CSRF, and for a
//! lock, a role change or a deletion a recent sign-in), makes one gated call into the
//! application layer and answers with a redirect to the user's page and a notice, an error
//! page, or, for a field the form got wrong, the user's page again with the error and a 400.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use gatehouse_app::admin_users::{UserAdminError, UserEdit};
use gatehouse_identity::Role;
use serde::Deserialize;
use uuid::Uuid;

use super::{USERS_PATH, parse_user_id, profile, user_path};
use crate::app::AppState;
use crate::pages::admin::{Action, Console, ConsoleError};
use crate::routing::{Surface, resource};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin/users/{id}/lock", Surface::Page).post(lock))
        .service(resource("/admin/users/{id}/unlock", Surface::Page).post(unlock))
        .service(resource("/admin/users/{id}/roles", Surface::Page).post(set_roles))
        .service(resource("/admin/users/{id}/verify-email", Surface::Page).post(verify_email))
        .service(resource("/admin/users/{id}/totp/reset", Surface::Page).post(reset_second_factor))
        .service(
            resource("/admin/users/{id}/password-reset", Surface::Page).post(send_password_reset),
        )
        .service(resource("/admin/users/{id}/sessions/end", Surface::Page).post(end_sessions))
        .service(resource("/admin/users/{id}/delete", Surface::Page).post(delete))
        .service(
            resource("/admin/users/{id}/grants/{grant_id}/revoke", Surface::Page)
                .post(revoke_grant),
        );
}

/// Opens the console for a form about user `raw_id`: the user's id and page.
async fn open(
    state: &AppState,
    req: &HttpRequest,
    raw_id: &str,
    csrf_token: Option<&str>,
    destructive: bool,
) -> Result<(Console, Uuid, String), ConsoleError> {
    let id = parse_user_id(raw_id)?;
    let page = user_path(id);
    let action = if destructive {
        Action::Destructive { return_to: &page }
    } else {
        Action::Safe
    };
    let console = Console::for_form(state, req, csrf_token, action).await?;
    Ok((console, id, page))
}

/// A field the form got wrong shows on the user's page again; anything else is an error page.
async fn or_form_error(
    state: &AppState,
    console: &Console,
    id: Uuid,
    err: UserAdminError,
    what: &str,
) -> Result<HttpResponse, ConsoleError> {
    match err {
        UserAdminError::Invalid { field, message } => {
            profile::render(
                state,
                console,
                id,
                Some(format!("Not {what}: {field}: {message}.")),
            )
            .await
        }
        err => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LockForm {
    csrf_token: Option<String>,
    #[serde(default)]
    reason: String,
    until: Option<String>,
}

/// A `datetime-local` value (`2026-12-07T09:30`, seconds optional), read as UTC as the form
/// says; empty for a lock without end.
fn parse_until(value: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| Some(naive.and_utc()))
        .ok_or_else(|| {
            "Not locked: give the end of the lock as a date and time (UTC), or leave it empty \
             for a lock until unlocked."
                .to_owned()
        })
}

pub async fn lock(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<LockForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let (console, id, page) = open(&state, &req, &path, form.csrf_token.as_deref(), true).await?;
    let until = match parse_until(form.until.as_deref()) {
        Ok(until) => until,
        Err(message) => return profile::render(&state, &console, id, Some(message)).await,
    };
    let locked = state
        .app
        .admin_lock_user(
            console.actor(),
            id,
            form.reason.trim().to_owned(),
            until,
            &console.ctx,
            state.clock.now(),
        )
        .await;
    match locked {
        Ok(user) => console.done(
            &state,
            &page,
            format!(
                "Locked {}{}: their sessions and grants have ended.",
                user.user.username,
                until.map_or_else(String::new, |until| format!(
                    " until {}",
                    super::format_time(until)
                )),
            ),
        ),
        Err(err) => or_form_error(&state, &console, id, err, "locked").await,
    }
}

pub async fn unlock(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (console, id, page) = open(&state, &req, &path, form.csrf_token.as_deref(), false).await?;
    let user = state
        .app
        .admin_unlock_user(console.actor(), id, &console.ctx, state.clock.now())
        .await?;
    console.done(
        &state,
        &page,
        format!(
            "Unlocked {}; their failed sign-in count is cleared.",
            user.user.username
        ),
    )
}

/// The roles form posts one `role` per checked box, so it is read as a list of pairs.
pub async fn set_roles(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let mut csrf_token = None;
    let mut names = Vec::new();
    for (name, value) in form.into_inner() {
        match name.as_str() {
            "csrf_token" => csrf_token = Some(value),
            "role" => names.push(value),
            _ => {}
        }
    }
    let (console, id, page) = open(&state, &req, &path, csrf_token.as_deref(), true).await?;
    let mut roles = Vec::with_capacity(names.len());
    for name in &names {
        match name.parse::<Role>() {
            Ok(role) => roles.push(role),
            Err(_) => {
                let message = format!(
                    "Not changed: “{name}” is not a role (admin, user_admin, client_admin, \
                     auditor)."
                );
                return profile::render(&state, &console, id, Some(message)).await;
            }
        }
    }
    roles.sort();
    roles.dedup();
    let result = state
        .app
        .admin_set_user_roles(console.actor(), id, roles, &console.ctx, state.clock.now())
        .await;
    match result {
        Ok(roles) if roles.is_empty() => {
            console.done(&state, &page, "Roles saved: the user now holds no role.")
        }
        Ok(roles) => {
            let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
            console.done(
                &state,
                &page,
                format!("Roles saved: the user now holds {}.", names.join(", ")),
            )
        }
        Err(err) => or_form_error(&state, &console, id, err, "changed").await,
    }
}

#[derive(Debug, Deserialize)]
pub struct VerifyEmailForm {
    csrf_token: Option<String>,
    /// What to mark the address as.
    email_verified: bool,
}

pub async fn verify_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<VerifyEmailForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (console, id, page) = open(&state, &req, &path, form.csrf_token.as_deref(), false).await?;
    let edit = UserEdit {
        email_verified: Some(form.email_verified),
        ..UserEdit::default()
    };
    let user = state
        .app
        .admin_update_user(console.actor(), id, edit, &console.ctx, state.clock.now())
        .await?;
    let state_word = if user.user.email_verified {
        "verified"
    } else {
        "not verified"
    };
    console.done(
        &state,
        &page,
        format!(
            "{}'s address {} is now marked {state_word}.",
            user.user.username, user.user.email
        ),
    )
}

pub async fn reset_second_factor(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (console, id, page) = open(&state, &req, &path, form.csrf_token.as_deref(), false).await?;
    let removed = state
        .app
        .admin_reset_second_factor(console.actor(), id, &console.ctx, state.clock.now())
        .await?;
    let notice = if removed {
        "Two-factor authentication removed: the user signs in with their password alone and \
         can set it up again; every session of theirs has ended."
    } else {
        "The user had no two-factor authentication to remove; every session of theirs has ended."
    };
    console.done(&state, &page, notice)
}

pub async fn send_password_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (console, id, page) = open(&state, &req, &path, form.csrf_token.as_deref(), false).await?;
    state
        .app
        .admin_send_password_reset(console.actor(), id, &console.ctx, state.clock.now())
        .await?;
    console.done(
        &state,
        &page,
        "A password reset link is on its way to the user's address (a disabled account gets \
         none).",
    )
}

pub async fn end_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (console, id, page) = open(&state, &req, &path, form.csrf_token.as_deref(), false).await?;
    let ended = state
        .app
        .admin_end_user_sessions(console.actor(), id, &console.ctx, state.clock.now())
        .await?;
    let sessions = if ended == 1 { "session" } else { "sessions" };
    console.done(
        &state,
        &page,
        format!("Signed the user out everywhere: {ended} {sessions} and every grant ended."),
    )
}

pub async fn revoke_grant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (raw_id, grant_id) = path.into_inner();
    let (console, id, page) =
        open(&state, &req, &raw_id, form.csrf_token.as_deref(), false).await?;
    let revoked = state
        .app
        .admin_revoke_user_grant(
            console.actor(),
            id,
            &grant_id,
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    let notice = if revoked {
        "Grant revoked: the application's refresh token no longer works and it was told so."
    } else {
        "Nothing revoked: the user holds no such live grant (it had already ended)."
    };
    console.done(&state, &page, notice)
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (console, id, _) = open(&state, &req, &path, form.csrf_token.as_deref(), true).await?;
    let removal = state
        .app
        .admin_delete_user(console.actor(), id, &console.ctx, state.clock.now())
        .await?;
    let notice = match removal {
        gatehouse_app::admin_users::UserRemoval::Deleted => format!(
            "Deleted user {id} with their credentials, sessions and grants; the audit log keeps \
             their username."
        ),
        gatehouse_app::admin_users::UserRemoval::LeftOrganization { organization } => format!(
            "User {id} also belongs to another organisation, so the account was not deleted: \
             only its membership in {organization} was removed."
        ),
    };
    console.done(&state, USERS_PATH, notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_datetime_local_as_utc() {
        assert_eq!(parse_until(None), Ok(None));
        assert_eq!(parse_until(Some("  ")), Ok(None));
        let expected = DateTime::parse_from_rfc3339("2026-12-07T09:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(parse_until(Some("2026-12-07T09:30")), Ok(expected));
        assert_eq!(parse_until(Some("2026-12-07T09:30:00")), Ok(expected));
        assert!(parse_until(Some("tomorrow")).is_err());
    }
}
