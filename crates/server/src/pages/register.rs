//! `/register`: self-service sign-up (open while `registration.enabled`). With
//! `registration.require_verified_email` off the new user is signed in at once and goes on to
//! `return_to`; with it on, the answer is the "check your email" page, the same for an address
//! that already has an account (its owner is mailed instead; `gatehouse_app::email`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::AfterSignUp;
use gatehouse_identity::{RegisterError, Registration};
use serde::Deserialize;

use super::{FieldErrors, PageError, form_page, html, see_other, sign_in_first, with_return};
use crate::app::{AppState, RateLimited};
use crate::browser::{
    SESSION_COOKIE, csrf_matches, csrf_token, request_context, safe_return_to, session_cookie,
};

const DEFAULT_LANDING: &str = "/account";

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    csrf_token: &'a str,
    return_to: &'a str,
    username: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    errors: &'a FieldErrors,
    login_url: String,
}

#[derive(Template)]
#[template(path = "register_check_email.html")]
struct CheckEmailPage<'a> {
    email: &'a str,
    login_url: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct RegisterQuery {
    return_to: Option<String>,
}

/// Every field optional so that a missing one is our message, not the extractor's.
#[derive(Deserialize)]
pub struct RegisterForm {
    csrf_token: Option<String>,
    return_to: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

/// What the form showed, to show it again with its errors (never the password).
struct Typed<'a> {
    return_to: &'a str,
    username: &'a str,
    email: &'a str,
}

fn render(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    typed: &Typed<'_>,
    error: Option<&str>,
    errors: &FieldErrors,
) -> Result<HttpResponse, PageError> {
    crate::security_headers::form_continues_to(req, typed.return_to);
    let (token, fresh) = csrf_token(req);
    let page = RegisterPage {
        csrf_token: &token,
        return_to: typed.return_to,
        username: typed.username,
        email: typed.email,
        error,
        errors,
        login_url: login_url(typed.return_to),
    };
    form_page(state, status, &page, &token, fresh)
}

/// The sign-in page, carrying `return_to` on.
fn login_url(return_to: &str) -> String {
    if return_to.is_empty() {
        "/login".to_owned()
    } else {
        with_return("/login", return_to)
    }
}

fn require_open(state: &AppState) -> Result<(), PageError> {
    if state.settings.registration.enabled {
        Ok(())
    } else {
        Err(PageError::forbidden(
            "Sign-up is closed on this server. Ask an administrator for an account.",
        ))
    }
}

/// `GET /register`.
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<RegisterQuery>,
) -> Result<HttpResponse, PageError> {
    require_open(&state)?;
    let return_to = safe_return_to(query.return_to.as_deref()).unwrap_or_default();
    let typed = Typed {
        return_to: &return_to,
        username: "",
        email: "",
    };
    render(
        &req,
        &state,
        StatusCode::OK,
        &typed,
        None,
        &FieldErrors::default(),
    )
}

/// `POST /register`.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, PageError> {
    require_open(&state)?;
    // Counted before anything in the form is looked at, so that no refused request costs a
    // password hash.
    let ctx = request_context(&req);
    if let Some(retry_after) = state
        .rate_limits
        .check(
            RateLimited::Registration,
            ctx.ip.as_deref(),
            state.clock.now(),
        )
        .await
    {
        return Err(PageError::too_many_requests(retry_after));
    }
    let form = form.into_inner();
    let return_to = safe_return_to(form.return_to.as_deref()).unwrap_or_default();
    let username = form.username.as_deref().map(str::trim).unwrap_or_default();
    let email = form.email.as_deref().map(str::trim).unwrap_or_default();
    let typed = Typed {
        return_to: &return_to,
        username,
        email,
    };
    if !csrf_matches(&req, form.csrf_token.as_deref()) {
        return render(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            &typed,
            Some("The sign-up form expired. Please try again."),
            &FieldErrors::default(),
        );
    }
    let password = form.password.unwrap_or_default();
    let mut missing = FieldErrors::default();
    if username.is_empty() {
        missing.add("username", "Choose a username.");
    }
    if email.is_empty() {
        missing.add("email", "Enter your email address.");
    }
    if password.is_empty() {
        missing.add("password", "Choose a password.");
    }
    if !missing.is_empty() {
        return render(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            &typed,
            None,
            &missing,
        );
    }

    let previous = req.cookie(SESSION_COOKIE);
    let registration = Registration {
        username: username.to_owned(),
        email: email.to_owned(),
        password,
    };
    let outcome = state
        .app
        .register(
            registration,
            AfterSignUp::SignIn {
                previous_cookie: previous.as_ref().map(|cookie| cookie.value()),
            },
            &ctx,
            state.clock.now(),
        )
        .await;
    let registered = match outcome {
        Ok(registered) => registered,
        Err(RegisterError::Invalid(err)) => {
            let errors = FieldErrors::one(err.field, err.message);
            return render(&req, &state, StatusCode::BAD_REQUEST, &typed, None, &errors);
        }
        Err(RegisterError::Duplicate { field }) => {
            let message = if field == "email" {
                "An account with this email address exists already. Sign in, or reset its \
                 password."
            } else {
                "This username is taken. Choose another one."
            };
            let errors = FieldErrors::one(field, message);
            return render(&req, &state, StatusCode::CONFLICT, &typed, None, &errors);
        }
        Err(RegisterError::Internal(err)) => return Err(err.into()),
    };
    let landing = if return_to.is_empty() {
        DEFAULT_LANDING
    } else {
        &return_to
    };
    if state.app.requires_verified_email() {
        // The address as typed, not as stored: a registered address must read the same.
        let page = CheckEmailPage {
            email,
            login_url: &with_return("/login", landing),
        };
        return html(StatusCode::OK, &page);
    }
    match registered.signed_in {
        Some(signed_in) => {
            let mut response = see_other(landing);
            response
                .add_cookie(&session_cookie(&state, signed_in.cookie_secret))
                .map_err(|err| PageError::internal(&err))?;
            Ok(response)
        }
        None => Ok(sign_in_first(landing)),
    }
}
