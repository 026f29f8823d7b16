//! The REST API under `/api/v1`. Errors are problem JSON (see `crate::problem`); the account
//! API (`account`, `account_credentials`) is authenticated by bearer tokens (`bearer`, RFC
//! 6750); sign-up (`users`) and password resets (`password_resets`) are not.

mod account;
mod account_credentials;
pub mod admin;
pub mod bearer;
pub mod openapi;
mod password_resets;
mod users;

use actix_web::web;

use crate::problem::{Problem, ProblemKind};
use crate::routing::{Surface, resource};

pub use users::UserView;

/// Largest JSON body the API reads.
const MAX_BODY: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    admin::routes(cfg);
    openapi::docs_routes(cfg);
    cfg.service(resource("/api/v1/openapi.json", Surface::Api).get(openapi::serve))
        .service(resource("/api/v1/users", Surface::Api).post(users::register))
        .service(
            resource("/api/v1/account", Surface::Api)
                .get(account::show)
                .patch(account_credentials::change_email),
        )
        .service(
            resource("/api/v1/account/email-verification", Surface::Api)
                .post(account_credentials::resend_verification),
        )
        .service(
            resource("/api/v1/account/email-verification/confirm", Surface::Api)
                .post(account_credentials::confirm_verification),
        )
        .service(
            resource("/api/v1/account/password", Surface::Api)
                .post(account_credentials::change_password),
        )
        .service(resource("/api/v1/password-resets", Surface::Api).post(password_resets::request))
        .service(
            resource("/api/v1/password-resets/complete", Surface::Api)
                .post(password_resets::complete),
        )
        .service(
            resource("/api/v1/account/sessions", Surface::Api)
                .get(account::list_sessions)
                .delete(account::end_other_sessions),
        )
        .service(
            resource("/api/v1/account/sessions/{id}", Surface::Api).delete(account::end_session),
        )
        .service(
            resource("/api/v1/account/totp", Surface::Api)
                .post(account::begin_totp)
                .delete(account::disable_totp),
        )
        .service(resource("/api/v1/account/totp/confirm", Surface::Api).post(account::confirm_totp))
        .service(
            resource("/api/v1/account/recovery-codes", Surface::Api)
                .post(account::regenerate_recovery_codes),
        );
}

/// Reads the body up to `MAX_BODY`, answering problem JSON instead of actix's plain-text errors.
async fn read_body(payload: web::Payload) -> Result<web::Bytes, Problem> {
    crate::body::read_limited(payload, MAX_BODY)
        .await
        .map_err(|err| match err {
            crate::body::BodyError::TooLarge(_) => {
                Problem::new(ProblemKind::PayloadTooLarge, err.to_string())
            }
            crate::body::BodyError::Unreadable(_) => {
                Problem::new(ProblemKind::MalformedBody, err.to_string())
            }
        })
}
