//! `/account`: who is signed in, and their live sessions.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::DateTime;

use super::{PageError, html};
use crate::app::AppState;
use crate::browser::{csrf_cookie, csrf_token, current_session};

struct SessionRow {
    started: String,
    user_agent: String,
    current: bool,
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
    let (user, roles) = web::block(move || -> Result<_, gatehouse_identity::IdentityError> {
        Ok((db.find_user_by_id(user_id)?, db.roles_of(user_id)?))
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
            started: format_time(s.created_at),
            user_agent: s.user_agent.unwrap_or_else(|| "unknown browser".to_owned()),
            current: h == handle,
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
        csrf_token: &token,
    };
    let mut response = html(StatusCode::OK, &page)?;
    if fresh {
        response
            .add_cookie(&csrf_cookie(&state, &token))
            .map_err(|err| PageError::internal(&err))?;
    }
    Ok(response)
}
