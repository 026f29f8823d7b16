//! `/account`: who is signed in, their live sessions (any of which they can end), newest first
//! and [`SESSIONS_PER_PAGE`] to a page (`?page=N`), and the third-party applications they
//! consented to (which they can revoke).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::DateTime;
use gatehouse_app::{SessionEnd, SessionRef};

use super::{PageError, form_page};
use crate::app::AppState;
use crate::browser::{csrf_matches, csrf_token, current_session, request_context};
use gatehouse_sessions::SessionHandle;
use serde::Deserialize;

/// Sessions listed on one page of `/account`.
pub const SESSIONS_PER_PAGE: usize = 20;

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
    session_count: usize,
    page: SessionPage,
    consents: Vec<ConsentRow>,
    csrf_token: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    /// Text, so that a non-number is our error message rather than the extractor's.
    page: Option<String>,
}

/// Which page of the session list is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionPage {
    /// 1-based.
    number: usize,
    /// At least 1, also with no sessions.
    count: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl SessionPage {
    /// Page `requested` of `total` sessions: a number past the last page shows the last, 0 the
    /// first (a stale link after sessions ended is not an error).
    fn of(total: usize, requested: usize) -> Self {
        let count = total.div_ceil(SESSIONS_PER_PAGE).max(1);
        let number = requested.clamp(1, count);
        Self {
            number,
            count,
            prev: (number > 1).then(|| number - 1),
            next: (number < count).then(|| number + 1),
        }
    }

    fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.number - 1) * SESSIONS_PER_PAGE;
        start.min(total)..(start + SESSIONS_PER_PAGE).min(total)
    }
}

/// `?page=` as a number; anything but digits is a 400 page. Huge numbers saturate (and then
/// clamp to the last page).
fn requested_page(raw: Option<&str>) -> Result<usize, PageError> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(1);
    };
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PageError::bad_request(
            "The page number must be a whole number, such as ?page=2.",
        ));
    }
    Ok(raw.parse().unwrap_or(usize::MAX))
}

fn format_time(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, PageError> {
    let requested = requested_page(query.page.as_deref())?;
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
        .map_err(|err| PageError::internal(&err))??;
    let Some(user) = user else {
        // The account was deleted while the session lived.
        state
            .app
            .end_session(
                SessionRef::OfUser(user_id, &handle),
                SessionEnd::AccountGone,
                &request_context(&req),
                state.clock.now(),
            )
            .await?;
        return Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/login"))
            .finish());
    };
    let mut live = state
        .sessions
        .list_for_user(user_id)
        .await
        .map_err(PageError::unavailable)?;
    // Oldest first from the store; the page lists the newest first.
    live.reverse();
    let session_count = live.len();
    let page = SessionPage::of(session_count, requested);
    let sessions = live
        .drain(page.range(session_count))
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
        session_count,
        page,
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
    state
        .app
        .end_session(
            SessionRef::OfUser(user_id, &handle),
            SessionEnd::SignedOutFromList,
            &request_context(&req),
            state.clock.now(),
        )
        .await?;
    Ok(back_to_account())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

/// Ends every session of the signed-in user except this browser's.
pub async fn end_other_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return Err(PageError::forbidden(
            "The form expired. Reload the page and try again.",
        ));
    }
    let Some((_, handle, session)) = current_session(&state, &req).await? else {
        return Ok(back_to_account());
    };
    state
        .app
        .end_other_sessions(
            session.user_id,
            &handle,
            &request_context(&req),
            state.clock.now(),
        )
        .await?;
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
    state
        .app
        .revoke_consent(
            user_id,
            &client_id,
            &request_context(&req),
            state.clock.now(),
        )
        .await?;
    Ok(back_to_account())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_twenty_sessions_and_clamp_to_the_list() {
        let none = SessionPage::of(0, 1);
        assert_eq!(
            (none.number, none.count, none.prev, none.next),
            (1, 1, None, None)
        );
        assert_eq!(none.range(0), 0..0);

        let first = SessionPage::of(45, 1);
        assert_eq!((first.count, first.prev, first.next), (3, None, Some(2)));
        assert_eq!(first.range(45), 0..20);
        let last = SessionPage::of(45, 3);
        assert_eq!((last.prev, last.next), (Some(2), None));
        assert_eq!(last.range(45), 40..45);

        assert_eq!(SessionPage::of(45, 0).number, 1);
        assert_eq!(SessionPage::of(45, usize::MAX).number, 3);
        assert_eq!(SessionPage::of(40, 3).number, 2);
    }

    #[test]
    fn page_numbers_are_digits_or_a_400() {
        assert_eq!(requested_page(None).unwrap(), 1);
        assert_eq!(requested_page(Some("")).unwrap(), 1);
        assert_eq!(requested_page(Some("7")).unwrap(), 7);
        assert_eq!(
            requested_page(Some("99999999999999999999999")).unwrap(),
            usize::MAX
        );
        for bad in ["-1", "abc", "2.5", "1e3", "0x10"] {
            let err = requested_page(Some(bad)).unwrap_err();
            assert_eq!(
                actix_web::ResponseError::status_code(&err),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }
}
