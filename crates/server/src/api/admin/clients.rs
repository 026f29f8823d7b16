//! Admin API: clients (`/api/v1/admin/clients`). Registrations with their service accounts'
//! roles: list, register (the rules of `gatehouse client create`, the secret shown once),
//! read, edit, enable and disable, delete, rotate the secret, and replace a service account's
//! roles. Handlers extract, make one call into `gatehouse_app::admin_clients` and map the
//! result; who may do what is the permission gate's decision.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use gatehouse_app::admin_clients::{
    AdminClient, ClientAdminError, ClientCursor, ClientListQuery, ClientPatch, CreatedClient,
};
use gatehouse_identity::{ClientType, GrantType, NewClient, Role, TokenEndpointAuthMethod};
use serde::{Deserialize, Deserializer, Serialize};

use super::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use crate::api::account::{json_body, private};
use crate::api::bearer::AdminToken;
use crate::app::AppState;
use crate::browser::request_context;
use crate::problem::{Problem, ProblemKind};
use crate::routing::{Surface, resource};

/// A client as an administrator sees it. Never the secret nor its hash.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "client_id": "q3Xv7bYt2mJ0cK9wLp4sRA",
    "name": "Mail app",
    "client_type": "confidential",
    "redirect_uris": ["https://mail.example.com/callback"],
    "post_logout_redirect_uris": ["https://mail.example.com/"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scopes": ["openid", "profile", "email", "offline_access"],
    "token_endpoint_auth_method": "client_secret_basic",
    "id_token_signed_response_alg": "RS256",
    "first_party": false,
    "backchannel_logout_uri": null,
    "backchannel_logout_session_required": false,
    "require_2fa": false,
    "enabled": true,
    "roles": [],
    "org_id": null,
    "resources": [],
    "exchange_audiences": [],
    "allow_impersonation": false,
    "created_at": "2026-11-30T10:57:00Z",
    "updated_at": "2026-11-30T10:57:00Z"
}))]
pub struct AdminClientView {
    pub client_id: String,
    pub name: String,
    /// `confidential` or `public` (RFC 6749 §2.1).
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// `RS256` or `ES256`.
    pub id_token_signed_response_alg: String,
    /// Its users are not asked for consent.
    pub first_party: bool,
    /// Where logout tokens are sent (OpenID Connect Back-Channel Logout 1.0 §2.2).
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// Its users must have signed in with a second factor.
    pub require_2fa: bool,
    /// `false`: refused at `/authorize` and `/token`, its tokens inactive at introspection.
    pub enabled: bool,
    /// The roles of its service account (`client_credentials` tokens with the `admin` scope).
    pub roles: Vec<String>,
    /// The organisation it belongs to (its id); `null` for a platform client. Only members
    /// of that organisation sign in to it.
    pub org_id: Option<String>,
    /// The resource indicators (RFC 8707) it may ask tokens for.
    pub resources: Vec<String>,
    /// The audiences (client ids or resource URIs) it may ask for in a token exchange
    /// (RFC 8693).
    pub exchange_audiences: Vec<String>,
    /// A token exchange without an actor token (impersonation) is allowed.
    pub allow_impersonation: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AdminClient> for AdminClientView {
    fn from(view: AdminClient) -> Self {
        let client = view.client;
        Self {
            client_type: client.client_type.as_str().to_owned(),
            grant_types: client
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            token_endpoint_auth_method: client.token_endpoint_auth_method.as_str().to_owned(),
            roles: view.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            client_id: client.client_id,
            name: client.name,
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            scopes: client.scopes,
            id_token_signed_response_alg: client.id_token_signed_response_alg,
            first_party: client.first_party,
            backchannel_logout_uri: client.backchannel_logout_uri,
            backchannel_logout_session_required: client.backchannel_logout_session_required,
            require_2fa: client.require_2fa,
            enabled: client.enabled,
            org_id: client.org_id,
            resources: client.resources,
            exchange_audiences: client.exchange_audiences,
            allow_impersonation: client.allow_impersonation,
            created_at: client.created_at,
            updated_at: client.updated_at,
        }
    }
}

/// A client just registered: its view and, for a confidential client, its secret. The secret
/// is shown this once; only its hash is kept.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedClientView {
    #[serde(flatten)]
    pub client: AdminClientView,
    /// `null` for a public client.
    #[schema(example = "v0Rk3Y8n1HqLw5Zt7cPb2XeJ9sFu4DgA6mNo0iKyT3E")]
    pub client_secret: Option<String>,
}

/// A new secret (`POST /api/v1/admin/clients/{id}/secret`), shown this once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "client_id": "q3Xv7bYt2mJ0cK9wLp4sRA",
    "client_secret": "v0Rk3Y8n1HqLw5Zt7cPb2XeJ9sFu4DgA6mNo0iKyT3E"
}))]
pub struct ClientSecretView {
    pub client_id: String,
    pub client_secret: String,
}

/// A registration, with the fields and rules of `gatehouse client create`. Only `name` is
/// required; the rest default as there (a confidential web application using the
/// authorization code grant with refresh tokens).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Nightly sync",
    "grant_types": ["client_credentials"],
    "scopes": ["admin"],
    "roles": ["user_admin"]
}))]
pub struct NewClientRequest {
    /// 1 to 100 characters, shown on the consent page; not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
    /// `confidential` (the default) or `public`.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::schemas::client_type_or_null, example = "confidential")]
    pub client_type: Option<ClientType>,
    /// Absolute, without fragment; `http`, `https` or a reverse-domain private-use scheme.
    /// Required for the authorization code grant.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty: `authorization_code` and `refresh_token`.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::schemas::grant_types)]
    pub grant_types: Vec<GrantType>,
    /// Empty: `openid profile email offline_access`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Default: `client_secret_basic` (confidential) or `none` (public).
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::schemas::token_endpoint_auth_method_or_null)]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// `RS256` (the default) or `ES256`.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::schemas::signing_alg_or_null)]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub first_party: bool,
    /// `https` (or `http` on a loopback host), without fragment.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    #[serde(default)]
    pub require_2fa: bool,
    /// Roles of its service account; giving any needs the `admin` role.
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::schemas::roles)]
    pub roles: Vec<Role>,
    /// The organisation (slug or id) it belongs to, for good: only its members sign in to it.
    /// An organisation admin's clients always belong to its organisation.
    #[serde(default)]
    pub organization: Option<String>,
    /// Resource indicators (RFC 8707) it may ask tokens for: absolute URIs without fragment.
    #[serde(default)]
    pub resources: Vec<String>,
    /// With the token-exchange grant (confidential clients, at least one): the audiences
    /// (client ids or resource URIs) it may ask for. Platform admins only.
    #[serde(default)]
    pub exchange_audiences: Vec<String>,
    /// With the token-exchange grant: exchanging without an actor token (impersonation) is
    /// allowed. Platform admins only.
    #[serde(default)]
    pub allow_impersonation: bool,
}

/// Changes to a registration; an absent field stays as it is. Checked by the rules of a new
/// registration.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "redirect_uris": ["https://mail.example.com/callback", "https://mail.example.com/cb2"],
    "backchannel_logout_uri": null,
    "enabled": false
}))]
pub struct ClientPatchRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[schema(schema_with = crate::api::openapi::schemas::grant_types_or_null)]
    pub grant_types: Option<Vec<GrantType>>,
    pub scopes: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub backchannel_logout_uri: Option<Option<String>>,
    pub require_2fa: Option<bool>,
    pub first_party: Option<bool>,
    /// `false` disables the client, `true` enables it again.
    pub enabled: Option<bool>,
    /// Replaces its resource indicators (RFC 8707).
    pub resources: Option<Vec<String>>,
    /// Replaces its token-exchange audiences (platform admins only).
    pub exchange_audiences: Option<Vec<String>>,
    /// Allows or forbids impersonation in a token exchange (platform admins only).
    pub allow_impersonation: Option<bool>,
}

/// A field that is present, `null` included: `Some(None)` for `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The roles of a client's service account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["user_admin"]}))]
pub struct ClientRolesRequest {
    /// `admin`, `user_admin`, `client_admin`, `auditor`; empty takes every role away.
    #[schema(schema_with = crate::api::openapi::schemas::roles)]
    pub roles: Vec<Role>,
}

/// `?limit=&cursor=&search=` of the client list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientListParams {
    /// Clients per page: 1 to 200 (more is capped at 200); 50 when absent.
    #[param(schema_with = crate::api::openapi::schemas::limit)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// A prefix of the name (case-insensitive) or an exact client id.
    pub search: Option<String>,
    /// An organisation (slug or id): only its clients. An organisation admin only ever sees
    /// its organisation's clients (and names with it the one it acts in, if several).
    pub organization: Option<String>,
}

fn page_query(req: &HttpRequest) -> Result<ClientListQuery, Problem> {
    let params = web::Query::<ClientListParams>::from_query(req.query_string())
        .map_err(|err| Problem::new(ProblemKind::Validation, err.to_string()))?
        .into_inner();
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(limit) => match limit.parse::<u32>() {
            Ok(0) | Err(_) => {
                return Err(Problem::new(
                    ProblemKind::Validation,
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
                .with_field("limit"));
            }
            Ok(limit) => limit.min(MAX_LIMIT),
        },
    };
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(ClientCursor::decode(cursor).ok_or_else(|| {
            Problem::new(
                ProblemKind::Validation,
                "cursor is not one this list handed out: use next_cursor as given",
            )
            .with_field("cursor")
        })?),
    };
    Ok(ClientListQuery {
        limit,
        after,
        search: params.search.filter(|s| !s.is_empty()),
        organization: None,
    })
}

fn problem(err: ClientAdminError) -> Problem {
    match err {
        ClientAdminError::Denied(gatehouse_app::AdminDenied::OutOfScope)
        | ClientAdminError::NotFound => {
            Problem::new(ProblemKind::NotFound, "no client has this id")
        }
        ClientAdminError::Denied(denied) => {
            Problem::new(ProblemKind::Forbidden, denied.to_string())
        }
        ClientAdminError::Invalid { field, message } => {
            Problem::new(ProblemKind::Validation, message).with_field(field)
        }
        ClientAdminError::PublicClient => Problem::new(
            ProblemKind::Conflict,
            "a public client has no secret to rotate",
        ),
        ClientAdminError::Backend(err) => err.into(),
    }
}

fn context(req: &HttpRequest) -> gatehouse_identity::RequestContext {
    request_context(req)
}

/// Lists clients by name (case-insensitively), then id.
#[utoipa::path(
    get,
    path = "/api/v1/admin/clients",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(ClientListParams),
    responses(
        (status = 200, description = "A page of clients and the exact number matching `search`",
            body = inline(Page<AdminClientView>)),
        (status = 400, description = "`limit` or `cursor` is malformed (`field` names it)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
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
    let mut query = page_query(&req)?;
    query.organization = token.organization;
    let page = state
        .app
        .admin_list_clients(&token.actor, query, &context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(Page {
        items: page
            .items
            .into_iter()
            .map(AdminClientView::from)
            .collect::<Vec<_>>(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
        total: page.total,
    }))
}

/// Registers a client, as `gatehouse client create` does.
///
/// The secret of a confidential client is in this answer and nowhere else. Giving the
/// service account roles needs the `admin` role.
#[utoipa::path(
    post,
    path = "/api/v1/admin/clients",
    tag = "admin",
    security(("bearer" = ["admin"])),
    request_body = NewClientRequest,
    responses(
        (status = 201, description = "Registered; `client_secret` is shown this once",
            body = CreatedClientView),
        (status = 400, description = "The registration breaks a rule or the body is malformed \
            (`field` names the field at fault)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
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
    let body: NewClientRequest = json_body(&req, payload).await?;
    let org_id = match body.organization.filter(|name| !name.is_empty()) {
        None => None,
        Some(name) => {
            let found = state
                .accounts
                .database()
                .run(move |db| gatehouse_identity::organizations::find(db, &name))
                .await
                .map_err(Problem::from)?;
            let org = found.ok_or_else(|| {
                Problem::new(
                    ProblemKind::Validation,
                    "no organisation has this slug or id",
                )
                .with_field("organization")
            })?;
            Some(org.id.to_string())
        }
    };
    let new = NewClient {
        org_id,
        resources: body.resources,
        exchange_audiences: body.exchange_audiences,
        allow_impersonation: body.allow_impersonation,
        name: body.name,
        client_type: body.client_type,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        grant_types: body.grant_types,
        scopes: body.scopes,
        token_endpoint_auth_method: body.token_endpoint_auth_method,
        id_token_signed_response_alg: body.id_token_signed_response_alg,
        first_party: body.first_party,
        backchannel_logout_uri: body.backchannel_logout_uri,
        backchannel_logout_session_required: body.backchannel_logout_session_required,
        require_2fa: body.require_2fa,
    };
    let CreatedClient { client, secret } = state
        .app
        .admin_create_client(
            &token.actor,
            new,
            body.roles,
            &state.secrets,
            &context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Created()).json(CreatedClientView {
        client: client.into(),
        client_secret: secret,
    }))
}

/// One client.
#[utoipa::path(
    get,
    path = "/api/v1/admin/clients/{id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 200, description = "The client", body = AdminClientView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No client has this id",
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
    let client = state
        .app
        .admin_read_client(&token.actor, &id, &context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(AdminClientView::from(client)))
}

/// Edits a client.
///
/// Absent fields stay as they are; the result must pass the rules of a new registration.
/// `enabled: false` disables the client at once on this instance (within 5 s on others).
#[utoipa::path(
    patch,
    path = "/api/v1/admin/clients/{id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The client's `client_id`")),
    request_body = ClientPatchRequest,
    responses(
        (status = 200, description = "The client as edited", body = AdminClientView),
        (status = 400, description = "The edit breaks a rule or the body is malformed \
            (`field` names the field at fault)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No client has this id",
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
    let body: ClientPatchRequest = json_body(&req, payload).await?;
    let patch = ClientPatch {
        allow_impersonation: body.allow_impersonation,
        exchange_audiences: body.exchange_audiences,
        resources: body.resources,
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        grant_types: body.grant_types,
        scopes: body.scopes,
        backchannel_logout_uri: body.backchannel_logout_uri,
        require_2fa: body.require_2fa,
        first_party: body.first_party,
        enabled: body.enabled,
    };
    change(&req, &token, &id, patch, &state).await
}

async fn change(
    req: &HttpRequest,
    token: &AdminToken,
    id: &str,
    patch: ClientPatch,
    state: &AppState,
) -> Result<HttpResponse, Problem> {
    let client = state
        .app
        .admin_update_client(&token.actor, id, patch, &context(req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(AdminClientView::from(client)))
}

/// Disables a client: `PATCH` with `{"enabled": false}`.
///
/// Refused at `/authorize` (error page) and `/token` (`invalid_client`), and its tokens stop
/// passing introspection, until it is enabled again.
#[utoipa::path(
    post,
    path = "/api/v1/admin/clients/{id}/disable",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 200, description = "The client, disabled", body = AdminClientView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No client has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn disable(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let patch = ClientPatch {
        enabled: Some(false),
        ..ClientPatch::default()
    };
    change(&req, &token, &id, patch, &state).await
}

/// Enables a disabled client again: `PATCH` with `{"enabled": true}`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/clients/{id}/enable",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 200, description = "The client, enabled", body = AdminClientView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No client has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn enable(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let patch = ClientPatch {
        enabled: Some(true),
        ..ClientPatch::default()
    };
    change(&req, &token, &id, patch, &state).await
}

/// Deletes a client.
///
/// Its consents and roles go with it. Its refresh tokens stop working (the client can no
/// longer authenticate) and its tokens stop passing introspection; user access tokens it holds
/// expire on their own.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/clients/{id}",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No client has this id",
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
        .admin_delete_client(&token.actor, &id, &context(&req), state.clock.now())
        .await
        .map_err(problem)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotates a confidential client's secret.
///
/// The new secret is in this answer and nowhere else. The old one fails at `/token` with
/// `invalid_client` at once on this instance; other instances keep a copy of a client for at
/// most 5 s.
#[utoipa::path(
    post,
    path = "/api/v1/admin/clients/{id}/secret",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The client's `client_id`")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = ClientSecretView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, response = crate::api::openapi::AdminForbidden),
        (status = 404, description = "No client has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "A public client has no secret \
            (`urn:gatehouse:problem:conflict`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn rotate_secret(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let client_id = id.into_inner();
    let secret = state
        .app
        .admin_rotate_client_secret(
            &token.actor,
            &client_id,
            &state.secrets,
            &context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(ClientSecretView {
        client_id,
        client_secret: secret,
    }))
}

/// Replaces the roles of a client's service account (admins only).
#[utoipa::path(
    put,
    path = "/api/v1/admin/clients/{id}/roles",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(("id" = String, Path, description = "The client's `client_id`")),
    request_body = ClientRolesRequest,
    responses(
        (status = 200, description = "The client with its new roles", body = AdminClientView),
        (status = 400, description = "The body is malformed or names an unknown role \
            (`field` says where)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "No `admin` scope, or the subject is not an admin",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No client has this id",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn set_roles(
    req: HttpRequest,
    token: AdminToken,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let body: ClientRolesRequest = json_body(&req, payload).await?;
    let client = state
        .app
        .admin_set_client_roles(
            &token.actor,
            &id,
            body.roles,
            &context(&req),
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(private(HttpResponse::Ok()).json(AdminClientView::from(client)))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/admin/clients", Surface::Api)
            .get(list)
            .post(create),
    )
    .service(
        resource("/api/v1/admin/clients/{id}", Surface::Api)
            .get(show)
            .patch(update)
            .delete(delete),
    )
    .service(resource("/api/v1/admin/clients/{id}/secret", Surface::Api).post(rotate_secret))
    .service(resource("/api/v1/admin/clients/{id}/roles", Surface::Api).put(set_roles))
    .service(resource("/api/v1/admin/clients/{id}/disable", Surface::Api).post(disable))
    .service(resource("/api/v1/admin/clients/{id}/enable", Surface::Api).post(enable));
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list,
        create,
        show,
        update,
        delete,
        disable,
        enable,
        rotate_secret,
        set_roles
    ),
    components(schemas(
        AdminClientView,
        CreatedClientView,
        ClientSecretView,
        NewClientRequest,
        ClientPatchRequest,
        ClientRolesRequest,
    ))
)]
pub struct Doc;
