//! `GET /admin/clients/new` and `POST /admin/clients`: registering a client with the rules of
//! `gatehouse client create`. The answer to a successful post is the page with the secret,
//! rendered once (no redirect: the secret must not travel in a URL or a cookie); a refused
//! registration shows the form again as typed, with the reason.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::admin_clients::{ClientAdminError, CreatedClient};

use super::form::{Choice, ClientForm, FieldError, Fields};
use crate::app::AppState;
use crate::pages::admin::{Action, Chrome, Console, ConsoleError, Section};

const NEW_CLIENT_PATH: &str = "/admin/clients/new";

#[derive(Template)]
#[template(path = "admin/client_new.html")]
struct NewClientPage {
    chrome: Chrome,
    form: ClientForm,
    grants: Vec<Choice>,
    roles: Vec<Choice>,
    error: Option<String>,
}

impl NewClientPage {
    fn new(console: &Console, form: ClientForm, error: Option<String>) -> Self {
        Self {
            chrome: console.chrome(Section::Clients),
            grants: form.grant_choices(),
            roles: form.role_choices(),
            form,
            error,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/client_created.html")]
struct CreatedPage {
    chrome: Chrome,
    client_id: String,
    name: String,
    client_type: &'static str,
    grant_types: Vec<&'static str>,
    roles: Vec<&'static str>,
    /// Shown this once; `None` for a public client.
    secret: Option<String>,
}

pub(super) async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let page = NewClientPage::new(&console, ClientForm::blank(), None);
    console.render(&state, StatusCode::OK, &page)
}

pub(super) async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let form = ClientForm::from_fields(&fields);
    // Giving the service account roles is a role change, which needs a recent sign-in.
    let action = if form.roles.is_empty() {
        Action::Safe
    } else {
        Action::Destructive {
            return_to: NEW_CLIENT_PATH,
        }
    };
    let console = Console::for_form(&state, &req, fields.csrf_token(), action).await?;
    let (mut new, roles) = match form.to_new_client() {
        Ok(registration) => registration,
        Err(error) => return refused(&state, &console, form, &error),
    };
    let organization = form.organization.trim().to_owned();
    if !organization.is_empty() {
        let found = state
            .accounts
            .database()
            .run(move |db| gatehouse_identity::organizations::find(db, &organization))
            .await?;
        match found {
            Some(org) => new.org_id = Some(org.id.to_string()),
            None => {
                let error = FieldError {
                    field: "organization",
                    message: "no organisation has this slug or id".to_owned(),
                };
                return refused(&state, &console, form, &error);
            }
        }
    }
    // The registration and its roles are written in one transaction.
    let created = state
        .app
        .admin_create_client(
            console.actor(),
            new,
            roles,
            &state.secrets,
            &console.ctx,
            state.clock.now(),
        )
        .await;
    let CreatedClient { client, secret } = match created {
        Ok(created) => created,
        Err(ClientAdminError::Invalid { field, message }) => {
            return refused(&state, &console, form, &FieldError { field, message });
        }
        Err(err) => return Err(err.into()),
    };
    let page = CreatedPage {
        chrome: console.chrome(Section::Clients),
        client_type: client.client.client_type.as_str(),
        grant_types: client
            .client
            .grant_types
            .iter()
            .map(|g| g.as_str())
            .collect(),
        roles: client.roles.iter().map(|r| r.as_str()).collect(),
        client_id: client.client.client_id,
        name: client.client.name,
        secret,
    };
    console.render(&state, StatusCode::OK, &page)
}

/// The form again, as typed, with why it was refused.
fn refused(
    state: &AppState,
    console: &Console,
    form: ClientForm,
    error: &FieldError,
) -> Result<HttpResponse, ConsoleError> {
    let page = NewClientPage::new(console, form, Some(error.shown()));
    console.render(state, StatusCode::BAD_REQUEST, &page)
}
