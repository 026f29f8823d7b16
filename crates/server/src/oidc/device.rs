//! The device authorization grant's HTTP surface (RFC 8628): `POST /device_authorization`
//! (§3.1–3.2) for devices, and `/device` (§3.3) for the user's browser. The rules are
//! `gatehouse_authz::device`'s; the page handlers add what is about browsers: sign-in first
//! (the login page returns here), CSRF on every form, and the limits on wrong codes (§5.1).
//!
//! Wrong codes are limited per client address and per browser session, both counting failures
//! only (`rate_limits.device_code_per_ip`, `rate_limits.device_code_per_session`). Both limits
//! are asked before a code is looked at, so once either is used up every code is refused, the
//! right one included: a guesser cannot tell a hit from a refusal, and a success never resets
//! the counts (keycloak#51275 had no limit at all).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::DateTime;
use gatehouse_authz::device::user_code;
use gatehouse_authz::{
    AuthSession, DeviceAction, DeviceCodeRefusal, DeviceOutcome, DeviceRequest, ErrorCode,
};
use serde::Deserialize;

use super::{client_credentials, oauth_error_response, read_form};
use crate::app::{AppState, RateLimited};
use crate::browser::{csrf_matches, csrf_token, current_session, request_context};
use crate::pages::{PageError, form_page, html};

/// `POST /device_authorization` (RFC 8628 §3.1): the device's request, answered as JSON.
pub async fn authorization(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let result = async {
        let form = read_form(&req, body).await?;
        state
            .authz
            .device_authorization(&form, client_credentials(&req), state.clock.now())
            .await
    }
    .await;
    match result {
        // §3.2 carries a secret (the device code): never cached, like a token response.
        Ok(answer) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"))
            .json(answer),
        Err(err) => oauth_error_response(&err),
    }
}

#[derive(Template)]
#[template(path = "device.html")]
struct EntryPage<'a> {
    username: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
    csrf_token: &'a str,
}

struct ScopeRow {
    name: String,
    description: &'static str,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage<'a> {
    username: &'a str,
    user_code: &'a str,
    client_id: &'a str,
    client_name: &'a str,
    /// The organisation the request signs in to: the client's, or the one the device named.
    organisation: Option<&'a str>,
    requested_at: String,
    requested_at_unix: i64,
    scopes: Vec<ScopeRow>,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage<'a> {
    client_name: &'a str,
    approved: bool,
}

#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

/// Every field optional, so that a missing one is our message, not the extractor's.
#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    csrf_token: Option<String>,
    user_code: Option<String>,
    /// `show` (the entry form), `approve` or `deny` (the confirmation's buttons).
    action: Option<String>,
}

/// Longest text put back into the entry form.
const MAX_ENTERED: usize = 32;

/// `/device`, with the code to come back to (§3.3.1: `verification_uri_complete` only fills
/// it in).
fn resume_path(entered: Option<&str>) -> String {
    match entered.map(str::trim).filter(|code| !code.is_empty()) {
        None => "/device".to_owned(),
        Some(code) => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("user_code", &prefill(code));
            format!("/device?{}", query.finish())
        }
    }
}

/// What the entry form shows: a code in its `XXXX-XXXX` form, anything else as typed (cut).
fn prefill(entered: &str) -> String {
    match user_code::normalize(entered) {
        Some(canonical) => user_code::display(&canonical),
        None => entered.trim().chars().take(MAX_ENTERED).collect(),
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

fn to_login(resume: &str, force: bool) -> HttpResponse {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", resume);
    if force {
        query.append_pair("force", "1");
    }
    redirect(&format!("/login?{}", query.finish()))
}

fn to(path: &str, resume: &str) -> HttpResponse {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", resume);
    redirect(&format!("{path}?{}", query.finish()))
}

fn refusal_message(refusal: DeviceCodeRefusal) -> &'static str {
    match refusal {
        DeviceCodeRefusal::Unknown => "That code is not valid. Check it and try again.",
        DeviceCodeRefusal::Expired => "That code has expired. Start again on your device.",
        DeviceCodeRefusal::Decided => "That code was already used.",
    }
}

/// The signed-in browser, or where to send it first: the login page, or the address
/// verification when the deployment requires it (as `/authorize` does).
async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
    resume: &str,
) -> Result<Result<(AuthSession, String), HttpResponse>, PageError> {
    let Some((_, handle, session)) = current_session(state, req).await? else {
        return Ok(Err(to_login(resume, false)));
    };
    if state.app.requires_verified_email() && state.app.must_verify_email(session.user_id).await? {
        return Ok(Err(to("/email/unverified", resume)));
    }
    let auth = AuthSession {
        user_id: session.user_id,
        auth_time: session.auth_time,
        sid: handle.0,
        amr: session.amr,
    };
    Ok(Ok((auth, session.username)))
}

fn entry_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    username: &str,
    entered: &str,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let (token, fresh) = csrf_token(req);
    let page = EntryPage {
        username,
        user_code: entered,
        error,
        csrf_token: &token,
    };
    form_page(state, status, &page, &token, fresh)
}

/// `GET /device[?user_code=…]`: the entry form, filled in from `verification_uri_complete`.
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, PageError> {
    let entered = query.user_code.as_deref();
    let resume = resume_path(entered);
    let (_, username) = match signed_in(&req, &state, &resume).await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let filled = entered.map(prefill).unwrap_or_default();
    entry_page(&req, &state, StatusCode::OK, &username, &filled, None)
}

/// `POST /device`: looks the code up (`action=show`), or allows or denies it.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<DeviceForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let entered = form.user_code.as_deref().unwrap_or("");
    let resume = resume_path(Some(entered));
    let (session, username) = match signed_in(&req, &state, &resume).await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return entry_page(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            &username,
            &prefill(entered),
            Some("The form expired. Please try again."),
        );
    }
    let action = match form.action.as_deref() {
        None | Some("show") => DeviceAction::Show,
        Some("approve") => DeviceAction::Approve,
        Some("deny") => DeviceAction::Deny,
        Some(_) => return Err(PageError::bad_request("Unknown action.")),
    };
    let ctx = request_context(&req);
    let now = state.clock.now();
    let limits = [
        (RateLimited::DeviceCode, ctx.ip.as_deref()),
        (RateLimited::DeviceCodeSession, Some(session.sid.as_str())),
    ];
    for (limit, subject) in limits {
        if let Some(retry_after) = state.rate_limits.exhausted(limit, subject, now).await {
            return Err(PageError::too_many_requests(retry_after));
        }
    }
    let outcome = state
        .app
        .verify_device_code(entered, &session, action, &ctx, now)
        .await
        .map_err(|err| match err.code {
            // A request in an organisation's context that this user may not decide (not a
            // member, or the organisation is disabled): a 403 page saying so.
            ErrorCode::AccessDenied => PageError::new(
                StatusCode::FORBIDDEN,
                "Not allowed for this account",
                err.description,
            ),
            _ => PageError::protocol(err.status(), "Device sign-in failed", err.description),
        })?;
    match outcome {
        DeviceOutcome::Confirm(request) => confirm_page(&req, &state, &username, &request),
        DeviceOutcome::Approved(request) => done_page(&request, true),
        DeviceOutcome::Denied(request) => done_page(&request, false),
        DeviceOutcome::SecondFactorRequired => Ok(to("/login/step-up", &resume)),
        DeviceOutcome::LoginRequired => Ok(to_login(&resume, true)),
        DeviceOutcome::Refused(refusal) => {
            // Counted now that it failed; the attempt that uses a limit up still gets its
            // answer, the next one the 429.
            for (limit, subject) in limits {
                state.rate_limits.check(limit, subject, now).await;
            }
            entry_page(
                &req,
                &state,
                StatusCode::BAD_REQUEST,
                &username,
                &prefill(entered),
                Some(refusal_message(refusal)),
            )
        }
    }
}

fn confirm_page(
    req: &HttpRequest,
    state: &AppState,
    username: &str,
    request: &DeviceRequest,
) -> Result<HttpResponse, PageError> {
    let (token, fresh) = csrf_token(req);
    let requested_at = DateTime::from_timestamp(request.requested_at, 0)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let page = ConfirmPage {
        username,
        user_code: &request.user_code,
        client_id: &request.client_id,
        client_name: &request.client_name,
        organisation: request.organization.as_deref(),
        requested_at,
        requested_at_unix: request.requested_at,
        scopes: request
            .scopes
            .iter()
            .map(|name| ScopeRow {
                name: name.clone(),
                description: super::authorize::describe_scope(name),
            })
            .collect(),
        csrf_token: &token,
    };
    form_page(state, StatusCode::OK, &page, &token, fresh)
}

fn done_page(request: &DeviceRequest, approved: bool) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &DonePage {
            client_name: &request.client_name,
            approved,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_path_carries_the_code_in_its_display_form() {
        assert_eq!(resume_path(None), "/device");
        assert_eq!(resume_path(Some("  ")), "/device");
        assert_eq!(
            resume_path(Some("wdjb mjht")),
            "/device?user_code=WDJB-MJHT"
        );
        assert_eq!(resume_path(Some("a&b")), "/device?user_code=a%26b");
        assert_eq!(prefill(&"x".repeat(100)).len(), MAX_ENTERED);
    }
}
