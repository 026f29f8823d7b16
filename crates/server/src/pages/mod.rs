//! Server-rendered pages (askama). Page failures render the HTML error page, never JSON.

mod account;
mod error;
mod login;
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
    .service(resource("/account", Surface::Page).get(account::show))
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
    );
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
