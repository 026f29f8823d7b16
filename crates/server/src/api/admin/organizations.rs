//! Admin API: organisations (`/api/v1/admin/organizations`). Platform administration of the
//! partner organisations ("vendors"): list, create, read, rename, enable and disable, delete,
//! and their members with their role (`member` or `org_admin`). Handlers extract, make one
//! call into `gatehouse_app::admin_orgs` and map the result; the permission gate there admits
//! `admin` to everything and `auditor` to the reads.
//!
//! An organisation is named in the path by its id or by its slug (the slug rule keeps the two
//! apart); answers always carry both. Organisations are few, so the list is one page
//! (`next_cursor` is always `null`); so is a member list.
//!
//! `PATCH` with `"enabled": false` disables the organisation: its members can no longer sign in
//! to its clients, and the grants they hold for those clients are revoked (refresh tokens answer
//! `invalid_grant`). Enabling it again restores sign-in, not the grants.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use gatehouse_app::admin_orgs::{OrgAdminError, SetMember};
use gatehouse_identity::organizations::{
    Member, NewOrganization, ORG_NAME_MAX_CHARS, OrgRole, Organization, OrganizationPatch,
    OrganizationSummary, SLUG_MAX_CHARS, SLUG_MIN_CHARS,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Page;
use crate::api::account::{json_body, private};
use crate::api::bearer::AdminToken;
use crate::app::AppState;
use crate::browser::request_context;
use crate::problem::{Problem, ProblemKind};
use crate::routing::{Surface, resource};

/// An organisation as an administrator sees it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0b8f5c1e-6f3a-4d2b-9a51-7c0e2d9f4a10",
    "slug": "acme",
    "name": "Acme Corp",
    "enabled": true,
    "member_count": 12,
    "client_count": 2,
    "created_at": "2026-11-30T10:57:00Z",
    "updated_at": "2026-11-30T10:57:00Z"
}))]
pub struct OrganizationView {
    pub id: Uuid,
    /// Lowercase letters, digits and inner dashes; what relying parties send as
    /// `organization`. Never changes.
    pub slug: String,
    pub name: String,
    /// `false`: its members cannot sign in to its clients.
    pub enabled: bool,
    pub member_count: i64,
    pub client_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrganizationView {
    fn new(organization: Organization, member_count: i64, client_count: i64) -> Self {
        Self {
            id: organization.id,
            slug: organization.slug,
            name: organization.name,
            enabled: organization.enabled,
            member_count,
            client_count,
            created_at: organization.created_at,
            updated_at: organization.updated_at,
        }
    }
}

impl From<OrganizationSummary> for OrganizationView {
    fn from(summary: OrganizationSummary) -> Self {
        Self::new(summary.organization, summary.members, summary.clients)
    }
}

/// A member of an organisation.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "user_id": "5d1c7a2e-0f4b-4e8a-b3c9-2a6d8e1f0b47",
    "username": "alice",
    "email": "alice@example.com",
    "role": "org_admin",
    "since": "2026-11-30T10:57:00Z"
}))]
pub struct MemberView {
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    /// `member` or `org_admin`.
    #[schema(schema_with = org_role)]
    pub role: OrgRole,
    /// When the user became a member.
    pub since: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.user_id,
            username: member.username,
            email: member.email,
            role: member.role,
            since: member.since,
        }
    }
}

/// `member` or `org_admin`.
fn org_role() -> utoipa::openapi::schema::Object {
    use strum::IntoEnumIterator;
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(OrgRole::iter().map(OrgRole::as_str)))
        .build()
}

/// A new organisation. It starts enabled, without members or clients.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"slug": "acme", "name": "Acme Corp"}))]
pub struct NewOrganizationRequest {
    /// 2 to 63 lowercase letters, digits or inner dashes, not shaped like a UUID; unique.
    #[schema(
        min_length = 2,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$"
    )]
    pub slug: String,
    /// 1 to 100 characters; not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
}

/// Changes to an organisation; an absent field stays as it is. The slug cannot change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct OrganizationPatchRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: Option<String>,
    /// `false` disables the organisation and ends its members' grants for its clients;
    /// `true` enables it again (sign-in comes back, the grants do not).
    pub enabled: Option<bool>,
}

/// A member's role.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "member"}))]
pub struct MemberRoleRequest {
    #[schema(schema_with = org_role)]
    pub role: OrgRole,
}

// The OpenAPI patterns above restate the identity crate's rules; keep them in step.
const _: () = assert!(SLUG_MIN_CHARS == 2 && SLUG_MAX_CHARS == 63 && ORG_NAME_MAX_CHARS == 100);

fn problem(err: OrgAdminError) -> Problem {
    match err {
        OrgAdminError::Denied(denied) => Problem::new(ProblemKind::Forbidden, denied.to_string()),
        OrgAdminError::NotFound => {
            Problem::new(ProblemKind::NotFound, "no organisation has this id or slug")
        }
        OrgAdminError::NoSuchMember(detail) => Problem::new(ProblemKind::NotFound, detail),
        OrgAdminError::Invalid { field, message } => {
            Problem::new(ProblemKind::Validation, message).with_field(field)
        }
        OrgAdminError::SlugTaken => Problem::new(
            ProblemKind::Conflict,
            "an organisation with this slug exists already",
        )
        .with_field("slug"),
        err @ OrgAdminError::HasClients(_) => Problem::new(ProblemKind::Conflict, err.to_string()),
        OrgAdminError::Backend(err) => err.into(),
    }
}

/// The path's user id; one that is not a UUID names no user.
fn user_id(text: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(text).map_err(|_| Problem::new(ProblemKind::NotFound, "no user has this id"))
}

/// Lists every organisation by slug, with its member and client counts.
#[utoipa::path(
    get,
    path = "/api/v1/admin/organizations",
    tag = "admin",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every organisation, by slug, in one page \
            (`next_cursor` is always `null`)",
            body = inline(Page<OrganizationView>)),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "The token lacks the `admin` scope \
            (`urn:gatehouse:problem:insufficient-scope`) or its subject's roles do not permit \
            the operation (`urn:gatehouse:problem:forbidden`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn list(
    req: HttpRequest,
    token: AdminToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let organizations = state
        .app
        .admin_list_organizations(&token.actor, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    let items: Vec<OrganizationView> = organizations.into_iter().map(Into::into).collect();
    Ok(private(HttpResponse::Ok()).json(Page {
        total: i64::try_from(items.len()).unwrap_or(i64::MAX),
        items,
        next_cursor: None,
    }))
}

/// Creates an organisation (admins only).
#[utoipa::path(
    post,
    path = "/api/v1/admin/organizations",
    tag = "admin",
    security(("bearer" = ["admin"])),
    request_body = NewOrganizationRequest,
    responses(
        (status = 201, description = "The organisation, enabled, without members",
            body = OrganizationView),
        (status = 400, description = "A field breaks a rule or the body is malformed \
            (`field` names the field at fault)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 409, description = "The slug is taken (`urn:gatehouse:problem:conflict`, \
            `field`: `slug`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn create(
    req: HttpRequest,
    token: AdminToken,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body: NewOrganizationRequest = json_body(&req, payload).await?;
    let new = NewOrganization {
        slug: body.slug,
        name: body.name,
    };
    let organization = state
        .app
        .admin_create_organization(&token.actor, new, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Created()).json(OrganizationView::new(organization, 0, 0)))
}

/// One organisation, by id or slug.
#[utoipa::path(
    get,
    path = "/api/v1/admin/organizations/{id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The organisation's id or slug")),
    responses(
        (status = 200, description = "The organisation", body = OrganizationView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No organisation has this id or slug",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn show(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let summary = state
        .app
        .admin_read_organization(&token.actor, &id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(OrganizationView::from(summary)))
}

/// Renames, enables or disables an organisation (admins only).
///
/// `"enabled": false` stops its members signing in to its clients and revokes the grants they
/// hold for those clients; `"enabled": true` restores sign-in, not the grants.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/organizations/{id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The organisation's id or slug")),
    request_body = OrganizationPatchRequest,
    responses(
        (status = 200, description = "The organisation as edited", body = OrganizationView),
        (status = 400, description = "A field breaks a rule or the body is malformed (`slug` \
            cannot change; `field` names the field at fault)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No organisation has this id or slug",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn update(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body: OrganizationPatchRequest = json_body(&req, payload).await?;
    let patch = OrganizationPatch {
        name: body.name,
        enabled: body.enabled,
    };
    let updated = state
        .app
        .admin_update_organization(
            &token.actor,
            &id,
            patch,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(OrganizationView::from(updated.organization)))
}

/// Deletes an organisation with its memberships (admins only).
///
/// Refused while clients belong to it: they would silently become global.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/organizations/{id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The organisation's id or slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No organisation has this id or slug",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Clients still belong to it \
            (`urn:gatehouse:problem:conflict`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn delete(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    state
        .app
        .admin_delete_organization(&token.actor, &id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The organisation's members, by username.
#[utoipa::path(
    get,
    path = "/api/v1/admin/organizations/{id}/members",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The organisation's id or slug")),
    responses(
        (status = 200, description = "Every member, by username, in one page \
            (`next_cursor` is always `null`)",
            body = inline(Page<MemberView>)),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No organisation has this id or slug",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn members(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (_, members) = state
        .app
        .admin_organization_members(&token.actor, &id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    let items: Vec<MemberView> = members.into_iter().map(Into::into).collect();
    Ok(private(HttpResponse::Ok()).json(Page {
        total: i64::try_from(items.len()).unwrap_or(i64::MAX),
        items,
        next_cursor: None,
    }))
}

/// Makes a user a member with a role, or changes a member's role (admins only).
#[utoipa::path(
    put,
    path = "/api/v1/admin/organizations/{id}/members/{user_id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(
        ("id" = String, Path, description = "The organisation's id or slug"),
        ("user_id" = Uuid, Path, description = "The user's id"),
    ),
    request_body = MemberRoleRequest,
    responses(
        (status = 200, description = "The member's role changed", body = MemberView),
        (status = 201, description = "The user is now a member", body = MemberView),
        (status = 400, description = "The body is malformed or names an unknown role \
            (`field` says where)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No organisation has this id or slug, or no user this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, response = crate::api::openapi::TooLarge),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn set_member(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (id, user) = path.into_inner();
    let body: MemberRoleRequest = json_body(&req, payload).await?;
    let user = user_id(&user)?;
    let SetMember { member, created } = state
        .app
        .admin_set_organization_member(
            &token.actor,
            &id,
            user,
            body.role,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    let response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(private(response).json(MemberView::from(member)))
}

/// Ends a membership (admins only), and with it the user's grants for the organisation's
/// clients.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/organizations/{id}/members/{user_id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(
        ("id" = String, Path, description = "The organisation's id or slug"),
        ("user_id" = Uuid, Path, description = "The user's id"),
    ),
    responses(
        (status = 204, description = "No longer a member"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No organisation has this id or slug, or the user is not \
            a member",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn remove_member(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (id, user) = path.into_inner();
    let user = user_id(&user)?;
    state
        .app
        .admin_remove_organization_member(
            &token.actor,
            &id,
            user,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/admin/organizations", Surface::Api)
            .get(list)
            .post(create),
    )
    .service(
        resource("/api/v1/admin/organizations/{id}", Surface::Api)
            .get(show)
            .patch(update)
            .delete(delete),
    )
    .service(resource("/api/v1/admin/organizations/{id}/members", Surface::Api).get(members))
    .service(
        resource(
            "/api/v1/admin/organizations/{id}/members/{user_id}",
            Surface::Api,
        )
        .put(set_member)
        .delete(remove_member),
    );
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, create, show, update, delete, members, set_member, remove_member),
    components(schemas(
        OrganizationView,
        MemberView,
        NewOrganizationRequest,
        OrganizationPatchRequest,
        MemberRoleRequest,
    ))
)]
pub struct Doc;
