//! Queries of the admin API: clients. Reading registrations with their service-account roles
//! (one page at a time, with an exact total), editing them under the same rules as a new
//! registration (`crate::clients` validation), enabling and disabling, and rotating secrets.
//!
//! Lists are ordered by `lower(name)`, then `client_id`, and paged by keyset: the cursor is the
//! last row's sort key as the database computed it, so paging never skips or repeats a row
//! whatever the backend's idea of `lower`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::clients::{
    self as registrations, Client, ClientError, ClientRow, ClientSecretHasher, GrantType,
};
use crate::db::{DbConnection, to_db, to_json_array};
use crate::error::IdentityError;
use crate::schema::{client_roles, clients};
use crate::{Database, Role};

diesel::define_sql_function! {
    /// SQL `lower`, the same name on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A client as an administrator sees it: the registration and its service account's roles.
#[derive(Debug, Clone)]
pub struct AdminClient {
    pub client: Client,
    pub roles: Vec<Role>,
}

/// Where a page of clients starts: after this sort key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientCursor {
    /// `lower(name)` as the database computed it.
    pub name_key: String,
    pub client_id: String,
}

impl ClientCursor {
    /// Opaque to API callers: base64url of the sort key.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&(&self.name_key, &self.client_id)).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// `None` for anything [`ClientCursor::encode`] did not make.
    pub fn decode(cursor: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (name_key, client_id): (String, String) = serde_json::from_slice(&bytes).ok()?;
        Some(Self {
            name_key,
            client_id,
        })
    }
}

/// One page of the client list.
#[derive(Debug, Clone)]
pub struct ClientListQuery {
    /// Rows per page (the caller caps it).
    pub limit: u32,
    pub after: Option<ClientCursor>,
    /// Matches a name prefix, case-insensitively, or a client id exactly.
    pub search: Option<String>,
    /// Only this organisation's clients (`clients.org_id`), for the page and the total alike.
    pub organization: Option<uuid::Uuid>,
}

#[derive(Debug, Clone)]
pub struct ClientPage {
    pub items: Vec<AdminClient>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<ClientCursor>,
    /// Every client matching the search, whatever the page.
    pub total: i64,
}

/// An edit of a registration; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` removes the back-channel logout URI (and with it
    /// `backchannel_logout_session_required`).
    pub backchannel_logout_uri: Option<Option<String>>,
    pub require_2fa: Option<bool>,
    pub first_party: Option<bool>,
    pub enabled: Option<bool>,
    pub resources: Option<Vec<String>>,
    pub exchange_audiences: Option<Vec<String>>,
    pub allow_impersonation: Option<bool>,
}

/// What rotating a client's secret came to.
#[derive(Debug)]
pub enum SecretRotation {
    /// The new secret in plaintext (only its hash is stored); the old one no longer works.
    Rotated(String),
    NotFound,
    /// A public client has no secret to rotate.
    PublicClient,
}

/// `LIKE` pattern for a prefix, with `\` escaping the pattern's own metacharacters.
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

type Backend = <DbConnection as diesel::Connection>::Backend;

fn filtered<'a>(
    search: Option<&str>,
    organization: Option<uuid::Uuid>,
) -> clients::BoxedQuery<'a, Backend> {
    let mut query = clients::table.into_boxed();
    if let Some(org) = organization {
        query = query.filter(clients::org_id.eq(crate::users::id_text(org)));
    }
    if let Some(search) = search.filter(|s| !s.is_empty()) {
        query = query.filter(
            lower(clients::name)
                .like(lower(prefix_pattern(search)))
                .escape('\\')
                .or(clients::client_id.eq(search.to_owned())),
        );
    }
    query
}

/// A page of clients by `lower(name)`, then `client_id`, with the exact total.
pub fn list(db: &Database, query: &ClientListQuery) -> Result<ClientPage, IdentityError> {
    db.read(|conn| {
        let search = query.search.as_deref();
        let total: i64 = filtered(search, query.organization)
            .count()
            .get_result(conn)?;
        let mut page = filtered(search, query.organization);
        if let Some(after) = &query.after {
            page = page.filter(
                lower(clients::name)
                    .gt(after.name_key.clone())
                    .or(lower(clients::name)
                        .eq(after.name_key.clone())
                        .and(clients::client_id.gt(after.client_id.clone()))),
            );
        }
        let limit = i64::from(query.limit.max(1));
        let rows: Vec<(ClientRow, String)> = page
            .select((ClientRow::as_select(), lower(clients::name)))
            .order((lower(clients::name).asc(), clients::client_id.asc()))
            .limit(limit + 1)
            .load(conn)?;
        let more = rows.len() as i64 > limit;
        let mut items = Vec::with_capacity(rows.len());
        let mut last_key = None;
        for (row, name_key) in rows.into_iter().take(limit as usize) {
            let client = Client::try_from(row)?;
            last_key = Some(ClientCursor {
                name_key,
                client_id: client.client_id.clone(),
            });
            items.push(client);
        }
        let items = with_roles(conn, items)?;
        Ok(ClientPage {
            items,
            next: if more { last_key } else { None },
            total,
        })
    })
}

/// The roles of each client's service account, in one query.
fn with_roles(
    conn: &mut DbConnection,
    clients: Vec<Client>,
) -> Result<Vec<AdminClient>, IdentityError> {
    let ids: Vec<&str> = clients.iter().map(|c| c.client_id.as_str()).collect();
    let pairs: Vec<(String, String)> = client_roles::table
        .filter(client_roles::client_id.eq_any(&ids))
        .select((client_roles::client_id, client_roles::role))
        .order((client_roles::client_id.asc(), client_roles::role.asc()))
        .load(conn)?;
    clients
        .into_iter()
        .map(|client| {
            let roles = pairs
                .iter()
                .filter(|(id, _)| *id == client.client_id)
                .map(|(_, role)| Role::parse(role))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(AdminClient { client, roles })
        })
        .collect()
}

/// One client with its roles; `None` if there is none with this id.
pub fn find(db: &Database, client_id: &str) -> Result<Option<AdminClient>, IdentityError> {
    db.read(|conn| {
        let Some(client) = registrations::find(conn, client_id)? else {
            return Ok(None);
        };
        Ok(with_roles(conn, vec![client])?.pop())
    })
}

/// Applies `patch` under the rules of a new registration, in one transaction; `None` if there
/// is no such client. Refusals name the field at fault, as at creation.
pub fn update(
    db: &Database,
    client_id: &str,
    patch: &ClientPatch,
    now: DateTime<Utc>,
) -> Result<Option<AdminClient>, ClientError> {
    // The outer result is the transaction's; a refusal is decided before anything is written.
    db.write::<_, IdentityError, _>(|conn| {
        let Some(current) = registrations::find(conn, client_id)? else {
            return Ok(Ok(None));
        };
        let revised = match registrations::revise(&current, patch, now) {
            Ok(revised) => revised,
            Err(refused) => return Ok(Err(refused)),
        };
        let grant_types: Vec<&str> = revised.grant_types.iter().map(|g| g.as_str()).collect();
        diesel::update(clients::table.find(client_id))
            .set((
                clients::name.eq(&revised.name),
                clients::redirect_uris.eq(to_json_array(&revised.redirect_uris)),
                clients::post_logout_redirect_uris
                    .eq(to_json_array(&revised.post_logout_redirect_uris)),
                clients::grant_types.eq(to_json_array(&grant_types)),
                clients::scopes.eq(to_json_array(&revised.scopes)),
                clients::backchannel_logout_uri.eq(revised.backchannel_logout_uri.as_deref()),
                clients::backchannel_logout_session_required
                    .eq(revised.backchannel_logout_session_required),
                clients::require_2fa.eq(revised.require_2fa),
                clients::first_party.eq(revised.first_party),
                clients::enabled.eq(revised.enabled),
                clients::updated_at.eq(to_db(revised.updated_at)),
                clients::resources.eq(to_json_array(&revised.resources)),
                clients::exchange_audiences.eq(to_json_array(&revised.exchange_audiences)),
                clients::allow_impersonation.eq(revised.allow_impersonation),
            ))
            .execute(conn)?;
        Ok(Ok(with_roles(conn, vec![revised])?.pop()))
    })?
}

/// Replaces a confidential client's secret: the old one stops authenticating as soon as the
/// row is written (each instance's short-lived client cache aside).
pub fn rotate_secret(
    db: &Database,
    client_id: &str,
    hasher: &ClientSecretHasher,
    now: DateTime<Utc>,
) -> Result<SecretRotation, IdentityError> {
    db.write(|conn| {
        let Some(current) = registrations::find(conn, client_id)? else {
            return Ok(SecretRotation::NotFound);
        };
        if current.is_public() {
            return Ok(SecretRotation::PublicClient);
        }
        let secret = ClientSecretHasher::generate_secret();
        diesel::update(clients::table.find(client_id))
            .set((
                clients::secret_hash.eq(hasher.hash(&secret)),
                clients::updated_at.eq(to_db(crate::db::stored(now))),
            ))
            .execute(conn)?;
        Ok(SecretRotation::Rotated(secret))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = ClientCursor {
            name_key: "my \"app\"".into(),
            client_id: "abc".into(),
        };
        assert_eq!(ClientCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(ClientCursor::decode("not base64!"), None);
        assert_eq!(ClientCursor::decode(&URL_SAFE_NO_PAD.encode("[1]")), None);
    }

    #[test]
    fn search_patterns_escape_like_metacharacters() {
        assert_eq!(prefix_pattern("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
