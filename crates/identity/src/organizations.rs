//! Organisations ("vendors"): partner organisations with their own members, clients and
//! admins. A user may belong to several, each membership with one [`OrgRole`]; a client belongs
//! to at most one (`clients.org_id`). Who may manage what is the application layer's gate; this
//! module only stores and reads.
//!
//! An organisation is named by its id (a UUID) or its slug: lowercase letters, digits and inner
//! dashes, 2 to 63 characters, never shaped like a UUID, so the two can never be confused where
//! either is accepted (the `organization` authorization parameter, the CLI).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::{Database, DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::{clients, organization_members, organizations, users};
use crate::users::{id_text, parse_id};

pub const SLUG_MIN_CHARS: usize = 2;
pub const SLUG_MAX_CHARS: usize = 63;
pub const ORG_NAME_MAX_CHARS: usize = 100;
/// The slug rule as a JSON Schema / HTML `pattern` (the UUID exclusion is checked apart).
pub const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Organization {
    pub id: uuid::Uuid,
    pub slug: String,
    pub name: String,
    /// `false`: its members cannot sign in to its clients.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A member's role in one organisation.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrgRole {
    Member,
    /// Manages the organisation's users, clients and audit trail, and nothing outside it.
    OrgAdmin,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A user's membership, as a member list shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub user_id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub role: OrgRole,
    pub since: DateTime<Utc>,
}

/// One of a user's organisations, with the user's role in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Membership {
    pub organization: Organization,
    pub role: OrgRole,
}

/// A new organisation.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub slug: String,
    pub name: String,
}

/// An edit; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("an organisation with this slug exists already")]
    SlugTaken,
    /// Deleting an organisation that still has clients (they would become global).
    #[error("the organisation still has {0} client(s); delete or move them first")]
    HasClients(i64),
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

impl From<DieselError> for OrgError {
    fn from(err: DieselError) -> Self {
        OrgError::Internal(err.into())
    }
}

/// Whether `slug` passes the slug rule (see the module docs).
pub fn validate_slug(slug: &str) -> Result<(), String> {
    let length = slug.chars().count();
    let shaped = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !(SLUG_MIN_CHARS..=SLUG_MAX_CHARS).contains(&length) || !shaped {
        return Err(format!(
            "must be {SLUG_MIN_CHARS} to {SLUG_MAX_CHARS} lowercase letters, digits or inner dashes"
        ));
    }
    if uuid::Uuid::parse_str(slug).is_ok() {
        return Err("must not look like an organisation id (a UUID)".to_owned());
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<(), OrgError> {
    let length = name.chars().count();
    if name.trim().is_empty() || length > ORG_NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(OrgError::Invalid {
            field: "name",
            message: format!(
                "must be 1 to {ORG_NAME_MAX_CHARS} characters long, not blank, without control \
                 characters"
            ),
        });
    }
    Ok(())
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
struct OrganizationRow {
    id: String,
    slug: String,
    name: String,
    enabled: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = IdentityError;

    fn try_from(row: OrganizationRow) -> Result<Self, IdentityError> {
        Ok(Organization {
            id: parse_id(&row.id)?,
            slug: row.slug,
            name: row.name,
            enabled: row.enabled,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

fn parse_role(stored: &str) -> Result<OrgRole, IdentityError> {
    stored
        .parse()
        .map_err(|_| IdentityError::Corrupt(format!("unknown organisation role `{stored}`")))
}

/// Creates an organisation (enabled).
pub fn create(
    db: &Database,
    new: &NewOrganization,
    now: DateTime<Utc>,
) -> Result<Organization, OrgError> {
    validate_slug(&new.slug).map_err(|message| OrgError::Invalid {
        field: "slug",
        message,
    })?;
    validate_name(&new.name)?;
    let now = to_db(now);
    let row = OrganizationRow {
        id: id_text(uuid::Uuid::new_v4()),
        slug: new.slug.clone(),
        name: new.name.clone(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    let inserted = db.write::<_, OrgError, _>(|conn| {
        match diesel::insert_into(organizations::table)
            .values(&row)
            .execute(conn)
        {
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Ok(Err(OrgError::SlugTaken))
            }
            Err(err) => Err(err.into()),
            Ok(_) => Ok(Ok(())),
        }
    })?;
    inserted?;
    Ok(row.try_into()?)
}

/// By id (a UUID) or slug; `None` if there is none.
pub fn find(db: &Database, id_or_slug: &str) -> Result<Option<Organization>, IdentityError> {
    db.read(|conn| find_in(conn, id_or_slug))
}

pub(crate) fn find_in(
    conn: &mut DbConnection,
    id_or_slug: &str,
) -> Result<Option<Organization>, IdentityError> {
    let query = organizations::table
        .select(OrganizationRow::as_select())
        .into_boxed();
    let query = match uuid::Uuid::parse_str(id_or_slug) {
        Ok(id) => query.filter(organizations::id.eq(id_text(id))),
        Err(_) if validate_slug(id_or_slug).is_ok() => {
            query.filter(organizations::slug.eq(id_or_slug.to_owned()))
        }
        // Neither shape: nothing to look up.
        Err(_) => return Ok(None),
    };
    query
        .first(conn)
        .optional()?
        .map(Organization::try_from)
        .transpose()
}

/// Every organisation, by slug.
pub fn list(db: &Database) -> Result<Vec<Organization>, IdentityError> {
    db.read(|conn| {
        organizations::table
            .select(OrganizationRow::as_select())
            .order(organizations::slug.asc())
            .load(conn)?
            .into_iter()
            .map(Organization::try_from)
            .collect()
    })
}

/// Applies `patch`; `None` if there is no such organisation.
pub fn update(
    db: &Database,
    id: uuid::Uuid,
    patch: &OrganizationPatch,
    now: DateTime<Utc>,
) -> Result<Option<Organization>, OrgError> {
    if let Some(name) = &patch.name {
        validate_name(name)?;
    }
    let id = id_text(id);
    db.write::<_, OrgError, _>(|conn| {
        let Some(current) = organizations::table
            .find(&id)
            .select(OrganizationRow::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(None);
        };
        let revised = OrganizationRow {
            name: patch.name.clone().unwrap_or(current.name),
            enabled: patch.enabled.unwrap_or(current.enabled),
            updated_at: to_db(now),
            ..current
        };
        diesel::update(organizations::table.find(&id))
            .set((
                organizations::name.eq(&revised.name),
                organizations::enabled.eq(revised.enabled),
                organizations::updated_at.eq(revised.updated_at),
            ))
            .execute(conn)?;
        Ok(Some(revised.try_into()?))
    })
}

/// Deletes an organisation and its memberships; refused while it has clients. `false` if there
/// was none.
pub fn delete(db: &Database, id: uuid::Uuid) -> Result<bool, OrgError> {
    let id = id_text(id);
    db.write::<_, OrgError, _>(|conn| {
        let clients: i64 = clients::table
            .filter(clients::org_id.eq(&id))
            .count()
            .get_result(conn)?;
        if clients > 0 {
            return Err(OrgError::HasClients(clients));
        }
        diesel::delete(organization_members::table.filter(organization_members::org_id.eq(&id)))
            .execute(conn)?;
        let deleted = diesel::delete(organizations::table.find(&id)).execute(conn)?;
        Ok(deleted > 0)
    })
}

/// Adds `user_id` to the organisation with `role`, or changes the role of a member. `false` if
/// the organisation or the user does not exist.
pub fn add_member(
    db: &Database,
    org_id: uuid::Uuid,
    user_id: uuid::Uuid,
    role: OrgRole,
    now: DateTime<Utc>,
) -> Result<bool, IdentityError> {
    let (org_id, user_id) = (id_text(org_id), id_text(user_id));
    db.write(|conn| {
        let org_exists: i64 = organizations::table
            .filter(organizations::id.eq(&org_id))
            .count()
            .get_result(conn)?;
        let user_exists: i64 = users::table
            .filter(users::id.eq(&user_id))
            .count()
            .get_result(conn)?;
        if org_exists == 0 || user_exists == 0 {
            return Ok(false);
        }
        let changed = diesel::update(organization_members::table.find((&org_id, &user_id)))
            .set(organization_members::role.eq(role.as_str()))
            .execute(conn)?;
        if changed == 0 {
            diesel::insert_into(organization_members::table)
                .values((
                    organization_members::org_id.eq(&org_id),
                    organization_members::user_id.eq(&user_id),
                    organization_members::role.eq(role.as_str()),
                    organization_members::created_at.eq(to_db(now)),
                ))
                .execute(conn)?;
        }
        Ok(true)
    })
}

/// Ends a membership; `false` if there was none.
pub fn remove_member(
    db: &Database,
    org_id: uuid::Uuid,
    user_id: uuid::Uuid,
) -> Result<bool, IdentityError> {
    let (org_id, user_id) = (id_text(org_id), id_text(user_id));
    db.write_statement(|conn| {
        let deleted =
            diesel::delete(organization_members::table.find((&org_id, &user_id))).execute(conn)?;
        Ok(deleted > 0)
    })
}

/// The organisation's members, by username.
pub fn members(db: &Database, org_id: uuid::Uuid) -> Result<Vec<Member>, IdentityError> {
    let org_id = id_text(org_id);
    db.read(|conn| {
        organization_members::table
            .inner_join(users::table)
            .filter(organization_members::org_id.eq(&org_id))
            .order(users::username.asc())
            .select((
                users::id,
                users::username,
                users::email,
                organization_members::role,
                organization_members::created_at,
            ))
            .load::<(String, String, String, String, NaiveDateTime)>(conn)?
            .into_iter()
            .map(|(id, username, email, role, since)| {
                Ok(Member {
                    user_id: parse_id(&id)?,
                    username,
                    email,
                    role: parse_role(&role)?,
                    since: from_db(since),
                })
            })
            .collect()
    })
}

/// The user's role in the organisation, if a member.
pub fn role_of(
    db: &Database,
    org_id: uuid::Uuid,
    user_id: uuid::Uuid,
) -> Result<Option<OrgRole>, IdentityError> {
    let (org_id, user_id) = (id_text(org_id), id_text(user_id));
    db.read(|conn| {
        organization_members::table
            .find((&org_id, &user_id))
            .select(organization_members::role)
            .first::<String>(conn)
            .optional()?
            .map(|role| parse_role(&role))
            .transpose()
    })
}

/// The user's organisations with their role in each, by slug.
pub fn memberships_of(
    db: &Database,
    user_id: uuid::Uuid,
) -> Result<Vec<Membership>, IdentityError> {
    let user_id = id_text(user_id);
    db.read(|conn| {
        organization_members::table
            .inner_join(organizations::table)
            .filter(organization_members::user_id.eq(&user_id))
            .order(organizations::slug.asc())
            .select((OrganizationRow::as_select(), organization_members::role))
            .load::<(OrganizationRow, String)>(conn)?
            .into_iter()
            .map(|(row, role)| {
                Ok(Membership {
                    organization: row.try_into()?,
                    role: parse_role(&role)?,
                })
            })
            .collect()
    })
}

/// The ids of the organisation's clients.
pub fn client_ids(db: &Database, org_id: uuid::Uuid) -> Result<Vec<String>, IdentityError> {
    let org_id = id_text(org_id);
    db.read(|conn| {
        Ok(clients::table
            .filter(clients::org_id.eq(&org_id))
            .select(clients::client_id)
            .order(clients::client_id.asc())
            .load(conn)?)
    })
}

/// An organisation with how many members and clients it has, as the admin lists show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrganizationSummary {
    pub organization: Organization,
    pub members: i64,
    pub clients: i64,
}

/// Every organisation with its counts, by slug.
pub fn summaries(db: &Database) -> Result<Vec<OrganizationSummary>, IdentityError> {
    db.read(|conn| {
        let rows = organizations::table
            .select(OrganizationRow::as_select())
            .order(organizations::slug.asc())
            .load(conn)?;
        let members: std::collections::HashMap<String, i64> = organization_members::table
            .group_by(organization_members::org_id)
            .select((organization_members::org_id, diesel::dsl::count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
        let clients: std::collections::HashMap<String, i64> = clients::table
            .filter(clients::org_id.is_not_null())
            .group_by(clients::org_id)
            .select((clients::org_id, diesel::dsl::count_star()))
            .load::<(Option<String>, i64)>(conn)?
            .into_iter()
            .filter_map(|(id, count)| Some((id?, count)))
            .collect();
        rows.into_iter()
            .map(|row| {
                let members = members.get(&row.id).copied().unwrap_or(0);
                let clients = clients.get(&row.id).copied().unwrap_or(0);
                Ok(OrganizationSummary {
                    organization: row.try_into()?,
                    members,
                    clients,
                })
            })
            .collect()
    })
}

/// One organisation (by id or slug) with its counts; `None` if there is none.
pub fn summary(
    db: &Database,
    id_or_slug: &str,
) -> Result<Option<OrganizationSummary>, IdentityError> {
    db.read(|conn| {
        let Some(organization) = find_in(conn, id_or_slug)? else {
            return Ok(None);
        };
        let id = id_text(organization.id);
        let members: i64 = organization_members::table
            .filter(organization_members::org_id.eq(&id))
            .count()
            .get_result(conn)?;
        let clients: i64 = clients::table
            .filter(clients::org_id.eq(&id))
            .count()
            .get_result(conn)?;
        Ok(Some(OrganizationSummary {
            organization,
            members,
            clients,
        }))
    })
}

/// One of an organisation's clients, as its page lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrgClient {
    pub client_id: String,
    pub name: String,
    pub enabled: bool,
}

/// The organisation's clients, by name (case-insensitively), then id.
pub fn clients(db: &Database, org_id: uuid::Uuid) -> Result<Vec<OrgClient>, IdentityError> {
    let org_id = id_text(org_id);
    db.read(|conn| {
        let mut found: Vec<OrgClient> = clients::table
            .filter(clients::org_id.eq(&org_id))
            .select((clients::client_id, clients::name, clients::enabled))
            .load::<(String, String, bool)>(conn)?
            .into_iter()
            .map(|(client_id, name, enabled)| OrgClient {
                client_id,
                name,
                enabled,
            })
            .collect();
        found.sort_by_cached_key(|c| (c.name.to_lowercase(), c.client_id.clone()));
        Ok(found)
    })
}
