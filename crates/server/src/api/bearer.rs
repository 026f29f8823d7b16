//! Bearer-token authentication of the REST API (RFC 6750).
//!
//! - The token travels in the `Authorization` header only (RFC 6750 §2.1). The form-body method
//!   (§2.2) needs a form-encoded body, which a JSON API never has, and the query method (§2.3)
//!   leaks tokens into logs (RFC 9700 §2.4 advises against it).
//! - The token is checked as userinfo and introspection check it: one of our access tokens,
//!   valid now (RFC 9068 §4: signature by a published key, `typ` `at+jwt`, `iss`, `exp`, `aud`
//!   containing the issuer), issued under the session store's current epoch and neither revoked
//!   itself nor through its grant (RFC 7009; [`gatehouse_authz::Authz::is_revoked`]), for a user
//!   who exists and may use tokens now.
//! - Challenges (RFC 6750 §3): no token (or another scheme) is a 401 with a bare `Bearer`
//!   challenge; every reason a token is refused is the same 401 `invalid_token`, so the answer
//!   tells nothing about why; a valid token without the scope is a 403 `insufficient_scope`
//!   naming the scope (§3.1). Every challenge names the scope the resource needs (§3). The body
//!   is a problem document like every other API error.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::{FromRequest, HttpRequest, web};
use gatehouse_authz::ErrorCode;
use gatehouse_authz::error::{REALM, sanitize_description};
use gatehouse_identity::User;
use gatehouse_sessions::SessionHandle;

use crate::app::AppState;
use crate::problem::{Problem, ProblemKind};

/// The scope of the account API (`/api/v1/account`), as discovery advertises it.
pub const ACCOUNT_SCOPE: &str = "account";

/// An access token with the `account` scope, and the user it was issued to. As a handler
/// argument it authenticates the request; the handler only runs for a token that passed.
pub struct AccountToken {
    pub user: User,
    /// The browser session the token was issued in (OIDC `sid`), if any.
    pub sid: Option<SessionHandle>,
    /// When the user authenticated for the grant (OIDC `auth_time`, Unix seconds).
    pub auth_time: Option<i64>,
}

impl FromRequest for AccountToken {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| Problem::internal(&"the application state is not registered"))?;
            authenticate(state, &req, ACCOUNT_SCOPE).await
        })
    }
}

/// Authenticates the request's bearer token and requires `scope` of it, by the rule every
/// bearer-protected resource shares ([`gatehouse_authz::Authz::authenticate_bearer`]).
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    scope: &str,
) -> Result<AccountToken, Problem> {
    let token = presented_token(req).ok_or_else(|| missing_token(scope))?;
    let grant = state
        .authz
        .authenticate_bearer(token, scope, state.clock.now())
        .await
        .map_err(|err| refused(&err, scope))?;
    Ok(AccountToken {
        user: (*grant.user).clone(),
        sid: grant.claims.sid.map(SessionHandle),
        auth_time: grant.claims.auth_time,
    })
}

/// The scope of the admin API (`/api/v1/admin`).
pub const ADMIN_SCOPE: &str = "admin";

/// An access token with the `admin` scope and the actor it speaks for: a user (with their
/// roles), a user acting as `org_admin` of one organisation, or a client's service account
/// (with the roles given to it). Roles and memberships are read at each request, so a role
/// taken away stops working at once. Whether the actor may do what it asks is the permission
/// gate's decision ([`gatehouse_app::Gatehouse::admit`]), not this extractor's. Cookies are
/// never looked at: the admin API has no CSRF surface.
///
/// The `organization` query parameter (a slug or an id), on any admin request, names the
/// organisation a user without platform roles administers ([`Gatehouse::admin_identity`]):
/// needed only when the user is `org_admin` of several (a 400 problem lists them otherwise); one
/// the user does not administer is a 403. For a platform actor it narrows the lists (users,
/// clients, audit events) to that organisation; an unknown one is a 400.
///
/// [`Gatehouse::admin_identity`]: gatehouse_app::Gatehouse::admin_identity
pub struct AdminToken {
    pub actor: gatehouse_app::Actor,
    /// The organisation the lists are narrowed to: the actor's own for an organisation admin,
    /// else the one `organization` names.
    pub organization: Option<uuid::Uuid>,
}

/// The `organization` query parameter of an admin request, if given (non-empty).
fn requested_organization(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "organization")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

impl FromRequest for AdminToken {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| Problem::internal(&"the application state is not registered"))?;
            authenticate_admin(state, &req).await
        })
    }
}

async fn authenticate_admin(state: &AppState, req: &HttpRequest) -> Result<AdminToken, Problem> {
    let scope = ADMIN_SCOPE;
    let token = presented_token(req).ok_or_else(|| missing_token(scope))?;
    let subject = state
        .authz
        .authenticate_subject(token, scope, state.clock.now())
        .await
        .map_err(|err| refused(&err, scope))?;
    let db = state.accounts.database().clone();
    let requested = requested_organization(req);
    let actor = match subject {
        gatehouse_authz::BearerSubject::User(grant) => {
            let id = grant.user.id;
            let roles = db
                .run(move |db| db.roles_of(id))
                .await
                .map_err(Problem::from)?;
            match state
                .app
                .admin_identity(id, roles, requested.as_deref(), false)
                .await
                .map_err(Problem::from)?
            {
                gatehouse_app::AdminIdentity::Acting { actor, .. } => actor,
                gatehouse_app::AdminIdentity::ChooseOrganization(choices) => {
                    let slugs: Vec<&str> = choices.iter().map(|org| org.slug.as_str()).collect();
                    return Err(Problem::new(
                        ProblemKind::Validation,
                        format!(
                            "you administer several organisations: name one with \
                             `organization` ({})",
                            slugs.join(", ")
                        ),
                    )
                    .with_field("organization"));
                }
                gatehouse_app::AdminIdentity::NotOrgAdmin => {
                    return Err(Problem::new(
                        ProblemKind::Forbidden,
                        "you are not an admin of this organisation",
                    ));
                }
            }
        }
        gatehouse_authz::BearerSubject::ServiceAccount { client_id, .. } => {
            let id = client_id.clone();
            let roles = db
                .run(move |db| db.client_roles(&id))
                .await
                .map_err(Problem::from)?;
            gatehouse_app::Actor::ServiceAccount { client_id, roles }
        }
    };
    let organization = match (actor.organization(), requested) {
        (Some(org), _) => Some(org.id),
        (None, None) => None,
        (None, Some(name)) => {
            let found = db
                .run(move |db| gatehouse_identity::organizations::find(db, &name))
                .await
                .map_err(Problem::from)?;
            let Some(org) = found else {
                return Err(Problem::new(
                    ProblemKind::Validation,
                    "no organisation has this slug or id",
                )
                .with_field("organization"));
            };
            Some(org.id)
        }
    };
    Ok(AdminToken {
        actor,
        organization,
    })
}

fn refused(err: &gatehouse_authz::BearerError, scope: &str) -> Problem {
    match err.code {
        None => missing_token(scope),
        Some(ErrorCode::InsufficientScope) => insufficient_scope(scope),
        Some(ErrorCode::TemporarilyUnavailable) => Problem::unavailable(),
        Some(ErrorCode::ServerError) => Problem::internal(err),
        Some(_) => invalid_token(scope),
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive, RFC 9110
/// §11.1). `None` when there is no such header, which includes another scheme: RFC 6750 §3.1
/// answers both as a request without authentication.
fn presented_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// `Bearer realm="gatehouse", scope="…"`, with `error` and `error_description` when a token
/// was presented (RFC 6750 §3).
fn challenge(scope: &str, error: Option<(ErrorCode, &str)>) -> HeaderValue {
    let mut value = format!("Bearer realm=\"{REALM}\"");
    if let Some((code, description)) = error {
        value.push_str(&format!(
            ", error=\"{}\", error_description=\"{}\"",
            code.as_str(),
            sanitize_description(description)
        ));
    }
    // Scope tokens are %x21 / %x23-5B / %x5D-7E (RFC 6749 §3.3): safe in a quoted-string.
    value.push_str(&format!(", scope=\"{scope}\""));
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer"))
}

fn missing_token(scope: &str) -> Problem {
    Problem::new(
        ProblemKind::Unauthorized,
        format!(
            "send an access token with the `{scope}` scope in the Authorization header \
             (Bearer scheme)"
        ),
    )
    .with_challenge(challenge(scope, None))
}

/// The one answer for every refused token.
pub fn invalid_token(scope: &str) -> Problem {
    let description = "the access token is invalid, expired or revoked";
    Problem::new(ProblemKind::Unauthorized, description).with_challenge(challenge(
        scope,
        Some((ErrorCode::InvalidToken, description)),
    ))
}

fn insufficient_scope(scope: &str) -> Problem {
    let description = format!("the access token lacks the {scope} scope");
    Problem::new(ProblemKind::InsufficientScope, description.clone()).with_challenge(challenge(
        scope,
        Some((ErrorCode::InsufficientScope, &description)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>) -> HttpRequest {
        let mut req = actix_web::test::TestRequest::default();
        if let Some(value) = authorization {
            req = req.insert_header((AUTHORIZATION, value));
        }
        req.to_http_request()
    }

    #[test]
    fn only_a_non_empty_bearer_token_is_presented() {
        assert_eq!(presented_token(&request(Some("Bearer abc"))), Some("abc"));
        assert_eq!(presented_token(&request(Some("bEaReR  abc "))), Some("abc"));
        assert_eq!(presented_token(&request(Some("Basic YTpi"))), None);
        assert_eq!(presented_token(&request(Some("Bearer "))), None);
        assert_eq!(presented_token(&request(Some("Bearer"))), None);
        assert_eq!(presented_token(&request(None)), None);
    }

    #[test]
    fn challenges_follow_rfc_6750_section_3() {
        assert_eq!(
            challenge("account", None),
            "Bearer realm=\"gatehouse\", scope=\"account\""
        );
        assert_eq!(
            challenge(
                "account",
                Some((ErrorCode::InsufficientScope, "needs \"account\""))
            ),
            "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", \
             error_description=\"needs  account \", scope=\"account\""
        );
    }
}
