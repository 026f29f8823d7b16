//! `/account`: who is signed in, the security section (two-factor authentication, whose pages
//! live in [`two_factor`]), their live sessions (any of which they can end) newest first and
//! [`SESSIONS_PER_PAGE`] to a page (`?page=N`), and the connected apps: clients they consented
//! to or that hold offline access, either of which they can revoke. The forms that change the
//! address and the password post to `pages::email` and `pages::password`, which show this page
//! again with their errors (or come back with a `?notice=`).

pub(super) mod two_factor;

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::DateTime;
use gatehouse_app::{Account, ConnectedApp, SessionEnd, SessionRef, SessionView};
use gatehouse_identity::TotpStatus;

use gatehouse_sessions::{BrowserSession, SessionHandle};
use serde::Deserialize;

use super::{FieldErrors, Notice, PageError, form_page, see_other, sign_in_first};
use crate::app::AppState;
use crate::browser::{csrf_matches, csrf_token, current_session, request_context};

/// Sessions listed on one page of `/account`.
pub const SESSIONS_PER_PAGE: usize = 20;

struct SessionRow {
    handle: String,
    started: String,
    last_seen: String,
    ip: String,
    user_agent: String,
    /// The raw `amr` values (RFC 8176), for the `data-amr` attribute.
    amr: Vec<String>,
    /// The same, in words.
    methods: String,
    clients: Vec<String>,
    current: bool,
}

impl SessionRow {
    /// `app_names`: client id → name, for the clients the page already knows by name (the
    /// connected apps); any other client is shown by its id.
    fn of(view: SessionView, current: &SessionHandle, app_names: &HashMap<&str, &str>) -> Self {
        let session = view.session;
        Self {
            current: view.handle == *current,
            handle: view.handle.0,
            started: format_time(session.created_at),
            // Unset until the first of its (at most one per few minutes) writes: seen no later
            // than it began.
            last_seen: format_time(session.last_seen_at.unwrap_or(session.created_at)),
            ip: session.ip.unwrap_or_else(|| "unknown".to_owned()),
            user_agent: session
                .user_agent
                .unwrap_or_else(|| "unknown browser".to_owned()),
            methods: describe_amr(&session.amr),
            amr: session.amr,
            clients: view
                .clients
                .into_iter()
                .map(|id| {
                    app_names
                        .get(id.as_str())
                        .map_or(id, |name| (*name).to_owned())
                })
                .collect(),
        }
    }
}

/// `amr` values (RFC 8176 §2) as the user would name them. `mfa` only says that there were
/// several, which the list already shows.
fn describe_amr(amr: &[String]) -> String {
    let words: Vec<&str> = amr
        .iter()
        .filter(|method| method.as_str() != "mfa")
        .map(|method| match method.as_str() {
            "pwd" => "password",
            "otp" => "authenticator code",
            other => other,
        })
        .collect();
    if words.is_empty() {
        "unknown".to_owned()
    } else {
        words.join(" + ")
    }
}

struct AppRow {
    client_id: String,
    client_name: String,
    scopes: String,
    offline_since: Option<String>,
}

impl From<ConnectedApp> for AppRow {
    fn from(app: ConnectedApp) -> Self {
        Self {
            client_id: app.client_id,
            client_name: app.client_name,
            scopes: app.scopes.join(" "),
            offline_since: app.offline_since.map(format_time),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    username: &'a str,
    email: &'a str,
    email_verified: bool,
    email_pending: Option<&'a str>,
    notice: Option<Notice>,
    errors: &'a FieldErrors,
    roles: Vec<gatehouse_identity::Role>,
    signed_in_at: String,
    sessions: Vec<SessionRow>,
    session_count: usize,
    page: SessionPage,
    totp: TotpStatus,
    apps: Vec<AppRow>,
    csrf_token: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    /// Text, so that a non-number is our error message rather than the extractor's.
    page: Option<String>,
    /// A [`Notice`] name, set by the redirect after a form.
    notice: Option<String>,
}

/// What a form adds to the account page: a success notice, or the errors of a refused form.
#[derive(Debug, Default)]
pub(super) struct Feedback {
    pub notice: Option<Notice>,
    pub errors: FieldErrors,
}

impl Feedback {
    pub(super) fn error(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            notice: None,
            errors: FieldErrors::one(field, message),
        }
    }
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
        return Ok(sign_in_first("/account"));
    };
    let feedback = Feedback {
        notice: Notice::parse(query.notice.as_deref()),
        errors: FieldErrors::default(),
    };
    render(
        &req,
        &state,
        (&handle, &session),
        StatusCode::OK,
        requested,
        &feedback,
    )
    .await
}

/// The account page of the signed-in user, with `feedback` from a form (shown with `status`).
pub(super) async fn render(
    req: &HttpRequest,
    state: &AppState,
    (handle, session): (&SessionHandle, &BrowserSession),
    status: StatusCode,
    requested_page: usize,
    feedback: &Feedback,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let user_id = session.user_id;
    let Some(Account { user, roles, totp }) = state.app.account(user_id).await? else {
        // The account was deleted while the session lived.
        state
            .app
            .end_session(
                SessionRef::OfUser(user_id, handle),
                SessionEnd::AccountGone,
                &request_context(req),
                now,
            )
            .await?;
        return Ok(see_other("/login"));
    };
    let address = state.app.email_status(user_id, now).await?;
    let apps = state.app.connected_apps(user_id, now).await?;
    let mut live = state.app.list_sessions(user_id, now).await?;
    // Oldest first from the store; the page lists the newest first.
    live.reverse();
    let session_count = live.len();
    let page = SessionPage::of(session_count, requested_page);
    let app_names: HashMap<&str, &str> = apps
        .iter()
        .map(|app| (app.client_id.as_str(), app.client_name.as_str()))
        .collect();
    let sessions = live
        .drain(page.range(session_count))
        .map(|view| SessionRow::of(view, handle, &app_names))
        .collect();
    let (token, fresh) = csrf_token(req);
    let page = AccountPage {
        username: &user.username,
        email: address.as_ref().map_or(&user.email, |status| &status.email),
        email_verified: address
            .as_ref()
            .map_or(user.email_verified, |status| status.verified),
        email_pending: address
            .as_ref()
            .and_then(|status| status.pending.as_deref()),
        notice: feedback.notice,
        errors: &feedback.errors,
        roles,
        signed_in_at: format_time(session.auth_time),
        sessions,
        session_count,
        page,
        totp,
        apps: apps.into_iter().map(AppRow::from).collect(),
        csrf_token: &token,
    };
    form_page(state, status, &page, &token, fresh)
}

/// The gate of the account forms that change the address or the password: a valid CSRF token,
/// then the session (`Err`: the redirect that signs in and comes back to `resume`).
pub(super) async fn session_for_form(
    req: &HttpRequest,
    state: &AppState,
    csrf: Option<&str>,
    resume: &str,
) -> Result<Result<(SessionHandle, BrowserSession), HttpResponse>, PageError> {
    if !csrf_matches(req, csrf) {
        return Err(PageError::forbidden(
            "The form expired. Reload the page and try again.",
        ));
    }
    Ok(match current_session(state, req).await? {
        Some((_, handle, session)) => Ok((handle, session)),
        None => Err(sign_in_first(resume)),
    })
}

#[derive(Debug, Deserialize)]
pub struct EndSessionForm {
    csrf_token: Option<String>,
    session: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RevokeAppForm {
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

/// Disconnects an app (`/account/apps/revoke`, and the older `/account/consents/revoke`): its
/// consent goes, so the next authorization asks again, and so do the grants the user holds for
/// it, so its refresh tokens stop working. A consent alone would leave an offline grant alive.
pub async fn revoke_app(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RevokeAppForm>,
) -> Result<HttpResponse, PageError> {
    let Some(user_id) = signed_in_form(&req, &state, form.csrf_token.as_deref()).await? else {
        return Ok(back_to_account());
    };
    let client_id = form.client_id.clone().unwrap_or_default();
    state
        .app
        .revoke_app(
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
    fn methods_are_named_in_words() {
        let amr = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
        assert_eq!(describe_amr(&amr(&["pwd"])), "password");
        assert_eq!(
            describe_amr(&amr(&["pwd", "otp", "mfa"])),
            "password + authenticator code"
        );
        assert_eq!(describe_amr(&amr(&["hwk"])), "hwk");
        assert_eq!(describe_amr(&[]), "unknown");
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
