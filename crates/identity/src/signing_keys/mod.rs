//! The OIDC provider's signing keys as stored (the keys themselves are sealed by the caller):
//! each algorithm has at most one `active` key that signs, one `next` key already published in
//! the JWKS so relying parties have it before it signs, and `retired` keys that stay published
//! until the tokens they signed have expired (OpenID Connect Core §10.1.1).
//!
//! Several server instances share these rows; a partial unique index per status and a
//! compare-and-swap rotation keep them from each installing their own active key.

mod queries;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

pub(crate) use queries::{delete_unpublished, insert, list, rotate};

use crate::db::from_db;
use crate::error::IdentityError;
use crate::schema::signing_keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published, not yet signing.
    Next,
    /// Signs new tokens.
    Active,
    /// Published until `published_until`, then deleted.
    Retired,
}

impl KeyStatus {
    /// The value stored in `signing_keys.status`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyStatus::Next => "next",
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }
}

impl FromStr for KeyStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "next" => Ok(KeyStatus::Next),
            "active" => Ok(KeyStatus::Active),
            "retired" => Ok(KeyStatus::Retired),
            other => Err(format!("unknown signing key status `{other}`")),
        }
    }
}

#[derive(Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    pub status: KeyStatus,
    /// The private key as the caller sealed it; this crate never sees it in the clear.
    pub sealed_private_key: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub published_until: Option<DateTime<Utc>>,
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("published_until", &self.published_until)
            .finish_non_exhaustive()
    }
}

/// `signing_keys` as Diesel reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub(crate) struct SigningKeyRow {
    kid: String,
    alg: String,
    status: String,
    sealed_private_key: String,
    created_at: NaiveDateTime,
    activated_at: Option<NaiveDateTime>,
    published_until: Option<NaiveDateTime>,
}

impl TryFrom<SigningKeyRow> for StoredSigningKey {
    type Error = IdentityError;

    fn try_from(row: SigningKeyRow) -> Result<Self, IdentityError> {
        let status = row.status.parse().map_err(|message| {
            IdentityError::Corrupt(format!("signing key {}: {message}", row.kid))
        })?;
        Ok(StoredSigningKey {
            kid: row.kid,
            alg: row.alg,
            status,
            sealed_private_key: row.sealed_private_key,
            created_at: from_db(row.created_at),
            activated_at: row.activated_at.map(from_db),
            published_until: row.published_until.map(from_db),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_omits_the_sealed_private_key() {
        let key = StoredSigningKey {
            kid: "kid-1".to_owned(),
            alg: "ES256".to_owned(),
            status: KeyStatus::Active,
            sealed_private_key: "SEALED-MATERIAL".to_owned(),
            created_at: Utc::now(),
            activated_at: None,
            published_until: None,
        };
        let shown = format!("{key:?}");
        assert!(shown.contains("kid-1"), "{shown}");
        assert!(!shown.contains("SEALED-MATERIAL"), "{shown}");
        assert!(!shown.contains("sealed_private_key"), "{shown}");
    }

    #[test]
    fn status_round_trips_through_its_stored_form() {
        for status in [KeyStatus::Next, KeyStatus::Active, KeyStatus::Retired] {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("revoked".parse::<KeyStatus>().is_err());
    }
}
