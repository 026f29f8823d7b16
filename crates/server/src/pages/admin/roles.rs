//! `/admin/roles`: the roles, what each one permits (read from the permission gate itself, so
//! the page cannot disagree with it), and the guard rails every role is held to.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::AdminOperation;
use gatehouse_app::admin_users::UserAdminError;
use gatehouse_identity::Role;
use strum::IntoEnumIterator;

use super::{Chrome, Console, ConsoleError, Section};
use crate::app::AppState;
use crate::pages::PageError;
use crate::routing::{Surface, resource};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin/roles", Surface::Page).get(show));
}

/// The gate's refusal, an unknown user, a field the form got wrong, a duplicate, a backend.
impl From<UserAdminError> for ConsoleError {
    fn from(err: UserAdminError) -> Self {
        match err {
            UserAdminError::Denied(denied) => denied.into(),
            UserAdminError::NotFound => ConsoleError::Page(PageError::not_found()),
            UserAdminError::Invalid { field, message } => {
                ConsoleError::Page(PageError::bad_request(format!("{field}: {message}")))
            }
            UserAdminError::Duplicate { field } => ConsoleError::Page(PageError::new(
                StatusCode::CONFLICT,
                "Already taken",
                format!("Another user already has this {field}."),
            )),
            UserAdminError::Backend(err) => err.into(),
        }
    }
}

struct RoleRow {
    id: String,
    description: String,
    operations: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "admin/roles.html")]
struct RolesPage {
    chrome: Chrome,
    roles: Vec<RoleRow>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let roles = state
        .app
        .admin_roles(console.actor(), &console.ctx, state.clock.now())
        .await?;
    let rows = roles
        .into_iter()
        .map(|info| {
            let operations = match info.id.parse::<Role>() {
                Ok(role) => AdminOperation::iter()
                    .filter(|op| op.permitted_to(&[role]))
                    .map(AdminOperation::as_str)
                    .collect(),
                Err(_) => Vec::new(),
            };
            RoleRow {
                id: info.id,
                description: info.description,
                operations,
            }
        })
        .collect();
    let page = RolesPage {
        chrome: console.chrome(Section::Roles),
        roles: rows,
    };
    console.render(&state, StatusCode::OK, &page)
}
