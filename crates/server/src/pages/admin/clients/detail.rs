//! `/admin/clients/{id}`: one client's registration and the actions on it. Editing the
//! registration, enabling and disabling are safe; rotating the secret, changing the service
//! account's roles and deleting need a recent sign-in. A new secret is rendered into the answer
//! to the rotation, once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::admin_clients::{AdminClient, ClientAdminError, ClientPatch};
use gatehouse_identity::GrantType;

use super::form::{self, Choice, ClientForm, FieldError, Fields};
use super::{CLIENTS_PATH, client_path, shown_time};
use crate::app::AppState;
use crate::pages::PageError;
use crate::pages::admin::{Action, Chrome, Console, ConsoleError, Section};

/// A client as its page shows it.
struct ClientDetails {
    client_id: String,
    name: String,
    client_type: &'static str,
    confidential: bool,
    grant_types: Vec<&'static str>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    scopes: Vec<String>,
    token_endpoint_auth_method: &'static str,
    backchannel_logout_uri: Option<String>,
    first_party: bool,
    require_2fa: bool,
    enabled: bool,
    /// The id of the organisation it belongs to.
    organization: Option<String>,
    resources: Vec<String>,
    exchange_audiences: Vec<String>,
    allow_impersonation: bool,
    /// Its service account's roles.
    roles: Vec<&'static str>,
    /// It may use `client_credentials`, so it has a service account to give roles to.
    service_account: bool,
    created: String,
    updated: String,
}

impl From<&AdminClient> for ClientDetails {
    fn from(view: &AdminClient) -> Self {
        let client = &view.client;
        Self {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            client_type: client.client_type.as_str(),
            confidential: !client.is_public(),
            grant_types: client.grant_types.iter().map(|g| g.as_str()).collect(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            scopes: client.scopes.clone(),
            token_endpoint_auth_method: client.token_endpoint_auth_method.as_str(),
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            first_party: client.first_party,
            require_2fa: client.require_2fa,
            enabled: client.enabled,
            organization: client.org_id.clone(),
            resources: client.resources.clone(),
            exchange_audiences: client.exchange_audiences.clone(),
            allow_impersonation: client.allow_impersonation,
            roles: view.roles.iter().map(|r| r.as_str()).collect(),
            service_account: client.allows_grant(GrantType::ClientCredentials),
            created: shown_time(client.created_at),
            updated: shown_time(client.updated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/client.html")]
struct ClientPage {
    chrome: Chrome,
    client: ClientDetails,
    /// The edit form: the registration, or what was typed if the edit was refused.
    form: ClientForm,
    grants: Vec<Choice>,
    roles: Vec<Choice>,
    error: Option<String>,
}

impl ClientPage {
    fn new(console: &Console, view: &AdminClient, typed: Option<ClientForm>) -> Self {
        let form = typed.unwrap_or_else(|| ClientForm::of(view));
        let client = ClientDetails::from(view);
        Self {
            chrome: console.chrome(Section::Clients),
            grants: form.grant_choices(),
            roles: form::role_choices(&client.roles),
            client,
            form,
            error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/client_secret.html")]
struct SecretPage {
    chrome: Chrome,
    client_id: String,
    /// Shown this once.
    secret: String,
}

pub(super) async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    client_path(&id)?;
    let console = Console::open(&state, &req).await?;
    let client = state
        .app
        .admin_read_client(console.actor(), &id, &console.ctx, state.clock.now())
        .await?;
    let page = ClientPage::new(&console, &client, None);
    console.render(&state, StatusCode::OK, &page)
}

/// `POST /admin/clients/{id}`: the edit form.
pub(super) async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let path = client_path(&id)?;
    let console = Console::for_form(&state, &req, fields.csrf_token(), Action::Safe).await?;
    let typed = ClientForm::from_fields(&fields);
    let patch = match typed.to_patch() {
        Ok(patch) => patch,
        Err(error) => return refused(&state, &console, &id, typed, &error).await,
    };
    let updated = state
        .app
        .admin_update_client(console.actor(), &id, patch, &console.ctx, state.clock.now())
        .await;
    match updated {
        Ok(client) => console.done(&state, &path, format!("Saved {}.", client.client.name)),
        Err(ClientAdminError::Invalid { field, message }) => {
            refused(&state, &console, &id, typed, &FieldError { field, message }).await
        }
        Err(err) => Err(err.into()),
    }
}

/// The client's page again with the edit form as typed and why it was refused.
async fn refused(
    state: &AppState,
    console: &Console,
    client_id: &str,
    typed: ClientForm,
    error: &FieldError,
) -> Result<HttpResponse, ConsoleError> {
    let client = state
        .app
        .admin_read_client(console.actor(), client_id, &console.ctx, state.clock.now())
        .await?;
    let mut page = ClientPage::new(console, &client, Some(typed));
    page.error = Some(error.shown());
    console.render(state, StatusCode::BAD_REQUEST, &page)
}

/// `POST /admin/clients/{id}/secret`: a new secret, on this answer only.
pub(super) async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let path = client_path(&id)?;
    let console = Console::for_form(
        &state,
        &req,
        fields.csrf_token(),
        Action::Destructive { return_to: &path },
    )
    .await?;
    let secret = state
        .app
        .admin_rotate_client_secret(
            console.actor(),
            &id,
            &state.secrets,
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    let page = SecretPage {
        chrome: console.chrome(Section::Clients),
        client_id: id.into_inner(),
        secret,
    };
    console.render(&state, StatusCode::OK, &page)
}

pub(super) async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    switch(&req, &state, &id, &fields, true).await
}

pub(super) async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    switch(&req, &state, &id, &fields, false).await
}

async fn switch(
    req: &HttpRequest,
    state: &AppState,
    client_id: &str,
    fields: &Fields,
    enabled: bool,
) -> Result<HttpResponse, ConsoleError> {
    let path = client_path(client_id)?;
    let console = Console::for_form(state, req, fields.csrf_token(), Action::Safe).await?;
    let patch = ClientPatch {
        enabled: Some(enabled),
        ..ClientPatch::default()
    };
    let client = state
        .app
        .admin_update_client(
            console.actor(),
            client_id,
            patch,
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    let name = &client.client.name;
    let notice = if enabled {
        format!("Enabled {name}.")
    } else {
        format!(
            "Disabled {name}: it is refused at /authorize and /token, and its tokens fail \
             introspection, until it is enabled again."
        )
    };
    console.done(state, &path, notice)
}

/// `POST /admin/clients/{id}/roles`: replaces the service account's roles (checkboxes
/// `role`; none ticked takes every role away).
pub(super) async fn set_roles(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let path = client_path(&id)?;
    let console = Console::for_form(
        &state,
        &req,
        fields.csrf_token(),
        Action::Destructive { return_to: &path },
    )
    .await?;
    let roles = form::parse_roles(fields.all("role"))
        .map_err(|error| PageError::bad_request(error.shown()))?;
    let client = state
        .app
        .admin_set_client_roles(console.actor(), &id, roles, &console.ctx, state.clock.now())
        .await?;
    let held: Vec<&str> = client.roles.iter().map(|r| r.as_str()).collect();
    let notice = if held.is_empty() {
        format!(
            "{}'s service account now holds no role.",
            client.client.name
        )
    } else {
        format!(
            "{}'s service account now holds: {}.",
            client.client.name,
            held.join(", ")
        )
    };
    console.done(&state, &path, notice)
}

/// `POST /admin/clients/{id}/delete`.
pub(super) async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let path = client_path(&id)?;
    let console = Console::for_form(
        &state,
        &req,
        fields.csrf_token(),
        Action::Destructive { return_to: &path },
    )
    .await?;
    state
        .app
        .admin_delete_client(console.actor(), &id, &console.ctx, state.clock.now())
        .await?;
    console.done(
        &state,
        CLIENTS_PATH,
        format!("Deleted the client {id}, with its consents and roles."),
    )
}
