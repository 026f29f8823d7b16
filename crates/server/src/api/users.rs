//! `POST /api/v1/users`: self-service registration.

use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_app::{AfterSignUp, Registered};
use gatehouse_identity::{RegisterError, Registration, User};
use serde::{Deserialize, Serialize};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::read_body;
use crate::app::{AppState, RateLimited};
use crate::browser::request_context;
use crate::problem::{Problem, ProblemKind, decode_json};

/// A sign-up. The schema states every rule the server applies, generated from the same
/// definitions (`gatehouse_identity::validation`): a request it admits is never refused as
/// invalid, only as a duplicate (409).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(schema_with = username_schema)]
    pub username: String,
    #[schema(schema_with = email_schema)]
    pub email: String,
    #[schema(schema_with = password_schema)]
    pub password: String,
}

fn string_schema(
    description: &str,
    example: &str,
    min_length: usize,
    max_length: usize,
) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([example])
        .min_length(Some(min_length))
        .max_length(Some(max_length))
}

fn username_schema() -> Object {
    string_schema(
        "3–64 characters of `A–Z a–z 0–9 . _ -`, unique case-insensitively.",
        "alice",
        gatehouse_identity::USERNAME_MIN_CHARS,
        gatehouse_identity::USERNAME_MAX_CHARS,
    )
    .pattern(Some(gatehouse_identity::USERNAME_PATTERN))
    .build()
}

pub(super) fn email_schema() -> Object {
    string_schema(
        "At most 254 characters, unique case-insensitively. The local part is a dot-atom of \
         ASCII `atext` (RFC 5322 §3.2.3) and visible non-ASCII letters, marks, digits, \
         punctuation and symbols (RFC 6531); the domain has at least two labels of ASCII \
         letters, digits and `-` or non-ASCII letters, marks and digits. No quoted strings, \
         spaces, control, format (zero-width, bidi) or other invisible characters, \
         compatibility forms (full-width, ligatures) or characters outside the Basic \
         Multilingual Plane; the pattern lists the admitted characters exactly. Checked as \
         sent, not trimmed; stored in Unicode NFC, so canonically equivalent spellings are one \
         address.",
        "alice@example.com",
        gatehouse_identity::EMAIL_MIN_CHARS,
        gatehouse_identity::EMAIL_MAX_CHARS,
    )
    .pattern(Some(gatehouse_identity::email_pattern()))
    .build()
}

/// The length rule, plus a `not` naming (in any ASCII case) the common passwords long enough to
/// pass it. utoipa has no `not`; the schema object's flattened extension map carries it.
pub(super) fn password_schema() -> Object {
    let mut not_common = Extensions::default();
    not_common.insert(
        "not".to_owned(),
        serde_json::json!({ "pattern": gatehouse_identity::common_password_pattern() }),
    );
    string_schema(
        "12–128 characters (code points), any characters; not one of the 10,000 most common \
         passwords, compared ASCII-case-insensitively (`not` lists those of allowed length).",
        "plume-atlas-47-quietly",
        gatehouse_identity::PASSWORD_MIN_CHARS,
        gatehouse_identity::PASSWORD_MAX_CHARS,
    )
    .extensions(Some(not_common))
    .build()
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
///
/// With `registration.require_verified_email` on, the answer does not reveal which addresses
/// have accounts: a sign-up with a registered address (and a free username) answers 201 exactly
/// as a new one does, with a user that was never created, and the address's owner is mailed
/// instead. A taken username is still refused (409). A new account's address gets a
/// verification mail; the new user has no session and signs in through the authorization code
/// flow.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names the new user", body = UserView,
            headers(("Location" = String, description = "`/api/v1/users/{id}` of the new user"))),
        (status = 400, description = "A field breaks a rule of the schema (`field` names it), \
            the body is not JSON or misses, mistypes or adds a field, or the content type is \
            not JSON",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Self-service registration is disabled",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Username or email already taken (`field` says which); \
            with `registration.require_verified_email` on, only a taken username",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this client address \
            (`rate_limits.registration_per_ip`); try again after `Retry-After` seconds",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the client may try again \
                (RFC 9110 §10.2.3)"))),
        (status = 500, description = "An unexpected failure; quote `request_id` when reporting it",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "A backing service (database) is unavailable; try again",
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
    // Counted before the body is read, so that no refused request costs a password hash.
    let ctx = request_context(&req);
    if let Some(retry_after) = state
        .rate_limits
        .check(
            RateLimited::Registration,
            ctx.ip.as_deref(),
            state.clock.now(),
        )
        .await
    {
        return Err(Problem::too_many_requests(retry_after));
    }
    let body = read_body(payload).await?;
    let input: RegisterRequest = decode_json(&req, &body)?;
    let registration = Registration {
        username: input.username,
        email: input.email,
        password: input.password,
    };
    let Registered { user, .. } = state
        .app
        .register(
            registration,
            AfterSignUp::NoSession,
            &ctx,
            state.clock.now(),
        )
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
            RegisterError::Internal(err) => Problem::from(err),
        })?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/users/{}", user.id)))
        .json(UserView::from(&user)))
}
