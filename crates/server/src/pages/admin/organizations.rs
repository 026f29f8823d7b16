//! `/admin/organizations`: the partner organisations in the console. The list with the form
//! that creates one, and an organisation's page: rename, enable and disable, delete, its members
//! (add by username or email with a role, change a role, remove) and its clients (read only,
//! linking to their pages).
//!
//! Each handler makes one call into `gatehouse_app::admin_orgs`, as
//! `/api/v1/admin/organizations` does; the permission gate there decides who may do what
//! (admins change, auditors read). Whatever takes access away or hands out power needs a recent
//! sign-in ([`Action::Destructive`]): disabling (it ends the members' grants for the
//! organisation's clients), deleting, removing a member, and making someone `org_admin`.
//! Renaming, enabling and adding a plain member are safe. Every page works without JavaScript.
//!
//! - `GET|POST /admin/organizations`: the list; create
//! - `GET|POST /admin/organizations/{id}`: the page; rename
//! - `POST /admin/organizations/{id}/{enable,disable,delete}`
//! - `POST /admin/organizations/{id}/members`: add a member
//! - `POST /admin/organizations/{id}/members/{user_id}`: change the role;
//!   `…/{user_id}/remove`: end the membership

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::admin_orgs::{OrgAdminError, SetMember};
use gatehouse_identity::organizations::{
    Member, NewOrganization, OrgClient, OrgRole, OrganizationPatch, OrganizationSummary,
    SLUG_PATTERN,
};
use strum::IntoEnumIterator;
use uuid::Uuid;

use super::{Action, Chrome, Console, ConsoleError, Section};
use crate::app::AppState;
use crate::pages::PageError;
use crate::routing::{Surface, resource};

const ORGANIZATIONS_PATH: &str = "/admin/organizations";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(ORGANIZATIONS_PATH, Surface::Page)
            .get(list)
            .post(create),
    )
    .service(
        resource("/admin/organizations/{id}", Surface::Page)
            .get(show)
            .post(rename),
    )
    .service(resource("/admin/organizations/{id}/enable", Surface::Page).post(enable))
    .service(resource("/admin/organizations/{id}/disable", Surface::Page).post(disable))
    .service(resource("/admin/organizations/{id}/delete", Surface::Page).post(delete))
    .service(resource("/admin/organizations/{id}/members", Surface::Page).post(add_member))
    .service(resource("/admin/organizations/{id}/members/{user_id}", Surface::Page).post(set_role))
    .service(
        resource(
            "/admin/organizations/{id}/members/{user_id}/remove",
            Surface::Page,
        )
        .post(remove_member),
    );
}

/// The gate's refusal, an unknown organisation or user, a field that breaks a rule (where the
/// form is not shown again), a slug taken, an organisation that still has clients, a backend.
impl From<OrgAdminError> for ConsoleError {
    fn from(err: OrgAdminError) -> Self {
        match err {
            OrgAdminError::Denied(denied) => denied.into(),
            OrgAdminError::NotFound => ConsoleError::Page(PageError::not_found()),
            OrgAdminError::NoSuchMember(message) => ConsoleError::Page(PageError::new(
                StatusCode::NOT_FOUND,
                "No such member",
                format!("Not done: {message}."),
            )),
            OrgAdminError::Invalid { field, message } => {
                ConsoleError::Page(PageError::bad_request(format!("{field}: {message}")))
            }
            OrgAdminError::SlugTaken => ConsoleError::Page(PageError::new(
                StatusCode::CONFLICT,
                "Slug taken",
                "An organisation with this slug exists already.",
            )),
            err @ OrgAdminError::HasClients(_) => ConsoleError::Page(PageError::new(
                StatusCode::CONFLICT,
                "The organisation has clients",
                format!("Not deleted: {err}."),
            )),
            OrgAdminError::Backend(err) => err.into(),
        }
    }
}

/// A posted form as its fields (never fails to decode, so a missing field is the handler's
/// clear error rather than the extractor's).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.first(name).unwrap_or_default().trim().to_owned()
    }

    fn csrf_token(&self) -> Option<&str> {
        self.first("csrf_token")
    }

    /// The `role` field: `member` or `org_admin`.
    fn role(&self) -> Result<OrgRole, ConsoleError> {
        self.first("role")
            .and_then(|role| role.parse().ok())
            .ok_or_else(|| PageError::bad_request("Role: choose member or org_admin.").into())
    }
}

/// The console path of an organisation. Ids (UUIDs) and slugs are both lowercase letters,
/// digits and dashes, so anything else names no organisation: a 404 here, before the text goes
/// into a path or a `return_to`.
fn organization_path(id_or_slug: &str) -> Result<String, ConsoleError> {
    let well_formed = !id_or_slug.is_empty()
        && id_or_slug.len() <= 63
        && id_or_slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if well_formed {
        Ok(format!("{ORGANIZATIONS_PATH}/{id_or_slug}"))
    } else {
        Err(ConsoleError::Page(PageError::not_found()))
    }
}

/// The path's user id; one that is not a UUID names no member.
fn member_id(text: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(text).map_err(|_| ConsoleError::Page(PageError::not_found()))
}

/// A time as the console shows it.
fn shown_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An option of a `<select>`.
struct RoleOption {
    value: &'static str,
    selected: bool,
}

fn role_options(current: OrgRole) -> Vec<RoleOption> {
    OrgRole::iter()
        .map(|role| RoleOption {
            value: role.as_str(),
            selected: role == current,
        })
        .collect()
}

/// Who may use an action: making someone `org_admin` hands out power, so it needs a recent
/// sign-in; a plain membership does not.
fn membership_action(role: OrgRole, return_to: &str) -> Action<'_> {
    match role {
        OrgRole::OrgAdmin => Action::Destructive { return_to },
        OrgRole::Member => Action::Safe,
    }
}

struct OrganizationRow {
    id: String,
    slug: String,
    name: String,
    enabled: bool,
    members: i64,
    clients: i64,
}

impl From<OrganizationSummary> for OrganizationRow {
    fn from(summary: OrganizationSummary) -> Self {
        let organization = summary.organization;
        Self {
            id: organization.id.to_string(),
            slug: organization.slug,
            name: organization.name,
            enabled: organization.enabled,
            members: summary.members,
            clients: summary.clients,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/organizations.html")]
struct OrganizationsPage {
    chrome: Chrome,
    organizations: Vec<OrganizationRow>,
    slug_pattern: &'static str,
    /// The create form as typed, when it was refused.
    slug: String,
    name: String,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    console: &Console,
    status: StatusCode,
    typed: Option<(String, String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let organizations = state
        .app
        .admin_list_organizations(console.actor(), &console.ctx, state.clock.now())
        .await?;
    let (slug, name, error) = match typed {
        Some((slug, name, error)) => (slug, name, Some(error)),
        None => (String::new(), String::new(), None),
    };
    let page = OrganizationsPage {
        chrome: console.chrome(Section::Organizations),
        organizations: organizations.into_iter().map(Into::into).collect(),
        slug_pattern: SLUG_PATTERN,
        slug,
        name,
        error,
    };
    console.render(state, status, &page)
}

/// `GET /admin/organizations`.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    list_page(&state, &console, StatusCode::OK, None).await
}

/// `POST /admin/organizations`: creates one, then its page. A slug or name that breaks a rule,
/// or a slug taken, shows the list again with the form as typed.
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::for_form(&state, &req, fields.csrf_token(), Action::Safe).await?;
    let (slug, name) = (fields.text("slug"), fields.text("name"));
    let new = NewOrganization {
        slug: slug.clone(),
        name: name.clone(),
    };
    let created = state
        .app
        .admin_create_organization(console.actor(), new, &console.ctx, state.clock.now())
        .await;
    let error = match created {
        Ok(organization) => {
            return console.done(
                &state,
                &format!("{ORGANIZATIONS_PATH}/{}", organization.id),
                format!("Created {} ({}).", organization.name, organization.slug),
            );
        }
        Err(OrgAdminError::Invalid { field, message }) => format!("{}: {message}", label(field)),
        Err(OrgAdminError::SlugTaken) => {
            "Slug: an organisation with this slug exists already.".to_owned()
        }
        Err(err) => return Err(err.into()),
    };
    list_page(
        &state,
        &console,
        StatusCode::BAD_REQUEST,
        Some((slug, name, error)),
    )
    .await
}

/// How the forms label a field the application layer names.
fn label(field: &str) -> &str {
    match field {
        "slug" => "Slug",
        "name" => "Name",
        other => other,
    }
}

struct MemberRow {
    user_id: String,
    username: String,
    email: String,
    role: &'static str,
    roles: Vec<RoleOption>,
    since: String,
}

impl From<Member> for MemberRow {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.user_id.to_string(),
            username: member.username,
            email: member.email,
            role: member.role.as_str(),
            roles: role_options(member.role),
            since: shown_time(member.since),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/organization.html")]
struct OrganizationPage {
    chrome: Chrome,
    id: String,
    slug: String,
    name: String,
    enabled: bool,
    created: String,
    updated: String,
    members: Vec<MemberRow>,
    clients: Vec<OrgClient>,
    new_member_roles: Vec<RoleOption>,
    /// The rename form as typed, when it was refused.
    typed_name: Option<String>,
    error: Option<String>,
}

async fn organization_page(
    state: &AppState,
    console: &Console,
    id_or_slug: &str,
    status: StatusCode,
    refused: Option<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let now = state.clock.now();
    let (organization, members) = state
        .app
        .admin_organization_members(console.actor(), id_or_slug, &console.ctx, now)
        .await?;
    let (_, clients) = state
        .app
        .admin_organization_clients(
            console.actor(),
            &organization.id.to_string(),
            &console.ctx,
            now,
        )
        .await?;
    let (typed_name, error) = match refused {
        Some((name, error)) => (Some(name), Some(error)),
        None => (None, None),
    };
    let page = OrganizationPage {
        chrome: console.chrome(Section::Organizations),
        id: organization.id.to_string(),
        slug: organization.slug,
        name: organization.name,
        enabled: organization.enabled,
        created: shown_time(organization.created_at),
        updated: shown_time(organization.updated_at),
        members: members.into_iter().map(Into::into).collect(),
        clients,
        new_member_roles: role_options(OrgRole::Member),
        typed_name,
        error,
    };
    console.render(state, status, &page)
}

/// `GET /admin/organizations/{id}` (or the slug).
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    organization_path(&id)?;
    let console = Console::open(&state, &req).await?;
    organization_page(&state, &console, &id, StatusCode::OK, None).await
}

/// `POST /admin/organizations/{id}`: renames it. A name that breaks a rule shows the page
/// again with the name as typed.
async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let path = organization_path(&id)?;
    let console = Console::for_form(&state, &req, fields.csrf_token(), Action::Safe).await?;
    let name = fields.first("name").unwrap_or_default().to_owned();
    let patch = OrganizationPatch {
        name: Some(name.clone()),
        enabled: None,
    };
    let updated = state
        .app
        .admin_update_organization(console.actor(), &id, patch, &console.ctx, state.clock.now())
        .await;
    match updated {
        Ok(updated) => console.done(
            &state,
            &path,
            format!("Renamed to {}.", updated.organization.organization.name),
        ),
        Err(OrgAdminError::Invalid { field, message }) => {
            let error = format!("{}: {message}", label(field));
            organization_page(
                &state,
                &console,
                &id,
                StatusCode::BAD_REQUEST,
                Some((name, error)),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /admin/organizations/{id}/enable`: sign-in comes back, ended grants do not.
async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    switch(&req, &state, &id, &fields, true).await
}

/// `POST /admin/organizations/{id}/disable`: ends the members' grants for its clients.
async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    switch(&req, &state, &id, &fields, false).await
}

/// Enables or disables the organisation; disabling is destructive (it ends grants), so it
/// needs a recent sign-in.
async fn switch(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
    fields: &Fields,
    enabled: bool,
) -> Result<HttpResponse, ConsoleError> {
    let path = organization_path(id)?;
    let action = if enabled {
        Action::Safe
    } else {
        Action::Destructive { return_to: &path }
    };
    let console = Console::for_form(state, req, fields.csrf_token(), action).await?;
    let patch = OrganizationPatch {
        name: None,
        enabled: Some(enabled),
    };
    let updated = state
        .app
        .admin_update_organization(console.actor(), id, patch, &console.ctx, state.clock.now())
        .await?;
    let name = &updated.organization.organization.name;
    let notice = if enabled {
        format!("Enabled {name}: its members can sign in to its clients again.")
    } else {
        format!(
            "Disabled {name}: its members cannot sign in to its clients, and {} grant(s) they \
             held there were revoked.",
            updated.grants_revoked
        )
    };
    console.done(state, &path, notice)
}

/// `POST /admin/organizations/{id}/delete`: refused while clients belong to it.
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let path = organization_path(&id)?;
    let console = Console::for_form(
        &state,
        &req,
        fields.csrf_token(),
        Action::Destructive { return_to: &path },
    )
    .await?;
    state
        .app
        .admin_delete_organization(console.actor(), &id, &console.ctx, state.clock.now())
        .await?;
    console.done(
        &state,
        ORGANIZATIONS_PATH,
        format!("Deleted the organisation {id} and its memberships."),
    )
}

/// `POST /admin/organizations/{id}/members`: `user` (a username or an email) and `role`.
async fn add_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let path = organization_path(&id)?;
    let role = fields.role();
    let action = match &role {
        Ok(role) => membership_action(*role, &path),
        Err(_) => Action::Safe,
    };
    let console = Console::for_form(&state, &req, fields.csrf_token(), action).await?;
    let role = role?;
    let login = fields.text("user");
    if login.is_empty() {
        return Err(PageError::bad_request("User: enter a username or an email address.").into());
    }
    let SetMember { member, created } = state
        .app
        .admin_add_organization_member_by_login(
            console.actor(),
            &id,
            &login,
            role,
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    let notice = if created {
        format!("Added {} as {}.", member.username, member.role.as_str())
    } else {
        format!(
            "{} was a member already; their role is now {}.",
            member.username,
            member.role.as_str()
        )
    };
    console.done(&state, &path, notice)
}

/// `POST /admin/organizations/{id}/members/{user_id}`: the member's new `role`.
async fn set_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, user) = path.into_inner();
    let page = organization_path(&id)?;
    let user = member_id(&user)?;
    let role = fields.role();
    let action = match &role {
        Ok(role) => membership_action(*role, &page),
        Err(_) => Action::Safe,
    };
    let console = Console::for_form(&state, &req, fields.csrf_token(), action).await?;
    let role = role?;
    let SetMember { member, .. } = state
        .app
        .admin_set_organization_member(
            console.actor(),
            &id,
            user,
            role,
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    console.done(
        &state,
        &page,
        format!("{} is now {}.", member.username, member.role.as_str()),
    )
}

/// `POST /admin/organizations/{id}/members/{user_id}/remove`: also ends the user's grants for
/// the organisation's clients.
async fn remove_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    fields: web::Form<Fields>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, user) = path.into_inner();
    let page = organization_path(&id)?;
    let user = member_id(&user)?;
    let console = Console::for_form(
        &state,
        &req,
        fields.csrf_token(),
        Action::Destructive { return_to: &page },
    )
    .await?;
    state
        .app
        .admin_remove_organization_member(
            console.actor(),
            &id,
            user,
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    console.done(
        &state,
        &page,
        "Removed the member; their grants for the organisation's clients were revoked.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_paths_take_only_ids_and_slugs() {
        assert_eq!(
            organization_path("acme").ok().as_deref(),
            Some("/admin/organizations/acme")
        );
        assert!(organization_path("0b8f5c1e-6f3a-4d2b-9a51-7c0e2d9f4a10").is_ok());
        for bad in ["", "a/b", "a?b", "..", "a b", "Acme", "é"] {
            assert!(organization_path(bad).is_err(), "{bad:?}");
        }
    }
}
