//! Admin API: the audit log (`GET /audit-events`), the signing keys (`GET /keys`,
//! `POST /keys/rotate`) and the dashboard's counts (`GET /stats`), each behind the permission
//! gate (`ReadAudit`, `ReadKeys`, `RotateKeys`, `ReadStats`); and the audit log's retention
//! job ([`spawn_retention`]).
//!
//! The audit list is newest first (by `id`, which grows with insertion order); its cursor is
//! the last `id` of the page, base64url-encoded, so a page costs one index range scan however
//! deep it is. Filters are exact (`actor`, `target`, `action`, `outcome`) or a time window
//! (`since` inclusive, `until` exclusive, RFC 3339); a value that cannot be one is a 400
//! problem naming the parameter.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use gatehouse_app::admin_audit::{
    AdminAuditError, AdminStats, AuditQuery, KeyRotation, RetentionLease, SigningKeyView,
    parse_outcome,
};
use gatehouse_app::{AdminDenied, Gatehouse};
use gatehouse_identity::admin::audit::AuditFilter;
use gatehouse_identity::{ActorKind, AuditAction, AuditEvent, AuditOutcome, RequestContext};
use gatehouse_sessions::KvStore;
use gatehouse_tokens::Algorithm;
use serde::{Deserialize, Serialize};

use super::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use crate::api::bearer::AdminToken;
use crate::app::AppState;
use crate::browser::request_context;
use crate::clock::Clock;
use crate::config::AuditSettings;
use crate::problem::{Problem, ProblemKind};
use crate::routing::{Surface, resource};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/admin/audit-events", Surface::Api).get(list_events))
        .service(resource("/api/v1/admin/keys", Surface::Api).get(list_keys))
        .service(resource("/api/v1/admin/keys/rotate", Surface::Api).post(rotate_keys))
        .service(resource("/api/v1/admin/stats", Surface::Api).get(stats));
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_events, list_keys, rotate_keys, stats),
    components(schemas(
        AuditEventView,
        ActorKindView,
        AuditOutcomeView,
        Page<AuditEventView>,
        SigningKeyItem,
        KeyRotationView,
        StatsView,
        UserCountsView,
        WindowCounts,
    )),
    tags(
        (name = "admin-audit", description = "The audit log, the signing keys and the \
            dashboard's counts; an access token with the `admin` scope whose holder's roles \
            permit the operation (audit log and keys: `admin`, `auditor`; key rotation: \
            `admin`; counts: every admin role)"),
    )
)]
pub struct Doc;

/// One audit event.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 1042,
    "occurred_at": "2026-11-30T14:02:11.532Z",
    "actor": "user:0b8e3c52-8f5e-4f7a-9d6e-2f4c1a7b9e10",
    "actor_kind": "user",
    "action": "admin.keys_rotate",
    "target": "signing_keys",
    "ip": "192.0.2.10",
    "user_agent": "curl/8.5.0",
    "outcome": "success",
    "request_id": "5f0c8e2a9d4b4c1e8a7f3b2d6e9c0a41",
    "details": {"algorithms": ["ES256", "RS256"]}
}))]
pub struct AuditEventView {
    /// Grows with insertion order.
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// Who acted: `user:ID` or `client:ID` for administrators and service accounts, a user id
    /// for a user's own actions, the typed login for sign-in attempts, `cli` for the CLI.
    pub actor: Option<String>,
    /// What kind of party `actor` is.
    pub actor_kind: ActorKindView,
    /// The stable dotted name of the action (`login.failure`, `admin.denied`…).
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcomeView,
    /// The `X-Request-Id` of the request that caused the event (as that response carried it);
    /// `null` for background jobs, the CLI and events older than this field.
    pub request_id: Option<String>,
    /// Free-form details; never a secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// `user` (an administrator as `user:ID`, or a user acting on their own account as the bare
/// id), `service_account` (`client:ID`), `system` (`bootstrap`, `cli`, a background job) or
/// `anonymous` (nobody signed in: a sign-in attempt, a sign-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKindView {
    User,
    ServiceAccount,
    System,
    Anonymous,
}

impl From<ActorKind> for ActorKindView {
    fn from(kind: ActorKind) -> Self {
        match kind {
            ActorKind::User => ActorKindView::User,
            ActorKind::ServiceAccount => ActorKindView::ServiceAccount,
            ActorKind::System => ActorKindView::System,
            ActorKind::Anonymous => ActorKindView::Anonymous,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcomeView {
    Success,
    Failure,
}

impl From<AuditEvent> for AuditEventView {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            occurred_at: event.occurred_at,
            actor: event.actor,
            actor_kind: event.actor_kind.into(),
            action: event.action,
            target: event.target,
            ip: event.ip,
            user_agent: event.user_agent,
            outcome: match event.outcome {
                AuditOutcome::Success => AuditOutcomeView::Success,
                AuditOutcome::Failure => AuditOutcomeView::Failure,
            },
            request_id: event.request_id,
            details: event.details,
        }
    }
}

/// The audit list's query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand (see `parse_query`); this struct documents them
pub struct AuditEventsParams {
    /// Only events by this actor (exact: `user:ID`, `client:ID`, `cli`, a user id, a login).
    #[param(example = "user:0b8e3c52-8f5e-4f7a-9d6e-2f4c1a7b9e10")]
    actor: Option<String>,
    /// Only events about this target (exact: a user id, a client id, an operation name…).
    target: Option<String>,
    /// Only this action (a stored name such as `login.failure`; an unknown one is a 400).
    #[param(schema_with = crate::api::openapi::schemas::audit_action, example = "login.failure")]
    action: Option<String>,
    /// `success` or `failure`.
    #[param(schema_with = crate::api::openapi::schemas::audit_outcome, example = "failure")]
    outcome: Option<String>,
    /// Events at or after this instant (RFC 3339).
    #[param(schema_with = crate::api::openapi::schemas::date_time, example = "2026-11-29T00:00:00Z")]
    since: Option<String>,
    /// Events before this instant (RFC 3339); later than `since`.
    #[param(schema_with = crate::api::openapi::schemas::date_time, example = "2026-11-30T00:00:00Z")]
    until: Option<String>,
    /// Events per page: 1 to 200 (larger values are capped at 200); 50 by default.
    #[param(schema_with = crate::api::openapi::schemas::limit, example = 50)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// An organisation (slug or id): only the events recorded in its scope. An organisation
    /// admin only ever reads its organisation's events.
    organization: Option<String>,
}

/// Longest `actor` or `target` filter; stored values are no longer than this in practice.
const MAX_FILTER_LEN: usize = 512;

fn invalid(field: &str, detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::Validation, detail).with_field(field)
}

fn instant(field: &str, value: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| {
            invalid(
                field,
                format!(
                    "`{field}` must be an RFC 3339 date-time such as 2026-11-30T12:00:00Z: {err}"
                ),
            )
        })
}

/// The page's opaque cursor: the last `id`, base64url without padding.
fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

fn decode_cursor(cursor: &str) -> Result<i64, Problem> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            invalid(
                "cursor",
                "`cursor` is not a cursor this API gave out: pass `next_cursor` as it came",
            )
        })
}

/// Parses `limit` as the list convention says: default 50, at most 200, at least 1.
pub(crate) fn parse_limit(value: Option<&str>) -> Result<u32, Problem> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<u32>() {
            Ok(0) | Err(_) => Err(invalid(
                "limit",
                format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
            )),
            Ok(n) => Ok(n.min(MAX_LIMIT)),
        },
    }
}

/// Reads the audit list's parameters; the first bad one is a 400 naming it. Unknown
/// parameters are refused too, so a typo (`acton=`) never silently lists everything.
fn parse_query(query: &str) -> Result<AuditQuery, Problem> {
    let mut filter = AuditFilter::default();
    let mut limit = None;
    let mut cursor = None;
    let mut seen = std::collections::HashSet::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if !seen.insert(name.clone().into_owned()) {
            return Err(invalid(&name, format!("`{name}` is given more than once")));
        }
        // An empty value is no filter, as an HTML form sends it.
        if value.is_empty() {
            continue;
        }
        let value = value.into_owned();
        match &*name {
            "actor" | "target" => {
                if value.chars().count() > MAX_FILTER_LEN {
                    return Err(invalid(
                        &name,
                        format!("`{name}` is longer than {MAX_FILTER_LEN} characters"),
                    ));
                }
                if name == "actor" {
                    filter.actor = Some(value);
                } else {
                    filter.target = Some(value);
                }
            }
            "action" => {
                if AuditAction::from_str(&value).is_err() {
                    return Err(invalid(
                        "action",
                        format!("`{value}` is not an audit action (e.g. login.failure)"),
                    ));
                }
                filter.action = Some(value);
            }
            "outcome" => {
                filter.outcome = Some(parse_outcome(&value).ok_or_else(|| {
                    invalid("outcome", "`outcome` must be `success` or `failure`")
                })?);
            }
            "since" => filter.since = Some(instant("since", &value)?),
            "until" => filter.until = Some(instant("until", &value)?),
            "limit" => limit = Some(value),
            // Read by the bearer extractor (`AdminToken::organization`).
            "organization" => {}
            "cursor" => cursor = Some(decode_cursor(&value)?),
            other => {
                return Err(invalid(
                    other,
                    format!(
                        "unknown parameter `{other}`: the filters are actor, target, action, \
                         outcome, since and until, with limit and cursor"
                    ),
                ));
            }
        }
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && until <= since
    {
        return Err(invalid("until", "`until` must be later than `since`"));
    }
    Ok(AuditQuery {
        filter,
        limit: parse_limit(limit.as_deref())?,
        before: cursor,
    })
}

/// Who is asking (and in which organisation), for the audit trail.
fn admin_context(req: &HttpRequest, token: &AdminToken) -> RequestContext {
    token.actor.context(&request_context(req))
}

/// How this module's failures read to an API client: a refusal of the gate is a 403 problem.
fn problem(err: AdminAuditError) -> Problem {
    match err {
        AdminAuditError::Denied(denied) => denied_problem(&denied),
        AdminAuditError::Backend(err) => Problem::from(err),
        AdminAuditError::Keys(err) => {
            if AdminAuditError::Keys(err).is_unavailable() {
                Problem::unavailable()
            } else {
                Problem::internal(&"signing key rotation failed")
            }
        }
    }
}

fn denied_problem(denied: &AdminDenied) -> Problem {
    match denied {
        AdminDenied::OutOfScope => Problem::new(ProblemKind::NotFound, "not found"),
        denied => Problem::new(ProblemKind::Forbidden, denied.to_string()),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/audit-events",
    tag = "admin-audit",
    security(("bearer" = ["admin"])),
    params(AuditEventsParams),
    responses(
        (status = 200, description = "Matching events, newest first; `total` counts every \
            matching event", body = Page<AuditEventView>),
        (status = 400, description = "A parameter is not valid (`field` names it): an unknown \
            action or outcome, a date-time that is not RFC 3339, `until` not after `since`, a \
            bad `limit` or `cursor`, an unknown parameter",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "The token lacks the `admin` scope (`insufficient_scope`), \
            or its holder's roles do not permit reading the audit log (only `admin` and \
            `auditor` do; `urn:gatehouse:problem:forbidden`)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn list_events(
    req: HttpRequest,
    token: AdminToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let mut query = parse_query(req.query_string())?;
    query.filter.org_id = token.organization;
    let ctx = admin_context(&req, &token);
    let page = state
        .app
        .admin_audit_events(&token.actor, query, &ctx, state.clock.now())
        .await
        .map_err(problem)?;
    Ok(HttpResponse::Ok().json(Page {
        next_cursor: page.next_before.map(encode_cursor),
        total: page.total,
        items: page.events.into_iter().map(AuditEventView::from).collect(),
    }))
}

/// A signing key; the private key (sealed or not) is never shown.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "kid": "Zk8q3vXl2mN1bC4dE5fG6hJ7kL8mN9pQ0rS1tU2vW3x",
    "alg": "ES256",
    "status": "active",
    "created_at": "2026-11-01T09:00:00Z",
    "activated_at": "2026-11-15T09:00:00Z",
    "published_until": null
}))]
pub struct SigningKeyItem {
    /// The key id (its RFC 7638 thumbprint), as in the JWKS and tokens' `kid`.
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// `next` (published, not signing yet), `active` (signs new tokens) or `retired`
    /// (published until `published_until`).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub published_until: Option<DateTime<Utc>>,
}

impl From<SigningKeyView> for SigningKeyItem {
    fn from(key: SigningKeyView) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg,
            status: key.status.to_owned(),
            created_at: key.created_at,
            activated_at: key.activated_at,
            published_until: key.published_until,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/keys",
    tag = "admin-audit",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every stored signing key, by algorithm, newest first",
            body = Vec<SigningKeyItem>),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "The token lacks the `admin` scope, or its holder's roles \
            do not permit reading the keys (only `admin` and `auditor` do)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn list_keys(
    req: HttpRequest,
    token: AdminToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let ctx = admin_context(&req, &token);
    let keys = state
        .app
        .admin_signing_keys(&token.actor, &ctx, state.clock.now())
        .await
        .map_err(problem)?;
    Ok(HttpResponse::Ok().json(
        keys.into_iter()
            .map(SigningKeyItem::from)
            .collect::<Vec<_>>(),
    ))
}

/// `POST /keys/rotate`'s optional query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand; this struct documents it
pub struct RotateParams {
    /// Rotate only this algorithm (`ES256` or `RS256`); both without it.
    #[param(schema_with = crate::api::openapi::schemas::signing_alg, example = "ES256")]
    alg: Option<String>,
}

/// What a rotation did.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "rotated": ["ES256", "RS256"],
    "keys": [{
        "kid": "Zk8q3vXl2mN1bC4dE5fG6hJ7kL8mN9pQ0rS1tU2vW3x", "alg": "ES256", "status": "active",
        "created_at": "2026-11-01T09:00:00Z", "activated_at": "2026-11-30T14:02:11Z",
        "published_until": null
    }],
    "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "Zk8q3vXl2mN1bC4dE5fG6hJ7kL8mN9pQ0rS1tU2vW3x",
        "use": "sig", "alg": "ES256", "x": "…", "y": "…"}]}
}))]
pub struct KeyRotationView {
    /// The algorithms rotated: each one's next key now signs, its previous active key is
    /// retired (published until every token it signed has expired) and a new next key is
    /// published.
    pub rotated: Vec<String>,
    /// Every stored signing key after the rotation.
    pub keys: Vec<SigningKeyItem>,
    /// The JWKS document (`/jwks`) as served now: public keys only.
    #[schema(value_type = Object)]
    pub jwks: serde_json::Value,
}

impl From<KeyRotation> for KeyRotationView {
    fn from(rotation: KeyRotation) -> Self {
        Self {
            rotated: rotation
                .rotated
                .iter()
                .map(|alg| alg.name().to_owned())
                .collect(),
            keys: rotation
                .keys
                .into_iter()
                .map(SigningKeyItem::from)
                .collect(),
            jwks: rotation.jwks,
        }
    }
}

fn parse_algs(query: &str) -> Result<Vec<Algorithm>, Problem> {
    let mut algs = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "alg" => algs.push(match &*value {
                "ES256" => Algorithm::ES256,
                "RS256" => Algorithm::RS256,
                _ => return Err(invalid("alg", "`alg` must be `ES256` or `RS256`")),
            }),
            // Read by the bearer extractor (`AdminToken::organization`).
            "organization" => {}
            other => {
                return Err(invalid(
                    other,
                    format!("unknown parameter `{other}`: only `alg` is accepted"),
                ));
            }
        }
    }
    algs.dedup();
    Ok(algs)
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/keys/rotate",
    tag = "admin-audit",
    security(("bearer" = ["admin"])),
    params(RotateParams),
    responses(
        (status = 200, description = "Rotated (audited as `admin.keys_rotate`); the new keys \
            and JWKS", body = KeyRotationView),
        (status = 400, description = "`alg` is neither `ES256` nor `RS256`, or an unknown \
            parameter (`field` names it)",
            body = crate::api::openapi::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "The token lacks the `admin` scope, or its holder is not \
            an `admin`", body = crate::api::openapi::ProblemDocument,
            content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn rotate_keys(
    req: HttpRequest,
    token: AdminToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let algs = parse_algs(req.query_string())?;
    let ctx = admin_context(&req, &token);
    let rotation = state
        .app
        .admin_rotate_keys(
            &token.actor,
            state.keys.clone(),
            algs,
            &ctx,
            state.clock.now(),
        )
        .await
        .map_err(problem)?;
    Ok(HttpResponse::Ok().json(KeyRotationView::from(rotation)))
}

/// Events in the last 24 hours and the last 7 days.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowCounts {
    pub last_24h: i64,
    pub last_7d: i64,
}

/// Users by status; a lock whose time ran out counts as active.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserCountsView {
    pub total: i64,
    pub active: i64,
    pub locked: i64,
    pub disabled: i64,
}

/// Counts for the dashboard. Sign-ins, failures and lockouts are read from the audit log
/// (`login.success`, `login.failure`, `account.lockout`), so they reach back no further than
/// `audit.retention_days`. Live sessions are counted by the session store's expiry index (a
/// session that expired in the last few minutes may be counted until the expiry sweep ends it).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "users": {"total": 1250, "active": 1231, "locked": 4, "disabled": 15},
    "active_sessions": 188,
    "sign_ins": {"last_24h": 312, "last_7d": 2051},
    "sign_in_failures": {"last_24h": 27, "last_7d": 140},
    "lockouts_24h": 2,
    "generated_at": "2026-11-30T14:05:00Z"
}))]
pub struct StatsView {
    pub users: UserCountsView,
    /// Live browser sessions; `null` for an organisation admin (sessions are not counted by
    /// organisation).
    pub active_sessions: Option<i64>,
    /// Completed sign-ins (every factor passed).
    pub sign_ins: WindowCounts,
    /// Refused passwords or second factors.
    pub sign_in_failures: WindowCounts,
    /// Accounts locked by too many failures in the last 24 hours.
    pub lockouts_24h: i64,
    pub generated_at: DateTime<Utc>,
}

impl StatsView {
    fn new(stats: AdminStats, now: DateTime<Utc>) -> Self {
        Self {
            users: UserCountsView {
                total: stats.users.total,
                active: stats.users.active,
                locked: stats.users.locked,
                disabled: stats.users.disabled,
            },
            active_sessions: stats.active_sessions,
            sign_ins: WindowCounts {
                last_24h: stats.sign_ins_24h,
                last_7d: stats.sign_ins_7d,
            },
            sign_in_failures: WindowCounts {
                last_24h: stats.sign_in_failures_24h,
                last_7d: stats.sign_in_failures_7d,
            },
            lockouts_24h: stats.lockouts_24h,
            generated_at: now,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stats",
    tag = "admin-audit",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Counts for the dashboard", body = StatsView),
        (status = 401, response = crate::api::openapi::AdminUnauthorized),
        (status = 403, description = "The token lacks the `admin` scope, or its holder holds no \
            admin role", body = crate::api::openapi::ProblemDocument,
            content_type = "application/problem+json"),
        (status = 500, response = crate::api::openapi::InternalError),
        (status = 503, response = crate::api::openapi::Unavailable),
    )
)]
pub async fn stats(
    req: HttpRequest,
    token: AdminToken,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let ctx = admin_context(&req, &token);
    let now = state.clock.now();
    let stats = state
        .app
        .admin_stats(&token.actor, &ctx, now)
        .await
        .map_err(problem)?;
    Ok(HttpResponse::Ok().json(StatsView::new(stats, now)))
}

/// Rows deleted per statement by the retention job.
pub const RETENTION_BATCH: usize = 1000;
/// How often each instance checks for events past the retention.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(600);
/// How long the lease outlives the last round of the instance holding it.
const RETENTION_LEASE_TTL: Duration = Duration::from_secs(120);

/// Starts the audit retention job (unless `retention_days` is 0): every
/// [`RETENTION_INTERVAL`], the instance holding the lease deletes events older than the
/// retention, [`RETENTION_BATCH`] per statement, round after round until a round comes back
/// short.
pub fn spawn_retention(
    app: Gatehouse,
    store: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    settings: &AuditSettings,
) {
    if settings.retention_days == 0 {
        tracing::info!("audit.retention_days is 0: audit events are kept forever");
        return;
    }
    let retention = chrono::Duration::days(i64::from(settings.retention_days));
    let lease = Arc::new(RetentionLease::new(store, RETENTION_LEASE_TTL));
    crate::poller::spawn_rounds(
        "audit retention",
        RETENTION_INTERVAL,
        RETENTION_BATCH,
        move || {
            let (app, lease, now) = (app.clone(), lease.clone(), clock.now());
            async move {
                app.enforce_audit_retention(&lease, retention, RETENTION_BATCH, now)
                    .await
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(query: &str) -> Option<String> {
        parse_query(query).err().and_then(|problem| problem.field)
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(field("since=yesterday").as_deref(), Some("since"));
        assert_eq!(
            field("until=2026-13-01T00:00:00Z").as_deref(),
            Some("until")
        );
        assert_eq!(field("outcome=maybe").as_deref(), Some("outcome"));
        assert_eq!(field("action=login.whatever").as_deref(), Some("action"));
        assert_eq!(field("limit=0").as_deref(), Some("limit"));
        assert_eq!(field("limit=-1").as_deref(), Some("limit"));
        assert_eq!(field("cursor=%%%").as_deref(), Some("cursor"));
        assert_eq!(field("acton=x").as_deref(), Some("acton"));
        assert_eq!(field("actor=a&actor=b").as_deref(), Some("actor"));
        assert_eq!(
            field("since=2026-11-30T00:00:00Z&until=2026-11-29T00:00:00Z").as_deref(),
            Some("until")
        );
    }

    #[test]
    fn good_parameters_fill_the_query() {
        let query = parse_query(
            "actor=user%3Ax&action=login.failure&outcome=failure&since=2026-11-29T00:00:00%2B01:00\
             &limit=1000&cursor=",
        )
        .unwrap();
        assert_eq!(query.filter.actor.as_deref(), Some("user:x"));
        assert_eq!(query.filter.action.as_deref(), Some("login.failure"));
        assert_eq!(query.filter.outcome, Some(AuditOutcome::Failure));
        assert_eq!(
            query.filter.since.unwrap().to_rfc3339(),
            "2026-11-28T23:00:00+00:00"
        );
        assert_eq!(query.limit, MAX_LIMIT);
        assert_eq!(query.before, None);
        assert_eq!(parse_query("").unwrap().limit, DEFAULT_LIMIT);
        let id = decode_cursor(&encode_cursor(4242)).unwrap();
        assert_eq!(id, 4242);
    }
}
