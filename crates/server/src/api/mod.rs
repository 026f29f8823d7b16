//! The REST API under `/api/v1`. Errors are problem JSON (see `crate::problem`).

pub mod openapi;
mod users;

use actix_web::{HttpRequest, web};

use crate::problem::{Problem, ProblemKind};

pub use users::UserView;

/// Largest JSON body the API reads.
const MAX_BODY: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(openapi::serve))
        .service(
            web::resource("/api/v1/users")
                .route(web::post().to(users::register))
                .default_service(web::to(method_not_allowed)),
        );
}

async fn method_not_allowed(req: HttpRequest) -> Result<actix_web::HttpResponse, Problem> {
    Err(Problem::new(
        ProblemKind::MethodNotAllowed,
        format!("{} is not supported on {}", req.method(), req.path()),
    ))
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
