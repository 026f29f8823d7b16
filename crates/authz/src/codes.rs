//! Authorization codes: what one binds, and how it is stored.
//!
//! - RFC 6749 §4.1.2: a code is short-lived, single-use and bound to the client and the
//!   redirect URI; "If an authorization code is used more than once, the authorization server
//!   MUST deny the request and SHOULD revoke (when possible) all tokens previously issued based
//!   on that authorization code." Single use is the store's atomic `take`. A code is its grant
//!   id under a MAC ([`crate::grant_ids`]), and everything its exchange issues names that grant,
//!   so an authentic code that is gone revokes the grant without a tombstone.
//! - The store key is the grant id; the code itself (id + 256-bit tag, RFC 6749 §10.10) is
//!   never stored.
//! - The payload is oxide-auth's `Grant` shape ([`StoredGrant`], because `Grant` is not
//!   `Serialize`), with the PKCE challenge as its private extension and the OIDC `nonce` as a
//!   public one, plus the facts of the login session the ID token must repeat (OIDC Core §2:
//!   `auth_time`, `amr`, `sid`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gatehouse_sessions::{KvStore, StoreError};
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::scope::Scope;

use crate::grant_ids::GrantId;
use crate::store::{code_key, put_json_if_absent, take_json};

/// The name of the public grant extension carrying the OIDC `nonce`.
pub const NONCE_EXTENSION: &str = "nonce";

/// oxide-auth's `Grant`, field for field, in a form that serializes. Two deliberate
/// differences: `scope` keeps the requested order (oxide-auth's `Scope` is a set), and
/// `redirect_uri` keeps the exact string, because RFC 6749 §4.1.3 requires the token request's
/// `redirect_uri` to be *identical*, which a parsed (normalized) URL cannot tell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredGrant {
    /// The user's id.
    pub owner_id: String,
    pub client_id: String,
    pub scope: Vec<String>,
    pub redirect_uri: String,
    /// Unix seconds.
    pub until: i64,
    pub extensions: BTreeMap<String, StoredExtension>,
}

/// oxide-auth's extension `Value`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredExtension {
    Public(Option<String>),
    Private(Option<String>),
}

impl From<Value> for StoredExtension {
    fn from(value: Value) -> Self {
        match value {
            Value::Public(content) => Self::Public(content),
            Value::Private(content) => Self::Private(content),
        }
    }
}

impl From<&StoredExtension> for Value {
    fn from(value: &StoredExtension) -> Self {
        match value {
            StoredExtension::Public(content) => Value::public(content.clone()),
            StoredExtension::Private(content) => Value::private(content.clone()),
        }
    }
}

impl StoredGrant {
    /// Back to oxide-auth's `Grant`; `None` if the stored data cannot form one (a redirect URI
    /// that no longer parses, a scope token outside RFC 6749 §3.3, a time out of range).
    pub fn to_grant(&self) -> Option<Grant> {
        let mut extensions = Extensions::new();
        for (name, value) in &self.extensions {
            extensions.set_raw(name.clone(), value.into());
        }
        Some(Grant {
            owner_id: self.owner_id.clone(),
            client_id: self.client_id.clone(),
            scope: self.scope.join(" ").parse::<Scope>().ok()?,
            redirect_uri: self.redirect_uri.parse().ok()?,
            until: DateTime::<Utc>::from_timestamp(self.until, 0)?,
            extensions,
        })
    }
}

/// The public `nonce` extension of a grant, if the authorization request carried one.
pub fn nonce_of(grant: &Grant) -> Option<String> {
    grant
        .extensions
        .public()
        .find(|(name, _)| *name == NONCE_EXTENSION)
        .and_then(|(_, value)| value.map(str::to_owned))
}

/// Everything a code is bound to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorizationCode {
    pub grant: StoredGrant,
    /// When the user authenticated (OIDC Core §2 `auth_time`), Unix seconds.
    pub auth_time: i64,
    /// The browser session's id (OIDC Front-/Back-Channel Logout `sid`).
    pub sid: String,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// RFC 8707: the resources the request named; the access tokens' `aud`. Empty: the
    /// issuer, as without resource indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The organisation the sign-in happened in (the `organization` authorization parameter or
    /// the client's organisation); its claims go into tokens when the scope has
    /// `organization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<uuid::Uuid>,
}

/// How many fresh grant ids to try before giving up on a collision (2^-128 each: this is for a
/// broken random source, not bad luck).
const ISSUE_ATTEMPTS: usize = 3;

/// Stores `code` under a fresh grant id and returns the grant. `put_if_absent`, so that no code
/// can ever overwrite another.
pub(crate) async fn issue(
    store: &dyn KvStore,
    code: &AuthorizationCode,
    ttl: Duration,
) -> Result<Option<GrantId>, StoreError> {
    for _ in 0..ISSUE_ATTEMPTS {
        let grant = GrantId::random();
        if put_json_if_absent(store, &code_key(grant), code, ttl).await? {
            return Ok(Some(grant));
        }
    }
    Ok(None)
}

/// Atomically takes the code (of N concurrent callers exactly one gets it).
pub(crate) async fn redeem(
    store: &dyn KvStore,
    grant: GrantId,
) -> Result<Option<AuthorizationCode>, StoreError> {
    take_json(store, &code_key(grant)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_grant_turns_back_into_an_oxide_grant() {
        let stored = StoredGrant {
            owner_id: "u".into(),
            client_id: "c".into(),
            scope: vec!["openid".into(), "email".into()],
            redirect_uri: "https://rp.example/cb?x=1".into(),
            until: 1_700_000_060,
            extensions: BTreeMap::from([
                (
                    NONCE_EXTENSION.to_owned(),
                    StoredExtension::Public(Some("n-1".into())),
                ),
                (
                    "pkce".to_owned(),
                    StoredExtension::Private(Some("abcS".into())),
                ),
            ]),
        };
        let json = serde_json::to_string(&stored).unwrap();
        assert_eq!(serde_json::from_str::<StoredGrant>(&json).unwrap(), stored);

        let grant = stored.to_grant().unwrap();
        assert_eq!(grant.client_id, "c");
        assert_eq!(grant.until.timestamp(), 1_700_000_060);
        assert_eq!(nonce_of(&grant).as_deref(), Some("n-1"));
        assert_eq!(grant.extensions.private().count(), 1);
        assert_eq!(grant.scope, "email openid".parse::<Scope>().unwrap());
    }
}
