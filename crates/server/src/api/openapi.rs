//! The OpenAPI 3.1 description of the REST API, generated from the handlers' annotations and
//! served at `/api/v1/openapi.json`. `docs/openapi.json` is the committed copy; a test fails when
//! it drifts from the code (`gatehouse openapi > docs/openapi.json` regenerates it).

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
    schema::ObjectBuilder,
};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

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

/// The security scheme of the account API, named `bearer` in `security` requirements.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some(
            "A Gatehouse access token (RFC 9068 JWT) in the `Authorization` header (RFC 6750 \
             §2.1), obtained through the authorization code flow with the scope the operation \
             lists (`account`). Missing or refused: 401 with a `WWW-Authenticate: Bearer` \
             challenge; without the scope: 403 `insufficient_scope` (RFC 6750 §3.1)."
                .to_owned(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
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
