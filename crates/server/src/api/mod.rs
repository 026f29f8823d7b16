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
async fn read_body(mut payload: web::Payload) -> Result<web::Bytes, Problem> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| {
            Problem::new(
                ProblemKind::MalformedBody,
                format!("cannot read body: {err}"),
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Problem::new(
                ProblemKind::PayloadTooLarge,
                format!("the body exceeds {MAX_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
