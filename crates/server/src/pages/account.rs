//! `/account`: who is signed in, their live sessions (any of which they can end) and the
//! third-party applications they consented to (which they can revoke).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::DateTime;

use super::{PageError, form_page};
use crate::app::AppState;
use crate::browser::{csrf_matches, csrf_token, current_session, request_context};
use gatehouse_sessions::SessionHandle;
use serde::Deserialize;

struct SessionRow {
    handle: String,
    started: String,
    user_agent: String,
    current: bool,
}

struct ConsentRow {
    client_id: String,
    client_name: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    username: &'a str,
    email: &'a str,
    email_verified: bool,
    roles: Vec<String>,
    signed_in_at: String,
    sessions: Vec<SessionRow>,
    consents: Vec<ConsentRow>,
    csrf_token: &'a str,
}

fn format_time(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let Some((_secret, handle, session)) = current_session(&state, &req).await? else {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/login?return_to=%2Faccount"))
            .finish());
    };
    let db = state.accounts.database().clone();
    let user_id = session.user_id;
    let (user, roles, consents) =
        web::block(move || -> Result<_, gatehouse_identity::IdentityError> {
            let consents = db
                .list_consents(user_id)?
                .into_iter()
                .map(|(client_id, scopes, _)| {
                    let client_name = db
                        .find_client(&client_id)?
                        .map_or_else(|| client_id.clone(), |c| c.name);
                    Ok(ConsentRow {
                        client_id,
                        client_name,
                        scopes: scopes.join(" "),
                    })
                })
                .collect::<Result<Vec<_>, gatehouse_identity::IdentityError>>()?;
            Ok((
                db.find_user_by_id(user_id)?,
                db.roles_of(user_id)?,
                consents,
            ))
        })
        .await
        .map_err(|err| PageError::internal(&err))?
        .map_err(|err| PageError::internal(&err))?;
    let Some(user) = user else {
        // The account was deleted while the session lived.
        let _ = state.sessions.destroy_handle(user_id, &handle).await;
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/login"))
            .finish());
    };
    let mut live = state
        .sessions
        .list_for_user(user_id)
        .await
        .map_err(PageError::unavailable)?;
    live.sort_by_key(|(_, s)| std::cmp::Reverse(s.created_at));
    let sessions = live
        .into_iter()
        .map(|(h, s)| SessionRow {
            current: h == handle,
            handle: h.0,
            started: format_time(s.created_at),
            user_agent: s.user_agent.unwrap_or_else(|| "unknown browser".to_owned()),
        })
        .collect();
    let (token, fresh) = csrf_token(&req);
    let page = AccountPage {
        username: &user.username,
        email: &user.email,
        email_verified: user.email_verified,
        roles,
        signed_in_at: format_time(session.auth_time),
        sessions,
        consents,
        csrf_token: &token,
    };
    form_page(&state, StatusCode::OK, &page, &token, fresh)
}

#[derive(Debug, Deserialize)]
pub struct EndSessionForm {
    csrf_token: Option<String>,
    session: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RevokeConsentForm {
    csrf_token: Option<String>,
    client_id: Option<String>,
}

fn back_to_account() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", "/account"))
        .finish()
}

/// The account forms' common gate: a valid CSRF token, then the signed-in user (None: no
/// session, so there is nothing to change and the caller goes back to /account).
async fn signed_in_form(
    req: &HttpRequest,
    state: &AppState,
    csrf: Option<&str>,
) -> Result<Option<uuid::Uuid>, PageError> {
    if !csrf_matches(req, csrf) {
        return Err(PageError::forbidden(
            "The form expired. Reload the page and try again.",
        ));
    }
    Ok(current_session(state, req)
        .await?
        .map(|(_, _, session)| session.user_id))
}

async fn audit_account_change(
    state: &AppState,
    req: &HttpRequest,
    user_id: uuid::Uuid,
    action: &str,
    target: String,
) {
    let mut ctx = request_context(req);
    ctx.actor = Some(user_id.to_string());
    crate::audit::record_success(state, action, Some(target), &ctx).await;
}

/// Ends another of the signed-in user's sessions (only their own: the handle is checked against
/// the user's index).
pub async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EndSessionForm>,
) -> Result<HttpResponse, PageError> {
    let Some(user_id) = signed_in_form(&req, &state, form.csrf_token.as_deref()).await? else {
        return Ok(back_to_account());
    };
    let handle = SessionHandle(form.session.clone().unwrap_or_default());
    let ended = state
        .sessions
        .destroy_handle(user_id, &handle)
        .await
        .map_err(PageError::unavailable)?;
    if ended {
        audit_account_change(&state, &req, user_id, "session.end", user_id.to_string()).await;
    }
    Ok(back_to_account())
}

/// Withdraws the consent given to a client: the next authorization asks again.
pub async fn revoke_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RevokeConsentForm>,
) -> Result<HttpResponse, PageError> {
    let Some(user_id) = signed_in_form(&req, &state, form.csrf_token.as_deref()).await? else {
        return Ok(back_to_account());
    };
    let client_id = form.client_id.clone().unwrap_or_default();
    let db = state.accounts.database().clone();
    let revoked = {
        let client_id = client_id.clone();
        web::block(move || db.revoke_consent(user_id, &client_id))
            .await
            .map_err(|err| PageError::internal(&err))?
            .map_err(|err| PageError::internal(&err))?
    };
    if revoked {
        audit_account_change(&state, &req, user_id, "consent.revoke", client_id).await;
    }
    Ok(back_to_account())
}
