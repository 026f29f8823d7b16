//! Server-rendered pages (askama). Page failures render the HTML error page, never JSON.

mod account;
mod admin;
mod email;
mod error;
mod login;
mod password;
mod register;
mod second_factor;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::routing::{Surface, resource};

pub use error::{PageError, form_page, html};

pub fn routes(cfg: &mut web::ServiceConfig) {
    // A form that cannot be decoded (wrong content type, bad encoding) is a page error, not text.
    cfg.app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(|err, _req| PageError::bad_request(err.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _req| PageError::bad_request(err.to_string()).into()),
    )
    .service(resource("/", Surface::Page).get(root))
    .service(resource("/static/gatehouse.css", Surface::Page).get(stylesheet))
    .service(resource("/static/htmx.min.js", Surface::Page).get(htmx))
    .service(
        resource("/login", Surface::Page)
            .get(login::show)
            .post(login::submit),
    )
    .service(
        resource("/login/second-factor", Surface::Page)
            .get(second_factor::show)
            .post(second_factor::submit),
    )
    .service(resource("/login/step-up", Surface::Page).get(second_factor::step_up))
    .service(
        resource("/register", Surface::Page)
            .get(register::show)
            .post(register::submit),
    )
    // A GET here uses the link (a second click says "already verified"), so HEAD is refused
    // rather than verifying too.
    .service(resource("/email/verify", Surface::Page).get_without_head(email::verify_link))
    .service(resource("/email/unverified", Surface::Page).get(email::unverified))
    .service(
        resource("/password/forgot", Surface::Page)
            .get(password::forgot)
            .post(password::request_reset),
    )
    .service(
        resource("/password/reset", Surface::Page)
            .get(password::reset_form)
            .post(password::reset),
    )
    .service(resource("/account", Surface::Page).get(account::show))
    .service(resource("/account/email", Surface::Page).post(email::change))
    .service(resource("/account/email/verify", Surface::Page).post(email::verify_code))
    .service(resource("/account/email/resend", Surface::Page).post(email::resend))
    .service(resource("/account/password", Surface::Page).post(password::change))
    .service(resource("/account/sessions/end", Surface::Page).post(account::end_session))
    .service(
        resource("/account/sessions/end-others", Surface::Page).post(account::end_other_sessions),
    )
    .service(resource("/account/consents/revoke", Surface::Page).post(account::revoke_app))
    .service(resource("/account/apps/revoke", Surface::Page).post(account::revoke_app))
    .service(resource("/account/totp", Surface::Page).get(account::two_factor::start))
    .service(resource("/account/totp/enrol", Surface::Page).post(account::two_factor::enrol))
    .service(resource("/account/totp/confirm", Surface::Page).post(account::two_factor::confirm))
    .service(resource("/account/totp/disable", Surface::Page).post(account::two_factor::disable))
    .service(
        resource("/account/recovery-codes", Surface::Page)
            .post(account::two_factor::regenerate_recovery_codes),
    )
    .configure(admin::routes);
}

/// The errors of a submitted form, each shown next to its input
/// (`<p class="field-error" data-field-error="FIELD">`).
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub(crate) fn one(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    pub(crate) fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for `field`, for the templates.
    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }
}

/// The success messages a redirect may name in `?notice=`; any other name shows nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    VerificationSent,
    EmailVerified,
    EmailAlreadyVerified,
    EmailChangeSent,
    PasswordChanged,
}

impl Notice {
    const ALL: [Notice; 5] = [
        Notice::VerificationSent,
        Notice::EmailVerified,
        Notice::EmailAlreadyVerified,
        Notice::EmailChangeSent,
        Notice::PasswordChanged,
    ];

    pub(crate) fn parse(name: Option<&str>) -> Option<Self> {
        let name = name?;
        Self::ALL.into_iter().find(|notice| notice.name() == name)
    }

    /// The `?notice=` value and the `data-notice` marker.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Notice::VerificationSent => "verification-sent",
            Notice::EmailVerified => "email-verified",
            Notice::EmailAlreadyVerified => "email-already-verified",
            Notice::EmailChangeSent => "email-change-sent",
            Notice::PasswordChanged => "password-changed",
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Notice::VerificationSent => {
                "We sent a new verification email. Earlier links and codes no longer work."
            }
            Notice::EmailVerified => "Your email address is verified.",
            Notice::EmailAlreadyVerified => "Your email address is already verified.",
            Notice::EmailChangeSent => {
                "We sent a link to your new address. Your account keeps its current address \
                 until you open it."
            }
            Notice::PasswordChanged => "Your password was changed.",
        }
    }
}

/// `path?return_to=…`, encoded.
pub(crate) fn with_return(path: &str, return_to: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", return_to);
    format!("{path}?{}", query.finish())
}

/// A 303 that is never cached.
pub(crate) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Back to the account page, which shows `notice`.
pub(crate) fn notice_on_account(notice: Notice) -> HttpResponse {
    see_other(&format!("/account?notice={}", notice.name()))
}

/// No session: sign in, then come back to `resume`.
pub(crate) fn sign_in_first(resume: &str) -> HttpResponse {
    see_other(&with_return("/login", resume))
}

async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", "/account"))
        .finish()
}

/// Compiled in, like the templates, so the binary serves its pages from any directory.
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../../static/gatehouse.css"))
}

/// htmx for the admin console's small enhancements, vendored (see `static/vendor/README.md`)
/// and compiled in: no CDN, no build step.
async fn htmx() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(include_str!("../../../../static/vendor/htmx-2.0.11.min.js"))
}

/// The fallback for unknown paths: problem JSON under `/api/`, an HTML page elsewhere.
pub async fn not_found(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    if req.path().starts_with("/api/") {
        return Err(crate::problem::Problem::new(
            crate::problem::ProblemKind::NotFound,
            format!("no resource at {} {}", req.method(), req.path()),
        )
        .into());
    }
    Err(PageError::not_found().into())
}
