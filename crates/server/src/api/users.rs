//! `POST /api/v1/users`: self-service registration.

use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_identity::{RegisterError, Registration, User};
use serde::{Deserialize, Serialize};

use super::read_body;
use crate::app::AppState;
use crate::browser::request_context;
use crate::problem::{Problem, ProblemKind, decode_json};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–64 characters of `[A-Za-z0-9._-]`, unique case-insensitively.
    #[schema(example = "alice")]
    pub username: String,
    /// Unique case-insensitively.
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// 12–128 characters, not among the 10,000 most common passwords.
    #[schema(example = "a long passphrase")]
    pub password: String,
}

/// A user as the API shows it: never the password hash.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// `active`, `locked` or `disabled`.
    #[schema(value_type = String, example = "active")]
    pub status: gatehouse_identity::UserStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            status: user.status,
            created_at: user.created_at,
        }
    }
}

/// Registers a user (self-service). Nothing is written when any check fails.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names the new user", body = UserView),
        (status = 400, description = "Invalid field, malformed JSON, missing field or wrong content type",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Self-service registration is disabled",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Username or email already taken (`field` says which)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    if !state.settings.registration.enabled {
        return Err(Problem::new(
            ProblemKind::Forbidden,
            "self-service registration is disabled on this server",
        ));
    }
    let body = read_body(payload).await?;
    let input: RegisterRequest = decode_json(&req, &body)?;
    let registration = Registration {
        username: input.username,
        email: input.email,
        password: input.password,
    };
    let ctx = request_context(&req);
    let user = state
        .accounts
        .register(registration, &[], &ctx, state.clock.now())
        .await
        .map_err(|err| match err {
            RegisterError::Invalid(field) => {
                Problem::new(ProblemKind::Validation, field.message).with_field(field.field)
            }
            RegisterError::Duplicate { field } => Problem::new(
                ProblemKind::Conflict,
                format!("a user with this {field} already exists"),
            )
            .with_field(field),
            RegisterError::Internal(err) => Problem::internal(&err),
        })?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/users/{}", user.id)))
        .json(UserView::from(&user)))
}
