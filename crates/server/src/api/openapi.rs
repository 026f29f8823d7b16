//! The OpenAPI 3.1 description of the REST API, generated from the handlers' annotations and
//! served at `/api/v1/openapi.json`. `docs/openapi.json` is the committed copy; a test fails when
//! it drifts from the code (`gatehouse openapi > docs/openapi.json` regenerates it).

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// An RFC 9457 problem document, as every API error is returned.
#[derive(Serialize, ToSchema)]
pub struct ProblemDocument {
    /// A stable URN naming the kind of problem, e.g. `urn:gatehouse:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What to fix.
    pub detail: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
    /// The `x-request-id` of the response, to quote in a report.
    pub request_id: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse REST API",
        description = "Account and administration API of the Gatehouse authorization server. \
            Errors are application/problem+json (RFC 9457).",
        license(name = "Apache-2.0")
    ),
    paths(super::users::register),
    components(schemas(super::users::RegisterRequest, super::users::UserView, ProblemDocument))
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as pretty JSON with a trailing newline, exactly as committed in `docs/`.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_document_matches_the_code() {
        let committed = include_str!("../../../../docs/openapi.json");
        assert!(
            committed == super::document_json(),
            "docs/openapi.json is stale: run `cargo run -p gatehouse-server -- openapi > docs/openapi.json`"
        );
    }
}
