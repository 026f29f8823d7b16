//! Admin API: users (`/api/v1/admin/users`, `/api/v1/admin/roles`).
//!
//! Handlers extract (the [`AdminToken`]'s actor, the path id, the query or JSON body), make one
//! call into the application layer ([`gatehouse_app::admin_users`]), where the permission gate
//! decides, and map the result: a refusal of the gate is a 403 problem, an unknown id a 404
//! problem, a bad field a 400 problem naming it. Responses carry `Cache-Control: no-store`.

use std::str::FromStr;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use chrono::{DateTime, Utc};
use gatehouse_app::SessionView;
use gatehouse_app::admin_users::{
    AdminUserGrant, NewUser, RoleInfo, UserAdminError, UserCursor, UserEdit, UserFilter,
    UserRemoval, UserSummary,
};
use gatehouse_identity::{Role, UserStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use crate::api::bearer::AdminToken;
use crate::app::AppState;
use crate::browser::request_context;
use crate::problem::{Problem, ProblemKind, decode_json};
use crate::routing::{Surface, resource};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/admin/users", Surface::Api)
            .get(list)
            .post(create),
    )
    .service(
        resource("/api/v1/admin/users/{id}", Surface::Api)
            .get(show)
            .patch(update)
            .delete(delete),
    )
    .service(resource("/api/v1/admin/users/{id}/lock", Surface::Api).post(lock))
    .service(resource("/api/v1/admin/users/{id}/unlock", Surface::Api).post(unlock))
    .service(resource("/api/v1/admin/users/{id}/roles", Surface::Api).put(set_roles))
    .service(resource("/api/v1/admin/users/{id}/totp", Surface::Api).delete(reset_totp))
    .service(
        resource("/api/v1/admin/users/{id}/password-reset", Surface::Api).post(send_password_reset),
    )
    .service(
        resource("/api/v1/admin/users/{id}/sessions", Surface::Api)
            .get(sessions)
            .delete(end_sessions),
    )
    .service(resource("/api/v1/admin/users/{id}/grants", Surface::Api).get(grants))
    .service(
        resource("/api/v1/admin/users/{id}/grants/{grant_id}", Surface::Api).delete(revoke_grant),
    )
    .service(resource("/api/v1/admin/roles", Surface::Api).get(roles));
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list,
        create,
        show,
        update,
        delete,
        lock,
        unlock,
        set_roles,
        reset_totp,
        send_password_reset,
        sessions,
        end_sessions,
        grants,
        revoke_grant,
        roles,
    ),
    components(schemas(
        AdminUserView,
        Page<AdminUserView>,
        CreateUserRequest,
        UpdateUserRequest,
        LockRequest,
        RolesBody,
        RoleView,
        SecondFactorReset,
        AdminSessionView,
        EndedUserSessions,
        GrantView,
        MembershipRemoved,
    )),
    tags((name = "admin-users", description = "Administration of users: list and search, \
        create, edit, lock, roles, second factor, password reset, sessions and grants. Needs an \
        access token with the `admin` scope whose user or service account holds `admin`, \
        `user_admin` (not on accounts holding `admin`) or, for reads, `auditor`; or an \
        organisation's `org_admin`, for that organisation's members only (anyone else is a 404; \
        no role changes)"))
)]
pub struct Doc;

/// A user as administrators see it: never the password hash.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0b8e3c52-8f5e-4f7a-9d6e-2f4c1a7b9e10",
    "username": "alice",
    "email": "alice@example.com",
    "email_verified": true,
    "status": "locked",
    "locked_until": null,
    "roles": ["user_admin"],
    "created_at": "2026-11-30T10:57:00Z",
    "totp_enabled": false
}))]
pub struct AdminUserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// `active`, `locked` or `disabled`.
    #[schema(value_type = String, example = "active")]
    pub status: UserStatus,
    /// When a lock ends; `null` with status `locked` is a lock until unlocked.
    pub locked_until: Option<DateTime<Utc>>,
    /// Sorted by name.
    #[schema(value_type = Vec<String>, example = json!(["user_admin"]))]
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
    /// Whether sign-in asks for a TOTP code.
    pub totp_enabled: bool,
}

impl From<UserSummary> for AdminUserView {
    fn from(summary: UserSummary) -> Self {
        let user = summary.user;
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            email_verified: user.email_verified,
            status: user.status,
            locked_until: user.locked_until,
            roles: summary.roles,
            created_at: user.created_at,
            totp_enabled: summary.totp_enabled,
        }
    }
}

/// The username rule of sign-up (`gatehouse_identity::validation`).
fn username_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "3–64 characters of `A–Z a–z 0–9 . _ -`, unique case-insensitively.",
        ))
        .examples(["bob"])
        .min_length(Some(gatehouse_identity::USERNAME_MIN_CHARS))
        .max_length(Some(gatehouse_identity::USERNAME_MAX_CHARS))
        .pattern(Some(gatehouse_identity::USERNAME_PATTERN))
        .build()
}

/// A user an administrator creates: the sign-up rules apply (see `POST /api/v1/users`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "username": "bob",
    "email": "bob@example.com",
    "password": "plume-atlas-47-quietly",
    "roles": ["auditor"],
    "email_verified": true
}))]
pub struct CreateUserRequest {
    #[schema(schema_with = username_schema)]
    pub username: String,
    #[schema(schema_with = crate::api::users::email_schema)]
    pub email: String,
    #[schema(schema_with = crate::api::users::password_schema)]
    pub password: String,
    /// Roles to give (`admin`, `user_admin`, `client_admin`, `auditor`); only an admin gives
    /// `admin`. None by default.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::schemas::roles)]
    pub roles: Vec<Role>,
    /// Create the address as verified (no verification mail). Otherwise the user is mailed a
    /// verification link, as at sign-up.
    #[serde(default)]
    pub email_verified: bool,
}

/// `crate::api::users::email_schema`, or `null` for no change.
fn email_or_null() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let mut schema = crate::api::users::email_schema();
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// What to change; a field left out (or `null`) stays as it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email_verified": true, "status": "disabled"}))]
pub struct UpdateUserRequest {
    /// A new address (the sign-up rules); unverified unless `email_verified` is true.
    #[schema(schema_with = email_or_null)]
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// `active` (also lifts a lock and clears the failure counter) or `disabled` (ends every
    /// session and grant of the user). Lock with `POST /users/{id}/lock`.
    #[schema(schema_with = crate::api::openapi::schemas::user_status_change_or_null, example = "disabled")]
    pub status: Option<String>,
}

/// A lock: why, and until when.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "suspected account takeover", "until": "2026-12-07T00:00:00Z"}))]
pub struct LockRequest {
    /// 1–500 characters, at least one of them not white space; kept in the audit trail. (The
    /// pattern names U+0085 besides `\s`: JSON Schema's `\s` is ECMAScript's, which leaves it
    /// out, while the server, like Unicode, counts it as white space.)
    #[schema(min_length = 1, max_length = 500, pattern = "[^\\s\\u0085]")]
    pub reason: String,
    /// When the lock ends (in the future); without it, the lock lasts until unlocked.
    pub until: Option<DateTime<Utc>>,
}

/// A user's roles.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["user_admin", "auditor"]}))]
pub struct RolesBody {
    /// `admin`, `user_admin`, `client_admin` or `auditor`; the answer lists them sorted by name.
    #[schema(schema_with = crate::api::openapi::schemas::roles)]
    pub roles: Vec<Role>,
}

/// A role.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "auditor", "description": "Reads everything, including the audit log; changes nothing"}))]
pub struct RoleView {
    pub id: String,
    pub description: String,
}

impl From<RoleInfo> for RoleView {
    fn from(role: RoleInfo) -> Self {
        Self {
            id: role.id,
            description: role.description,
        }
    }
}

/// The answer to a second-factor reset.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"removed": true}))]
pub struct SecondFactorReset {
    /// Whether the user had a second factor (TOTP or a pending enrolment) to remove.
    pub removed: bool,
}

/// One live browser session of the user.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "5f2b0c8e4d1a7b3c9e6f0a2d4b8c1e3f5a7d9b0c2e4f6a8b1d3c5e7f9a0b2c4d",
    "created_at": "2026-11-30T10:57:00Z",
    "last_seen_at": "2026-11-30T11:20:00Z",
    "ip": "192.0.2.10",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "amr": ["pwd"],
    "clients": ["mail-app"]
}))]
pub struct AdminSessionView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<String>,
    pub clients: Vec<String>,
}

fn unix_time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl From<SessionView> for AdminSessionView {
    fn from(view: SessionView) -> Self {
        let created_at = unix_time(view.session.created_at);
        Self {
            id: view.handle.0,
            created_at,
            last_seen_at: view.session.last_seen_at.map_or(created_at, unix_time),
            ip: view.session.ip,
            user_agent: view.session.user_agent,
            amr: view.session.amr,
            clients: view.clients,
        }
    }
}

/// The answer when deleting a user removed only a membership: an organisation admin deleted a
/// user who also belongs to another organisation.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "deleted": false,
    "removed_from_organization": "acme",
    "detail": "the user also belongs to another organisation: only the membership in acme was removed"
}))]
pub struct MembershipRemoved {
    /// Always `false`: the account still exists.
    pub deleted: bool,
    /// The organisation (slug) the user no longer belongs to.
    pub removed_from_organization: String,
    pub detail: String,
}

/// How many sessions ended.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"count": 2}))]
pub struct EndedUserSessions {
    pub count: usize,
}

/// One live grant of the user: an authorization (a code flow) whose refresh token still works.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "grant_id": "q3xv0Zb6n5m1cJYzA8pT2g",
    "client_id": "mail-app",
    "client_name": "Mail",
    "offline": true,
    "issued_at": "2026-11-30T10:57:00Z"
}))]
pub struct GrantView {
    /// The grant's opaque id, for `DELETE …/grants/{grant_id}`; neither a code nor a token.
    pub grant_id: String,
    pub client_id: String,
    /// The client's registered name; absent once the client is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// The grant carries `offline_access`: it outlives the session it was issued in.
    pub offline: bool,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

impl From<AdminUserGrant> for GrantView {
    fn from(grant: AdminUserGrant) -> Self {
        Self {
            grant_id: grant.grant_id,
            client_id: grant.client_id,
            client_name: grant.client_name,
            offline: grant.offline,
            issued_at: unix_time(grant.issued_at),
        }
    }
}

/// Query parameters of the list; each is checked here so that a bad one is a 400 naming it.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// A prefix of the username or of the email, any case (`ali` finds `Alice` and
    /// `alison@example.com`, not `kali`).
    search: Option<String>,
    /// `active`, `locked` or `disabled`.
    #[param(schema_with = crate::api::openapi::schemas::user_status)]
    status: Option<String>,
    /// Users holding this role.
    #[param(schema_with = crate::api::openapi::schemas::role)]
    role: Option<String>,
    /// Items per page: 50 by default, at most 200 (a larger value is capped).
    #[param(schema_with = crate::api::openapi::schemas::limit)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// An organisation (slug or id): only its members. For a user who is `org_admin` of
    /// several organisations and holds no platform role, it names the one acted in (on every
    /// admin request); an organisation admin only ever sees its organisation's members.
    #[expect(
        dead_code,
        reason = "read by the bearer extractor; here it documents the parameter"
    )]
    organization: Option<String>,
}

fn private(mut response: HttpResponseBuilder) -> HttpResponseBuilder {
    response.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    response
}

fn invalid(field: &str, detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::Validation, detail).with_field(field)
}

fn not_found() -> Problem {
    Problem::new(ProblemKind::NotFound, "no user has this id")
}

/// The application layer's answer as a problem.
fn problem(err: UserAdminError) -> Problem {
    match err {
        UserAdminError::Denied(gatehouse_app::AdminDenied::OutOfScope)
        | UserAdminError::NotFound => not_found(),
        UserAdminError::Denied(denied) => Problem::new(ProblemKind::Forbidden, denied.to_string()),
        UserAdminError::Invalid { field, message } => invalid(field, message),
        UserAdminError::Duplicate { field } => Problem::new(
            ProblemKind::Conflict,
            format!("a user with this {field} already exists"),
        )
        .with_field(field),
        UserAdminError::Backend(err) => err.into(),
    }
}

/// The path's user id; one that is not a UUID names no user.
fn user_id(path: &web::Path<String>) -> Result<Uuid, Problem> {
    Uuid::parse_str(path.as_str()).map_err(|_| not_found())
}

async fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, Problem> {
    let body = crate::api::read_body(payload).await?;
    decode_json(req, &body)
}

fn parse_list_params(query: &str) -> Result<(UserFilter, Option<UserCursor>, i64), Problem> {
    let params = web::Query::<ListParams>::from_query(query)
        .map_err(|err| {
            Problem::new(
                ProblemKind::Validation,
                format!("the query string is malformed: {err}"),
            )
        })?
        .into_inner();
    let status = params
        .status
        .filter(|s| !s.is_empty())
        .map(|status| {
            UserStatus::from_str(&status)
                .map_err(|_| invalid("status", "status is one of active, locked, disabled"))
        })
        .transpose()?;
    let role = params
        .role
        .filter(|s| !s.is_empty())
        .map(|role| {
            Role::from_str(&role).map_err(|_| {
                invalid(
                    "role",
                    "role is one of admin, user_admin, client_admin, auditor",
                )
            })
        })
        .transpose()?;
    let limit = match params.limit.filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(limit) => match limit.parse::<u32>() {
            Ok(limit) if limit >= 1 => limit.min(MAX_LIMIT),
            _ => {
                return Err(invalid(
                    "limit",
                    "limit is a whole number from 1 (at most 200 are returned)",
                ));
            }
        },
    };
    let cursor = params
        .cursor
        .filter(|s| !s.is_empty())
        .map(|cursor| {
            UserCursor::decode(&cursor).ok_or_else(|| {
                invalid(
                    "cursor",
                    "the cursor is not one this API returned (next_cursor)",
                )
            })
        })
        .transpose()?;
    let filter = UserFilter {
        search: params.search.filter(|s| !s.is_empty()),
        status,
        role,
        organization: None,
    };
    Ok((filter, cursor, i64::from(limit)))
}

/// Lists users by username (case-insensitively), then id, with the exact total.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of users matching every filter; `total` counts \
            all pages", body = Page<AdminUserView>),
        (status = 400, description = "A bad `status`, `role`, `limit` or `cursor` (`field` \
            names it)", body = crate::api::openapi::ProblemDocument,
            content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "The token lacks the `admin` scope (`insufficient_scope`), \
            or its user or service account holds no role permitting this \
            (`urn:gatehouse:problem:forbidden`)", body = crate::api::openapi::ProblemDocument,
            content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn list(
    req: HttpRequest,
    token: AdminToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (mut filter, cursor, limit) = parse_list_params(req.query_string())?;
    filter.organization = token.organization;
    let page = state
        .app
        .admin_list_users(
            &token.actor,
            filter,
            cursor,
            limit,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(Page {
        items: page.users.into_iter().map(AdminUserView::from).collect(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
        total: page.total,
    }))
}

/// Creates a user under the sign-up rules, optionally with roles and a verified address.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    request_body(content = CreateUserRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names the new user",
            body = AdminUserView,
            headers(("Location" = String, description = "`/api/v1/admin/users/{id}`"))),
        (status = 400, description = "A field breaks a rule (`field` names it), or the body is \
            not JSON or misses, mistypes or adds a field",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or roles the \
            actor may not give (only an admin gives `admin`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The username or email is taken (`field` says which)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
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
    let input: CreateUserRequest = json_body(&req, payload).await?;
    let new = NewUser {
        username: input.username,
        email: input.email,
        password: input.password,
        roles: input.roles,
        email_verified: input.email_verified,
    };
    let user = state
        .app
        .admin_create_user(&token.actor, new, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Created())
        .insert_header(("Location", format!("/api/v1/admin/users/{}", user.user.id)))
        .json(AdminUserView::from(user)))
}

/// One user.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{id}",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = AdminUserView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, or no role permitting this",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn show(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let user = state
        .app
        .admin_user(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(AdminUserView::from(user)))
}

/// Changes the address, its verification or the status (`active`/`disabled`).
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{id}",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body(content = UpdateUserRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The user after the change", body = AdminUserView),
        (status = 400, description = "A field breaks a rule (`field` names it), or the body is \
            malformed",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a guard \
            rail (disabling oneself or the last admin; a `user_admin` changing an admin)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Another user has this email",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn update(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let input: UpdateUserRequest = json_body(&req, payload).await?;
    let status = input
        .status
        .map(|status| match status.as_str() {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            _ => Err(invalid(
                "status",
                "status is active or disabled (lock with POST /api/v1/admin/users/{id}/lock)",
            )),
        })
        .transpose()?;
    let edit = UserEdit {
        email: input.email,
        email_verified: input.email_verified,
        status,
    };
    let user = state
        .app
        .admin_update_user(
            &token.actor,
            id,
            edit,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(AdminUserView::from(user)))
}

/// Deletes the user: sessions and grants end, credentials, roles and consents go; the audit
/// trail keeps the username.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 200, description = "Not deleted: an organisation admin asked, and the user \
            also belongs to another organisation, so only the membership in the organisation \
            acted in was removed", body = MembershipRemoved),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a guard \
            rail (oneself, the last admin, a `user_admin` deleting an admin)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn delete(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let removal = state
        .app
        .admin_delete_user(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(match removal {
        UserRemoval::Deleted => HttpResponse::NoContent().finish(),
        UserRemoval::LeftOrganization { organization } => {
            private(HttpResponse::Ok()).json(MembershipRemoved {
                deleted: false,
                detail: format!(
                    "the user also belongs to another organisation: only the membership in \
                     {organization} was removed"
                ),
                removed_from_organization: organization,
            })
        }
    })
}

/// Locks the account (until `until`, or until unlocked) and ends every session and grant of
/// the user.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/lock",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body(content = LockRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The locked user", body = AdminUserView),
        (status = 400, description = "No reason, a lock ending in the past, or a malformed body",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a guard \
            rail (oneself, the last admin, a `user_admin` locking an admin)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn lock(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let input: LockRequest = json_body(&req, payload).await?;
    let user = state
        .app
        .admin_lock_user(
            &token.actor,
            id,
            input.reason,
            input.until,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(AdminUserView::from(user)))
}

/// Lifts a lock and clears the failure counter.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/unlock",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, unlocked", body = AdminUserView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a \
            `user_admin` unlocking an admin",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn unlock(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let user = state
        .app
        .admin_unlock_user(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(AdminUserView::from(user)))
}

/// Replaces the user's roles.
#[utoipa::path(
    put,
    path = "/api/v1/admin/users/{id}/roles",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body(content = RolesBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user's roles now, sorted by name", body = RolesBody),
        (status = 400, description = "An unknown role (`field` names it) or a malformed body",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a guard \
            rail (raising one's own roles, demoting the last admin, a `user_admin` giving or \
            taking `admin`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn set_roles(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let input: RolesBody = json_body(&req, payload).await?;
    let roles = state
        .app
        .admin_set_user_roles(
            &token.actor,
            id,
            input.roles,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(RolesBody { roles }))
}

/// Removes the user's second factor (TOTP and recovery codes) and ends every session and grant.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/totp",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Done; `removed` says whether there was one",
            body = SecondFactorReset),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a \
            `user_admin` acting on an admin",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn reset_totp(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let removed = state
        .app
        .admin_reset_second_factor(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(SecondFactorReset { removed }))
}

/// Mails the user a password reset link (a disabled account gets none).
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/password-reset",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 202, description = "The mail is queued"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a \
            `user_admin` acting on an admin",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn send_password_reset(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    state
        .app
        .admin_send_password_reset(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(HttpResponse::Accepted().finish())
}

/// The user's live browser sessions, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{id}/sessions",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Every live session", body = Vec<AdminSessionView>),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, or no role permitting this",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn sessions(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let sessions = state
        .app
        .admin_user_sessions(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(
        sessions
            .into_iter()
            .map(AdminSessionView::from)
            .collect::<Vec<_>>(),
    ))
}

/// Ends every session and grant of the user (offline grants included).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/sessions",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "How many sessions ended", body = EndedUserSessions),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a \
            `user_admin` acting on an admin",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn end_sessions(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let count = state
        .app
        .admin_end_user_sessions(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(EndedUserSessions { count }))
}

/// The user's live grants: each authorization whose refresh token still works, offline or
/// tied to a session.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{id}/grants",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Newest first", body = Vec<GrantView>),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, or no role permitting this",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn grants(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let id = user_id(&path)?;
    let grants = state
        .app
        .admin_user_grants(&token.actor, id, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok())
        .json(grants.into_iter().map(GrantView::from).collect::<Vec<_>>()))
}

/// Revokes one grant of the user: its refresh token answers `invalid_grant` and its access
/// tokens stop passing introspection and userinfo. The client is sent a back-channel logout
/// naming the user; the user's consent and other grants stay.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/grants/{grant_id}",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("grant_id" = String, Path, description = "The grant, as `GET …/grants` lists it"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, no role permitting this, or a \
            `user_admin` acting on an admin",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No user has this id, or the user holds no live grant with \
            this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn revoke_grant(
    req: HttpRequest,
    token: AdminToken,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (id, grant_id) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let revoked = state
        .app
        .admin_revoke_user_grant(
            &token.actor,
            id,
            &grant_id,
            &request_context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    if !revoked {
        return Err(Problem::new(
            ProblemKind::NotFound,
            "the user holds no live grant with this id",
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Every role with its description.
#[utoipa::path(
    get,
    path = "/api/v1/admin/roles",
    tag = "admin-users",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every role, by id", body = Vec<RoleView>),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, or no role at all",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn roles(
    req: HttpRequest,
    token: AdminToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let roles = state
        .app
        .admin_roles(&token.actor, &request_context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(roles.into_iter().map(RoleView::from).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_checked_and_the_limit_capped() {
        let (filter, cursor, limit) = parse_list_params("").unwrap();
        assert_eq!(filter, UserFilter::default());
        assert!(cursor.is_none());
        assert_eq!(limit, 50);
        let (filter, _, limit) =
            parse_list_params("search=Ab&status=locked&role=auditor&limit=1000").unwrap();
        assert_eq!(filter.search.as_deref(), Some("Ab"));
        assert_eq!(filter.status, Some(UserStatus::Locked));
        assert_eq!(filter.role, Some(Role::Auditor));
        assert_eq!(limit, 200);
        for (query, field) in [
            ("status=gone", "status"),
            ("role=root", "role"),
            ("limit=0", "limit"),
            ("limit=ten", "limit"),
            ("cursor=%%%", "cursor"),
        ] {
            match parse_list_params(query) {
                Err(problem) if problem.field.as_deref() == Some(field) => {}
                Err(problem) if field == "cursor" => {
                    // A malformed escape fails as a query-string error instead.
                    assert_eq!(problem.kind, ProblemKind::Validation, "{query}");
                }
                other => panic!("{query}: {:?}", other.map(|_| ())),
            }
        }
        assert_eq!(
            parse_list_params("cursor=bm90LWEtY3Vyc29y")
                .unwrap_err()
                .field
                .as_deref(),
            Some("cursor")
        );
    }
}
