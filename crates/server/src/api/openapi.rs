//! The OpenAPI 3.1 description of the REST API, generated from the handlers' annotations and
//! served at `/api/v1/openapi.json`. `docs/openapi.json` is the committed copy; a test fails when
//! it drifts from the code (`gatehouse openapi > docs/openapi.json` regenerates it).
//!
//! Also the Swagger UI page at `/api/docs/` that renders that document: its files are compiled
//! into the binary (utoipa-swagger-ui, vendored), so it works without any network access.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
    schema::ObjectBuilder,
};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};
use utoipa_swagger_ui::Config;

use crate::problem::Problem;
use crate::routing::{Surface, resource};

/// Where the document is served (`super::routes`); the Swagger UI page loads it from here.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

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
    /// With `urn:gatehouse:problem:invalid-code` for a mailed code or link: how many more
    /// tries it takes (0: request a new one).
    pub remaining: Option<i32>,
    /// The `x-request-id` of the response, to quote in a report.
    pub request_id: String,
}

/// The security scheme of the account and admin APIs, named `bearer` in `security` requirements.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some(
            "A Gatehouse access token (RFC 9068 JWT) in the `Authorization` header (RFC 6750 \
             §2.1) with the scope the operation lists: `account` (a user's token, from the \
             authorization code flow) or `admin` (a user's token, or a service account's from \
             the client_credentials grant, whose subject holds a role that permits the \
             operation). Missing or refused: 401 with a `WWW-Authenticate: Bearer` challenge; \
             without the scope: 403 `insufficient_scope` (RFC 6750 §3.1)."
                .to_owned(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Request schemas the handlers share, built from the types the handlers parse into, so that
/// what the document admits is what the server accepts (Schemathesis checks both ways).
pub mod schemas {
    use gatehouse_identity::{AuditAction, ClientType, GrantType, Role, TokenEndpointAuthMethod};
    use strum::IntoEnumIterator;
    use utoipa::openapi::schema::{
        ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
    };

    fn one_of<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.into_iter().map(Into::into)))
            .build()
    }

    /// `one_of(values)` or `null`, for a field an absent value leaves at its default.
    fn one_of_or_null<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Object {
        let mut values: Vec<serde_json::Value> =
            values.into_iter().map(|v| v.into().into()).collect();
        values.push(serde_json::Value::Null);
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .enum_values(Some(values))
            .build()
    }

    fn list_of(items: Object) -> utoipa::openapi::schema::Array {
        ArrayBuilder::new().items(items).build()
    }

    /// What the user list filters on (`gatehouse_identity::UserStatus`).
    pub fn user_status() -> Object {
        one_of(["active", "locked", "disabled"])
    }

    /// A change of status by `PATCH /users/{id}` (a lock has its own operation).
    pub fn user_status_change_or_null() -> Object {
        one_of_or_null(["active", "disabled"])
    }

    pub fn audit_action() -> Object {
        one_of(AuditAction::iter().map(AuditAction::as_str))
    }

    pub fn audit_outcome() -> Object {
        one_of(["success", "failure"])
    }

    /// An RFC 3339 instant.
    pub fn date_time() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .build()
    }

    pub fn role() -> Object {
        one_of(Role::iter().map(Role::as_str))
    }

    pub fn roles() -> utoipa::openapi::schema::Array {
        list_of(role())
    }

    fn grant_type() -> Object {
        one_of(GrantType::ALL.iter().map(GrantType::as_str))
    }

    pub fn grant_types() -> utoipa::openapi::schema::Array {
        list_of(grant_type())
    }

    /// `grant_types` of a patch: `null` leaves them as they are.
    pub fn grant_types_or_null() -> utoipa::openapi::schema::Array {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(grant_type())
            .build()
    }

    pub fn client_type_or_null() -> Object {
        one_of_or_null([ClientType::Confidential, ClientType::Public].map(|t| t.as_str()))
    }

    pub fn token_endpoint_auth_method_or_null() -> Object {
        one_of_or_null(
            TokenEndpointAuthMethod::ALL
                .iter()
                .map(TokenEndpointAuthMethod::as_str),
        )
    }

    /// `RS256` or `ES256`: the algorithms of ID tokens and signing keys.
    pub fn signing_alg() -> Object {
        one_of(["RS256", "ES256"])
    }

    pub fn signing_alg_or_null() -> Object {
        one_of_or_null(["RS256", "ES256"])
    }

    /// A list's `limit`: read as an unsigned 32-bit number of at least 1, then capped.
    pub fn limit() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(u32::MAX))
            .examples([50])
            .build()
    }
}

/// A response whose body is a problem document, with `headers` (name, description).
fn problem_response(description: &str, headers: &[(&str, &str)]) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ProblemDocument")))
            .build(),
    );
    for (name, header_description) in headers {
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(*header_description))
                .build(),
        );
    }
    response.build().into()
}

const WWW_AUTHENTICATE: &str = "WWW-Authenticate";

/// The responses every bearer-protected or body-reading operation shares, as components.
macro_rules! problem_responses {
    ($($name:ident: $description:expr, [$(($header:expr, $header_description:expr)),*];)*) => {
        $(
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), problem_response($description, &[$(($header, $header_description)),*]))
                }
            }
        )*
    };
}

problem_responses! {
    Unauthorized: "No access token was sent (`urn:gatehouse:problem:unauthorized`, a bare \
        challenge), or the token is invalid, expired or revoked (the challenge says \
        `error=\"invalid_token\"`)",
        [(WWW_AUTHENTICATE, "`Bearer realm=\"gatehouse\", scope=\"account\"`, with `error` and \
            `error_description` when a token was sent (RFC 6750 §3)")];
    AdminUnauthorized: "No access token, or an invalid, expired or revoked one \
        (`urn:gatehouse:problem:unauthorized`)",
        [(WWW_AUTHENTICATE, "`Bearer realm=\"gatehouse\", scope=\"admin\"`, with `error` and \
            `error_description` when a token was sent (RFC 6750 §3)")];
    AdminForbidden: "No `admin` scope (`urn:gatehouse:problem:insufficient-scope`, with a \
        `WWW-Authenticate` challenge), or roles or a guard rail that do not permit it \
        (`urn:gatehouse:problem:forbidden`)", [];
    InsufficientScope: "The access token lacks the `account` scope \
        (`urn:gatehouse:problem:insufficient-scope`)",
        [(WWW_AUTHENTICATE, "`Bearer realm=\"gatehouse\", error=\"insufficient_scope\", …, \
            scope=\"account\"` (RFC 6750 §3.1)")];
    ScopeOrPassword: "The access token lacks the `account` scope \
        (`urn:gatehouse:problem:insufficient-scope`, with a `WWW-Authenticate` challenge), or \
        the password is wrong (`urn:gatehouse:problem:wrong-password`; it counts toward the \
        account's lockout)",
        [(WWW_AUTHENTICATE, "With insufficient_scope: `Bearer realm=\"gatehouse\", \
            error=\"insufficient_scope\", …, scope=\"account\"` (RFC 6750 §3.1)")];
    BadBody: "The body is not JSON or misses, mistypes or adds a field (`field` names it), or \
        the content type is not JSON", [];
    TooLarge: "The body is over 64 KiB", [];
    InternalError: "An unexpected failure; quote `request_id` when reporting it", [];
    Unavailable: "A backing service (database, session store) is unavailable; try again",
        [("Retry-After", "Seconds to wait before retrying")];
    AccountRateLimited: "Too many verification mails, code attempts or changes of address for \
        this account (`rate_limits.email_verification_per_account`; \
        `urn:gatehouse:problem:too-many-requests`)",
        [("Retry-After", "Seconds until the client may try again (RFC 9110 §10.2.3)")];
    PasswordResetRateLimited: "Too many password reset requests or completions from this client \
        address (`rate_limits.password_reset_per_ip`), for this address or for this account \
        (`rate_limits.password_reset_per_account`; `urn:gatehouse:problem:too-many-requests`)",
        [("Retry-After", "Seconds until the client may try again (RFC 9110 §10.2.3)")];
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse REST API",
        description = "Account and administration API of the Gatehouse authorization server. \
            Errors are application/problem+json (RFC 9457).",
        license(name = "Apache-2.0")
    ),
    paths(
        super::users::register,
        super::account::show,
        super::account_credentials::change_email,
        super::account_credentials::resend_verification,
        super::account_credentials::confirm_verification,
        super::account_credentials::change_password,
        super::account::list_sessions,
        super::account::end_session,
        super::account::end_other_sessions,
        super::account::begin_totp,
        super::account::confirm_totp,
        super::account::disable_totp,
        super::account::regenerate_recovery_codes,
        super::password_resets::request,
        super::password_resets::complete,
    ),
    components(
        schemas(
            super::users::RegisterRequest,
            super::users::UserView,
            super::account::AccountView,
            super::account::AccountSession,
            super::account::EndedSessions,
            super::account::TotpEnrolmentView,
            super::account::RecoveryCodesView,
            super::account::ConfirmTotpRequest,
            super::account::PasswordConfirmation,
            super::account_credentials::VerificationSent,
            super::account_credentials::ConfirmEmailRequest,
            super::account_credentials::AccountUpdate,
            super::account_credentials::PasswordChangeRequest,
            super::password_resets::PasswordResetRequest,
            super::password_resets::PasswordResetAccepted,
            super::password_resets::ResetRequestStatus,
            super::password_resets::PasswordResetCompletion,
            ProblemDocument,
        ),
        responses(
            Unauthorized,
            AdminUnauthorized,
            AdminForbidden,
            InsufficientScope,
            ScopeOrPassword,
            BadBody,
            TooLarge,
            InternalError,
            Unavailable,
            AccountRateLimited,
            PasswordResetRateLimited,
        )
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "Self-service registration"),
        (name = "account", description = "The token holder's own account: address, password, \
            sessions and second factor; every operation needs an access token with the \
            `account` scope"),
        (name = "password-resets", description = "A forgotten password: a reset link by mail, \
            then a new password with the link's token"),
    )
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::admin::document());
    doc
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

/// The Swagger UI's own files and nothing else: scripts and styles from this origin only (the UI
/// has no inline script), the spec and "Try it out" requests to this origin, and the icons its
/// stylesheet inlines as `data:` URIs. The one inline style it renders, the colours of its logo
/// (a `<style>` inside an SVG), is admitted by its hash; a Swagger UI upgrade that changes it
/// only greys the logo.
const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Swagger UI's settings, written into its `swagger-initializer.js`. `validatorUrl: none` keeps
/// it from loading a validity badge from swagger.io.
static SWAGGER_UI: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::new([DOCUMENT_PATH]).validator_url("none")));

/// `/api/docs` and the Swagger UI's files under `/api/docs/`.
pub fn docs_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/docs", Surface::Api).get(docs_home))
        .service(resource("/api/docs/{file:.*}", Surface::Api).get(docs_file));
}

/// The page's links to its files are relative, so it must be opened with the trailing slash.
async fn docs_home() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((LOCATION, "/api/docs/"))
        .finish()
}

async fn docs_file(req: HttpRequest, file: web::Path<String>) -> actix_web::Result<HttpResponse> {
    let served = utoipa_swagger_ui::serve(&file, SWAGGER_UI.clone()).map_err(|err| err.to_string());
    let file = match served {
        Ok(Some(file)) => file,
        Ok(None) => return crate::pages::not_found(req).await,
        Err(err) => return Err(Problem::internal(&err).into()),
    };
    let body = match file.bytes {
        Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
        Cow::Owned(bytes) => web::Bytes::from(bytes),
    };
    // Every text file of Swagger UI is UTF-8; saying so spares the browser a guess.
    let mut content_type = file.content_type;
    if content_type.starts_with("text/") {
        content_type.push_str("; charset=utf-8");
    }
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((CONTENT_SECURITY_POLICY, DOCS_CONTENT_SECURITY_POLICY))
        // The files change only with the binary.
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(body))
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
