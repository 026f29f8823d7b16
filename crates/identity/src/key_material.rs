//! `key_material`: values sealed directly under the master key other than signing keys (today
//! the derivation root, see `gatehouse_tokens::keystore`), and the one transaction that
//! re-seals everything under a new master key (`gatehouse keys rewrap`).
//!
//! Sealing and unsealing are the caller's: this module stores opaque sealed strings.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::audit::{self, NewAuditEvent};
use crate::db::{Database, to_db};
use crate::error::IdentityError;
use crate::schema::{key_material, signing_keys};

#[derive(Insertable)]
#[diesel(table_name = key_material)]
struct NewKeyMaterialRow<'a> {
    name: &'a str,
    sealed: &'a str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// What [`Database::reseal_master_key_material`] writes: each value re-sealed under the new
/// key, with the sealed value it replaces (the update is a compare-and-swap on it).
#[derive(Debug, Default)]
pub struct Resealed {
    /// `(name, was, now)` rows of `key_material`.
    pub material: Vec<(String, String, String)>,
    /// `(kid, was, now)` rows of `signing_keys`.
    pub signing_keys: Vec<(String, String, String)>,
}

impl Database {
    /// The sealed value stored under `name`, if any.
    pub fn find_key_material(&self, name: &str) -> Result<Option<String>, IdentityError> {
        self.read(|conn| {
            Ok(key_material::table
                .filter(key_material::name.eq(name))
                .select(key_material::sealed)
                .first::<String>(conn)
                .optional()?)
        })
    }

    /// Stores `sealed` under `name` unless a value is there already; `false` when another
    /// process stored one first (read theirs).
    pub fn insert_key_material(
        &self,
        name: &str,
        sealed: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, IdentityError> {
        self.write_statement(|conn| {
            let inserted = diesel::insert_into(key_material::table)
                .values(NewKeyMaterialRow {
                    name,
                    sealed,
                    created_at: to_db(now),
                    updated_at: to_db(now),
                })
                .execute(conn);
            match inserted {
                Ok(_) => Ok(true),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
                Err(err) => Err(err.into()),
            }
        })
    }

    /// In one transaction: replaces each sealed value that still holds what the caller read
    /// (a row changed or deleted since is left alone and not counted), and appends `audit`
    /// with the counts. Returns `(material rows, signing-key rows)` replaced.
    pub fn reseal_master_key_material(
        &self,
        resealed: &Resealed,
        now: DateTime<Utc>,
        audit: impl FnOnce(usize, usize) -> NewAuditEvent,
    ) -> Result<(usize, usize), IdentityError> {
        self.write(|conn| {
            let mut material = 0;
            for (name, was, sealed) in &resealed.material {
                material += diesel::update(
                    key_material::table
                        .filter(key_material::name.eq(name))
                        .filter(key_material::sealed.eq(was)),
                )
                .set((
                    key_material::sealed.eq(sealed),
                    key_material::updated_at.eq(to_db(now)),
                ))
                .execute(conn)?;
            }
            let mut keys = 0;
            for (kid, was, sealed) in &resealed.signing_keys {
                keys += diesel::update(
                    signing_keys::table
                        .filter(signing_keys::kid.eq(kid))
                        .filter(signing_keys::sealed_private_key.eq(was)),
                )
                .set(signing_keys::sealed_private_key.eq(sealed))
                .execute(conn)?;
            }
            audit::append(conn, &audit(material, keys))?;
            Ok((material, keys))
        })
    }
}
