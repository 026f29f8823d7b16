//! Queries on `clients`, written once for both backends.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Client, ClientRow, is_plausible_client_id};
use crate::db::{DbConnection, to_db, to_json_array};
use crate::error::IdentityError;
use crate::schema::clients;

#[derive(Insertable)]
#[diesel(table_name = clients)]
struct NewClientRow<'a> {
    client_id: &'a str,
    name: &'a str,
    client_type: &'static str,
    secret_hash: Option<&'a str>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    token_endpoint_auth_method: &'static str,
    id_token_signed_response_alg: &'a str,
    first_party: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    backchannel_logout_uri: Option<&'a str>,
    backchannel_logout_session_required: bool,
    require_2fa: bool,
    enabled: bool,
    org_id: Option<&'a str>,
    resources: String,
    exchange_audiences: String,
    allow_impersonation: bool,
}

pub(crate) fn insert(conn: &mut DbConnection, client: &Client) -> QueryResult<()> {
    let grant_types: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    diesel::insert_into(clients::table)
        .values(NewClientRow {
            client_id: &client.client_id,
            name: &client.name,
            client_type: client.client_type.as_str(),
            secret_hash: client.secret_hash.as_deref(),
            redirect_uris: to_json_array(&client.redirect_uris),
            post_logout_redirect_uris: to_json_array(&client.post_logout_redirect_uris),
            grant_types: to_json_array(&grant_types),
            scopes: to_json_array(&client.scopes),
            token_endpoint_auth_method: client.token_endpoint_auth_method.as_str(),
            id_token_signed_response_alg: &client.id_token_signed_response_alg,
            first_party: client.first_party,
            created_at: to_db(client.created_at),
            updated_at: to_db(client.updated_at),
            backchannel_logout_uri: client.backchannel_logout_uri.as_deref(),
            backchannel_logout_session_required: client.backchannel_logout_session_required,
            require_2fa: client.require_2fa,
            enabled: client.enabled,
            org_id: client.org_id.as_deref(),
            resources: to_json_array(&client.resources),
            exchange_audiences: to_json_array(&client.exchange_audiences),
            allow_impersonation: client.allow_impersonation,
        })
        .execute(conn)?;
    Ok(())
}

/// An id that [`is_plausible_client_id`] refuses is not found, without a query.
pub(crate) fn find(
    conn: &mut DbConnection,
    client_id: &str,
) -> Result<Option<Client>, IdentityError> {
    if !is_plausible_client_id(client_id) {
        return Ok(None);
    }
    clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

pub(crate) fn list(conn: &mut DbConnection) -> Result<Vec<Client>, IdentityError> {
    clients::table
        .select(ClientRow::as_select())
        .order((clients::name.asc(), clients::client_id.asc()))
        .load(conn)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

/// The client's consents go with it (`ON DELETE CASCADE`).
pub(crate) fn delete(conn: &mut DbConnection, client_id: &str) -> QueryResult<bool> {
    if !is_plausible_client_id(client_id) {
        return Ok(false);
    }
    let deleted = diesel::delete(clients::table.find(client_id)).execute(conn)?;
    Ok(deleted > 0)
}

/// The roles of a client's service account (its `client_credentials` tokens), sorted.
pub(crate) fn roles_of(
    conn: &mut DbConnection,
    client_id: &str,
) -> Result<Vec<crate::Role>, IdentityError> {
    use crate::schema::client_roles;
    client_roles::table
        .filter(client_roles::client_id.eq(client_id))
        .select(client_roles::role)
        .order(client_roles::role.asc())
        .load::<String>(conn)?
        .iter()
        .map(|stored| crate::Role::parse(stored))
        .collect()
}

/// Replaces the roles of a client's service account. Run it in a write transaction.
pub(crate) fn set_roles(
    conn: &mut DbConnection,
    client_id: &str,
    roles: &[crate::Role],
) -> QueryResult<()> {
    use crate::schema::client_roles;
    diesel::delete(client_roles::table.filter(client_roles::client_id.eq(client_id)))
        .execute(conn)?;
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    for role in roles {
        diesel::insert_into(client_roles::table)
            .values((
                client_roles::client_id.eq(client_id),
                client_roles::role.eq(role.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}
