//! `GET /admin/clients`: the clients by name, a search (a name prefix or an exact client id),
//! the exact total and keyset paging, as `GET /api/v1/admin/clients` offers them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::admin_clients::{AdminClient, ClientCursor, ClientListQuery};
use serde::Deserialize;

use super::CLIENTS_PATH;
use crate::api::admin::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::app::AppState;
use crate::pages::PageError;
use crate::pages::admin::{Chrome, Console, ConsoleError, Section};

/// `?search=&cursor=&limit=`.
#[derive(Debug, Deserialize)]
pub(super) struct ListParams {
    search: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

struct ClientRow {
    client_id: String,
    name: String,
    client_type: &'static str,
    grant_types: Vec<&'static str>,
    enabled: bool,
    roles: Vec<&'static str>,
}

impl From<AdminClient> for ClientRow {
    fn from(view: AdminClient) -> Self {
        let client = view.client;
        Self {
            client_type: client.client_type.as_str(),
            grant_types: client.grant_types.iter().map(|g| g.as_str()).collect(),
            enabled: client.enabled,
            roles: view.roles.iter().map(|r| r.as_str()).collect(),
            client_id: client.client_id,
            name: client.name,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ClientsPage {
    chrome: Chrome,
    search: String,
    total: i64,
    clients: Vec<ClientRow>,
    /// The next page's link, with the same search.
    next: Option<String>,
}

fn list_query(params: &ListParams) -> Result<ClientListQuery, ConsoleError> {
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(limit) => match limit.parse::<u32>() {
            Ok(0) | Err(_) => {
                return Err(PageError::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
                .into());
            }
            Ok(limit) => limit.min(MAX_LIMIT),
        },
    };
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(ClientCursor::decode(cursor).ok_or_else(|| {
            PageError::bad_request("This page link is broken: go back to the first page.")
        })?),
    };
    Ok(ClientListQuery {
        limit,
        after,
        search: search_of(params),
        organization: None,
    })
}

fn search_of(params: &ListParams) -> Option<String> {
    params
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn next_link(params: &ListParams, limit: u32, cursor: &ClientCursor) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(search) = search_of(params) {
        query.append_pair("search", &search);
    }
    if limit != DEFAULT_LIMIT {
        query.append_pair("limit", &limit.to_string());
    }
    query.append_pair("cursor", &cursor.encode());
    format!("{CLIENTS_PATH}?{}", query.finish())
}

pub(super) async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let query = list_query(&params)?;
    let limit = query.limit;
    let page = state
        .app
        .admin_list_clients(console.actor(), query, &console.ctx, state.clock.now())
        .await?;
    let page = ClientsPage {
        chrome: console.chrome(Section::Clients),
        search: search_of(&params).unwrap_or_default(),
        total: page.total,
        next: page.next.as_ref().map(|c| next_link(&params, limit, c)),
        clients: page.items.into_iter().map(ClientRow::from).collect(),
    };
    console.render(&state, StatusCode::OK, &page)
}
