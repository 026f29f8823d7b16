//! The REST API under `/api/v1`. Errors are problem JSON (see `crate::problem`).

pub mod openapi;
mod users;

use actix_web::web;

use crate::problem::{Problem, ProblemKind};
use crate::routing::{Surface, resource};

pub use users::UserView;

/// Largest JSON body the API reads.
const MAX_BODY: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/openapi.json", Surface::Api).get(openapi::serve))
        .service(resource("/api/v1/users", Surface::Api).post(users::register));
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
