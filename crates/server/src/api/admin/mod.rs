//! The admin REST API under `/api/v1/admin`: bearer access tokens with the `admin` scope
//! ([`super::bearer::AdminToken`]) whose subject (a user, or a client's service account) holds a
//! role the permission gate ([`gatehouse_app::Gatehouse::admit`]) accepts for the operation.
//! Without a token: 401 with `WWW-Authenticate: Bearer`; without the scope: 403
//! `insufficient_scope` (RFC 6750 §3.1); without the role: 403 problem+json. Cookies are not
//! accepted here, so there is no CSRF surface.
//!
//! An organisation's `org_admin` uses the same endpoints, confined to its organisation (see
//! `gatehouse_app::admin`): anything of another organisation answers 404, lists leave it out,
//! and what it may never do (roles, keys, organisations) is a 403. A user who administers
//! several organisations names the one it acts in with the `organization` query parameter on
//! any request ([`super::bearer::AdminToken`]); for platform actors it narrows the lists.
//!
//! Lists share one convention: `?limit=` (default 50, at most 200) and an opaque `cursor`,
//! answering `{items, next_cursor, total}` (see [`Page`]).

pub mod audit;
pub mod clients;
pub mod organizations;
pub mod users;

use actix_web::web;

/// Items per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items a page holds.
pub const MAX_LIMIT: u32 = 200;

/// A page of a list: its items, the cursor of the next page (`None` on the last), and the
/// exact number of items matching the filters.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T: utoipa::ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    users::routes(cfg);
    clients::routes(cfg);
    audit::routes(cfg);
    organizations::routes(cfg);
}

/// The admin API's part of the OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = users::Doc::openapi();
    doc.merge(clients::Doc::openapi());
    doc.merge(audit::Doc::openapi());
    doc.merge(organizations::Doc::openapi());
    doc
}
