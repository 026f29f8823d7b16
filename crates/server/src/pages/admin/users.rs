//! `/admin/users`: the list of users (search by username or email prefix, status and role
//! filters, the exact total, paging by cursor), and, in the submodules, one user's page
//! ([`profile`]) and the forms it posts ([`actions`]).
//!
//! The list reads through `admin_list_users`, the same call as `GET /api/v1/admin/users`, so
//! the console and the API cannot disagree on what a search finds.

mod actions;
mod profile;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use gatehouse_app::admin_users::{UserCursor, UserFilter, UserSummary};
use gatehouse_identity::{Role, User, UserStatus};
use serde::Deserialize;
use strum::IntoEnumIterator as _;
use uuid::Uuid;

use super::{Chrome, Console, ConsoleError, Section};
use crate::app::AppState;
use crate::pages::PageError;
use crate::routing::{Surface, resource};

const USERS_PATH: &str = "/admin/users";
/// Users per page of the list.
const PAGE_SIZE: i64 = 50;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(USERS_PATH, Surface::Page).get(list))
        .service(resource("/admin/users/{id}", Surface::Page).get(profile::show));
    actions::routes(cfg);
}

/// The page of one user.
fn user_path(id: Uuid) -> String {
    format!("{USERS_PATH}/{id}")
}

/// The path's user id; one that is not a UUID names no user.
fn parse_user_id(raw: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(raw).map_err(|_| ConsoleError::Page(PageError::not_found()))
}

fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The status that decides a sign-in now: a lock whose time ran out no longer stops one (as
/// the dashboard counts it).
fn effective_status(user: &User, now: DateTime<Utc>) -> UserStatus {
    match user.status {
        UserStatus::Locked if user.locked_until.is_some_and(|until| until <= now) => {
            UserStatus::Active
        }
        status => status,
    }
}

/// An option of a filter's `<select>`.
struct FilterOption {
    value: &'static str,
    selected: bool,
}

struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    email_verified: bool,
    status: &'static str,
    roles: String,
    created: String,
}

impl UserRow {
    fn new(summary: UserSummary, now: DateTime<Utc>) -> Self {
        let status = effective_status(&summary.user, now).as_str();
        let user = summary.user;
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            email_verified: user.email_verified,
            status,
            roles: summary
                .roles
                .iter()
                .map(|role| role.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            created: format_time(user.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    search: String,
    statuses: Vec<FilterOption>,
    roles: Vec<FilterOption>,
    users: Vec<UserRow>,
    total: i64,
    /// The first page with the same filters, when this one continued from a cursor.
    first_url: Option<String>,
    next_url: Option<String>,
}

/// The list's query string; a value the filters do not offer is a 400 page.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    search: Option<String>,
    status: Option<String>,
    role: Option<String>,
    cursor: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn parse_status(status: &str) -> Result<UserStatus, ConsoleError> {
    status.parse().map_err(|_| {
        ConsoleError::Page(PageError::bad_request(
            "The status filter is one of active, locked or disabled.",
        ))
    })
}

fn parse_role(role: &str) -> Result<Role, ConsoleError> {
    role.parse().map_err(|_| {
        ConsoleError::Page(PageError::bad_request(
            "The role filter is one of admin, user_admin, client_admin or auditor.",
        ))
    })
}

/// The list with `filter`, from its start or after `cursor`.
fn list_url(filter: &UserFilter, cursor: Option<&UserCursor>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(search) = &filter.search {
        query.append_pair("search", search);
    }
    if let Some(status) = filter.status {
        query.append_pair("status", status.as_str());
    }
    if let Some(role) = filter.role {
        query.append_pair("role", role.as_str());
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", &cursor.encode());
    }
    let query = query.finish();
    if query.is_empty() {
        USERS_PATH.to_owned()
    } else {
        format!("{USERS_PATH}?{query}")
    }
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let query = query.into_inner();
    let filter = UserFilter {
        search: non_empty(query.search),
        status: non_empty(query.status)
            .as_deref()
            .map(parse_status)
            .transpose()?,
        organization: None,
        role: non_empty(query.role)
            .as_deref()
            .map(parse_role)
            .transpose()?,
    };
    let cursor = non_empty(query.cursor)
        .map(|cursor| {
            UserCursor::decode(&cursor).ok_or_else(|| {
                ConsoleError::Page(PageError::bad_request(
                    "This page link is not one the console made. Start again from the list.",
                ))
            })
        })
        .transpose()?;
    let continued = cursor.is_some();
    let now = state.clock.now();
    let page = state
        .app
        .admin_list_users(
            console.actor(),
            filter.clone(),
            cursor,
            PAGE_SIZE,
            &console.ctx,
            now,
        )
        .await?;
    let statuses = UserStatus::iter()
        .map(|status| FilterOption {
            value: status.as_str(),
            selected: filter.status == Some(status),
        })
        .collect();
    let roles = Role::iter()
        .map(|role| FilterOption {
            value: role.as_str(),
            selected: filter.role == Some(role),
        })
        .collect();
    let view = UsersPage {
        chrome: console.chrome(Section::Users),
        first_url: continued.then(|| list_url(&filter, None)),
        next_url: page
            .next
            .as_ref()
            .map(|cursor| list_url(&filter, Some(cursor))),
        search: filter.search.unwrap_or_default(),
        statuses,
        roles,
        users: page
            .users
            .into_iter()
            .map(|summary| UserRow::new(summary, now))
            .collect(),
        total: page.total,
    };
    console.render(&state, StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_by_their_api_names() {
        assert_eq!(parse_status("locked").ok(), Some(UserStatus::Locked));
        assert!(parse_status("Locked").is_err());
        assert!(parse_status("gone").is_err());
    }

    #[test]
    fn list_links_keep_the_filters() {
        let filter = UserFilter {
            search: Some("a&b".to_owned()),
            status: Some(UserStatus::Locked),
            role: Some(Role::UserAdmin),
            organization: None,
        };
        let cursor = UserCursor {
            key: "alice".to_owned(),
            id: Uuid::nil(),
        };
        let url = list_url(&filter, Some(&cursor));
        assert!(
            url.starts_with("/admin/users?search=a%26b&status=locked&role=user_admin&cursor="),
            "{url}"
        );
        let encoded = url.rsplit("cursor=").next().unwrap_or_default();
        assert_eq!(UserCursor::decode(encoded), Some(cursor));
        assert_eq!(list_url(&UserFilter::default(), None), "/admin/users");
    }
}
