//! `GET|POST /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): hands the request and the browser
//! session to the protocol core, then logs in, asks consent, shows an error page or redirects.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_authz::{AuthSession, AuthorizeOutcome, ConsentDecision, Params};

use super::parse_params;
use crate::app::AppState;
use crate::browser::{csrf_matches, csrf_token, current_session, request_context};
use crate::pages::{PageError, form_page};

struct ScopeRow {
    name: String,
    description: &'static str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<ScopeRow>,
    params: &'a [(String, String)],
    csrf_token: &'a str,
}

pub(super) fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "openid" => "confirm who you are",
        "profile" => "see your username",
        "email" => "see your email address",
        "offline_access" => "stay signed in to it when you are away",
        "organization" => "see the organisation you sign in with and your role in it",
        _ => "an application-specific permission",
    }
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let params = parse_params(req.query_string().as_bytes());
    handle(&req, &state, params, ConsentDecision::NotAsked).await
}

/// POST carries either an authorization request (OIDC Core §3.1.2.1 allows form POST) or the
/// consent page's answer, which must carry the CSRF token.
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, PageError> {
    let mut params = super::read_page_form(body).await?;
    let Some(decision) = super::take_param(&mut params, "consent") else {
        return handle(&req, &state, params, ConsentDecision::NotAsked).await;
    };
    let submitted = super::take_param(&mut params, "csrf_token");
    if !csrf_matches(&req, submitted.as_deref()) {
        return Err(PageError::forbidden(
            "The consent form expired. Go back to the application and try again.",
        ));
    }
    let decision = match decision.as_str() {
        "approve" => ConsentDecision::Approved,
        "deny" => ConsentDecision::Denied,
        _ => return Err(PageError::bad_request("Unknown consent decision.")),
    };
    handle(&req, &state, params, decision).await
}

async fn handle(
    req: &HttpRequest,
    state: &AppState,
    params: Params,
    decision: ConsentDecision,
) -> Result<HttpResponse, PageError> {
    let session = current_session(state, req).await?;
    if let Some((_, _, signed_in)) = &session
        && state.app.requires_verified_email()
        && state.app.must_verify_email(signed_in.user_id).await?
    {
        return Ok(redirect_to_verify_email(&params));
    }
    let auth = session.as_ref().map(|(_, handle, s)| AuthSession {
        user_id: s.user_id,
        auth_time: s.auth_time,
        sid: handle.0.clone(),
        amr: s.amr.clone(),
    });
    let ctx = request_context(req);
    let outcome = state
        .authz
        .authorize_in_context(&params, auth.as_ref(), decision, &ctx, state.clock.now())
        .await;
    match outcome {
        AuthorizeOutcome::ErrorPage {
            error,
            description,
            status,
        } => {
            // RFC 6749 §4.1.2.1: never redirect to an unverified URI; tell the user instead. A
            // client that could not be looked up (database down) is a 503 page, not a 400.
            Err(PageError::protocol(
                status,
                "Invalid authorization request",
                format!("{description} ({error})"),
            ))
        }
        AuthorizeOutcome::Redirect { location } => Ok(HttpResponse::Found()
            .insert_header(("Location", location))
            .insert_header(("Cache-Control", "no-store"))
            .finish()),
        AuthorizeOutcome::LoginRequired { force } => Ok(redirect_to_login(&params, force)),
        AuthorizeOutcome::SecondFactorRequired => Ok(redirect_to_step_up(&params)),
        AuthorizeOutcome::ConsentRequired {
            client_id,
            client_name,
            scopes,
        } => {
            let Some((_, _, session)) = session else {
                return Ok(redirect_to_login(&params, false));
            };
            // The answer redirects to the client (CSP `form-action`).
            crate::security_headers::form_redirects_to_client(req, &client_id);
            let (token, fresh) = csrf_token(req);
            let page = ConsentPage {
                client_name: &client_name,
                username: &session.username,
                scopes: scopes
                    .into_iter()
                    .map(|name| ScopeRow {
                        description: describe_scope(&name),
                        name,
                    })
                    .collect(),
                params: &params,
                csrf_token: &token,
            };
            form_page(state, StatusCode::OK, &page, &token, fresh)
        }
    }
}

/// `registration.require_verified_email`: an unverified user verifies the address first, then
/// comes back to this authorization request.
fn redirect_to_verify_email(params: &Params) -> HttpResponse {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        query.append_pair(key, value);
    }
    let return_to = format!("/authorize?{}", query.finish());
    let mut verify = url::form_urlencoded::Serializer::new(String::new());
    verify.append_pair("return_to", &return_to);
    HttpResponse::SeeOther()
        .insert_header(("Location", format!("/email/unverified?{}", verify.finish())))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Sends the browser to the step-up page, which returns to this authorization request once the
/// session carries the second factor.
fn redirect_to_step_up(params: &Params) -> HttpResponse {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        query.append_pair(key, value);
    }
    let return_to = format!("/authorize?{}", query.finish());
    let mut step_up = url::form_urlencoded::Serializer::new(String::new());
    step_up.append_pair("return_to", &return_to);
    HttpResponse::Found()
        .insert_header(("Location", format!("/login/step-up?{}", step_up.finish())))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Sends the browser to the login page, which returns to this authorization request. After a
/// forced login (prompt=login or select_account, max_age) the return URL drops those prompt
/// values and `max_age`: the fresh session satisfies them, and keeping them would send it back
/// to the login page forever (max_age=0 in particular). Other prompt values (consent) stay.
fn redirect_to_login(params: &Params, force: bool) -> HttpResponse {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        if force && key == "max_age" {
            continue;
        }
        if force && key == "prompt" {
            let kept: Vec<&str> = value
                .split(' ')
                .filter(|v| !v.is_empty() && *v != "login" && *v != "select_account")
                .collect();
            if !kept.is_empty() {
                query.append_pair(key, &kept.join(" "));
            }
            continue;
        }
        query.append_pair(key, value);
    }
    let return_to = format!("/authorize?{}", query.finish());
    let mut login = url::form_urlencoded::Serializer::new(String::new());
    login.append_pair("return_to", &return_to);
    if force {
        login.append_pair("force", "1");
    }
    HttpResponse::Found()
        .insert_header(("Location", format!("/login?{}", login.finish())))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}
