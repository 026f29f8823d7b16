//! `/admin/keys`: the signing keys (`next`, `active`, `retired`) and their rotation, as
//! `gatehouse keys rotate` and `POST /api/v1/admin/keys/rotate` do it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::admin_audit::{AdminAuditError, SigningKeyView};
use serde::Deserialize;

use super::{Action, Chrome, Console, ConsoleError, Section};
use crate::app::AppState;
use crate::pages::PageError;
use crate::routing::{Surface, resource};

const KEYS_PATH: &str = "/admin/keys";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(KEYS_PATH, Surface::Page).get(show))
        .service(resource("/admin/keys/rotate", Surface::Page).post(rotate));
}

/// The gate's refusal, a backend down, or a key that could not be made: the console's pages.
impl From<AdminAuditError> for ConsoleError {
    fn from(err: AdminAuditError) -> Self {
        match err {
            AdminAuditError::Denied(denied) => denied.into(),
            AdminAuditError::Backend(err) => err.into(),
            err if err.is_unavailable() => ConsoleError::Page(PageError::unavailable(err)),
            err => ConsoleError::Page(PageError::internal(&err)),
        }
    }
}

struct KeyRow {
    kid: String,
    alg: String,
    status: &'static str,
    created: String,
    activated: String,
    published_until: String,
}

impl From<SigningKeyView> for KeyRow {
    fn from(key: SigningKeyView) -> Self {
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or_else(
                || "—".to_owned(),
                |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
            )
        };
        Self {
            kid: key.kid,
            alg: key.alg,
            status: key.status,
            created: time(Some(key.created_at)),
            activated: time(key.activated_at),
            published_until: time(key.published_until),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let keys = state
        .app
        .admin_signing_keys(console.actor(), &console.ctx, state.clock.now())
        .await?;
    let page = KeysPage {
        chrome: console.chrome(Section::Keys),
        keys: keys.into_iter().map(KeyRow::from).collect(),
    };
    console.render(&state, StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
pub struct RotateForm {
    csrf_token: Option<String>,
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RotateForm>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::for_form(
        &state,
        &req,
        form.csrf_token.as_deref(),
        Action::Destructive {
            return_to: KEYS_PATH,
        },
    )
    .await?;
    let rotation = state
        .app
        .admin_rotate_keys(
            console.actor(),
            state.keys.clone(),
            Vec::new(),
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    let names: Vec<&str> = rotation.rotated.iter().map(|alg| alg.name()).collect();
    console.done(
        &state,
        KEYS_PATH,
        format!(
            "Rotated the signing keys ({}): the next keys now sign; the previous ones stay in \
             the JWKS until the tokens they signed expire.",
            names.join(", ")
        ),
    )
}
