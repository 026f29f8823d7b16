//! OAuth 2.0 client registrations (RFC 6749 §2, with the metadata names of RFC 7591 §2 and
//! OpenID Connect Dynamic Client Registration §2): the `Client` model, the rules a new
//! registration must pass, and how client secrets are generated and checked.

mod queries;
mod secret;
mod validation;

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

pub(crate) use queries::{delete, find, insert, list, roles_of, set_roles};
pub use secret::ClientSecretHasher;
pub use validation::validate_resource;

use crate::db::{from_db, from_json_array, stored};
use crate::error::IdentityError;
use crate::schema::clients;

/// RFC 6749 §2.1: whether the client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }
}

impl FromStr for ClientType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "confidential" => Ok(ClientType::Confidential),
            "public" => Ok(ClientType::Public),
            other => Err(format!("unknown client type `{other}`")),
        }
    }
}

/// How the client authenticates at the token endpoint (RFC 7591 §2, OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: no authentication, only its `client_id`.
    None,
}

impl TokenEndpointAuthMethod {
    /// Every method we support, in the order discovery and the CLI list them.
    pub const ALL: [TokenEndpointAuthMethod; 3] = [
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::None,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::None => "none",
        }
    }
}

impl FromStr for TokenEndpointAuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client_secret_basic" => Ok(TokenEndpointAuthMethod::ClientSecretBasic),
            "client_secret_post" => Ok(TokenEndpointAuthMethod::ClientSecretPost),
            "none" => Ok(TokenEndpointAuthMethod::None),
            other => Err(format!("unknown token endpoint auth method `{other}`")),
        }
    }
}

/// The grants a client may use, by their `grant_type` values (RFC 6749 §4.1, §4.4, §6;
/// RFC 8628 §3.4 for the device authorization grant, RFC 8693 §2.1 for token exchange).
///
/// The one definition every surface reads: the token endpoint dispatches on
/// [`GrantType::from_str`], discovery advertises [`GrantType::ALL`] as `grant_types_supported`
/// (RFC 8414 §2), and the CLI offers the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628 §3.4: the device authorization grant, named by its URN.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 8693 §2.1: token exchange, for confidential clients registered with the audiences
    /// they may ask for.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    /// Every grant the token endpoint implements.
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
        GrantType::TokenExchange,
    ];

    /// The `grant_type` value (RFC 6749 §4.1.3, §4.4.2, §6; RFC 8628 §3.4).
    pub fn as_str(&self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }
}

impl FromStr for GrantType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "authorization_code" => Ok(GrantType::AuthorizationCode),
            "refresh_token" => Ok(GrantType::RefreshToken),
            "client_credentials" => Ok(GrantType::ClientCredentials),
            "urn:ietf:params:oauth:grant-type:device_code" => Ok(GrantType::DeviceCode),
            "urn:ietf:params:oauth:grant-type:token-exchange" => Ok(GrantType::TokenExchange),
            other => Err(format!("unknown grant type `{other}`")),
        }
    }
}

/// A registered client. Serializing it never reveals the secret hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    /// `hmac-sha256$<base64url>`, checked with `ClientSecretHasher::verify`; `None` for public
    /// clients.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// Compared exactly with the `redirect_uri` of a request (RFC 6749 §3.1.2.3), so stored as
    /// registered, not normalized.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// The most a token for this client may carry.
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// `RS256` or `ES256`.
    pub id_token_signed_response_alg: String,
    /// Operated by whoever runs Gatehouse: its users are not asked for consent.
    pub first_party: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where logout tokens are POSTed when a session the client took part in ends (OpenID
    /// Connect Back-Channel Logout 1.0 §2.2); `None`: the client is not notified.
    pub backchannel_logout_uri: Option<String>,
    /// Back-Channel Logout 1.0 §2.2: every logout token for this client must carry `sid`.
    pub backchannel_logout_session_required: bool,
    /// Its users must have signed in with a second factor (enforced by step-up
    /// authentication).
    pub require_2fa: bool,
    /// `false`: an administrator disabled it; the protocol treats it as unknown (refused at
    /// `/authorize` and `/token`, its tokens inactive at introspection) until it is enabled.
    pub enabled: bool,
    /// The organisation the client belongs to, if any: only its members sign in to it, and
    /// its org admins manage it.
    pub org_id: Option<String>,
    /// RFC 8707: the resources (absolute URIs naming APIs) the client may ask tokens for with
    /// `resource`; they become the access token's `aud`.
    pub resources: Vec<String>,
    /// RFC 8693: the audiences (client ids or resource URIs) a token exchange by this client may
    /// ask for; empty unless it has the token-exchange grant.
    pub exchange_audiences: Vec<String>,
    /// RFC 8693 §1.1: a token exchange without an actor token (impersonation) is allowed.
    pub allow_impersonation: bool,
}

impl Client {
    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    pub fn is_public(&self) -> bool {
        self.client_type == ClientType::Public
    }
}

/// A registration request; `Default` plus a name and redirect URI is a typical confidential
/// web application.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    /// `None` means confidential.
    pub client_type: Option<ClientType>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty means authorization code with refresh tokens.
    pub grant_types: Vec<GrantType>,
    /// Empty means `openid profile email offline_access`.
    pub scopes: Vec<String>,
    /// `None` means `client_secret_basic` for a confidential client, `none` for a public one.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// `None` means `RS256`; only `RS256` and `ES256` are accepted.
    pub id_token_signed_response_alg: Option<String>,
    pub first_party: bool,
    /// An absolute `https` URI without fragment; `http` only on a loopback host (development).
    pub backchannel_logout_uri: Option<String>,
    /// Only together with a `backchannel_logout_uri`.
    pub backchannel_logout_session_required: bool,
    pub require_2fa: bool,
    /// An organisation's id (the CLI resolves a slug first).
    pub org_id: Option<String>,
    /// Absolute URIs without a fragment (RFC 8707 §2).
    pub resources: Vec<String>,
    /// Needs the token-exchange grant, which needs at least one.
    pub exchange_audiences: Vec<String>,
    /// Only with the token-exchange grant.
    pub allow_impersonation: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registration breaks a rule; `field` is the `NewClient` field at fault.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

impl ClientError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ClientError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Validates `new`, applies its defaults and mints the id and, for a confidential client, the
/// secret (returned in plaintext, stored only as its hash).
pub(crate) fn prepare(
    new: &NewClient,
    hasher: &ClientSecretHasher,
    now: DateTime<Utc>,
) -> Result<(Client, Option<String>), ClientError> {
    let valid = validation::validate(new)?;
    let secret = match valid.client_type {
        ClientType::Confidential => Some(ClientSecretHasher::generate_secret()),
        ClientType::Public => None,
    };
    let now = stored(now);
    let client = Client {
        client_id: generate_client_id(),
        name: new.name.clone(),
        client_type: valid.client_type,
        secret_hash: secret.as_deref().map(|secret| hasher.hash(secret)),
        redirect_uris: valid.redirect_uris,
        post_logout_redirect_uris: valid.post_logout_redirect_uris,
        grant_types: valid.grant_types,
        scopes: valid.scopes,
        token_endpoint_auth_method: valid.token_endpoint_auth_method,
        id_token_signed_response_alg: valid.id_token_signed_response_alg,
        first_party: new.first_party,
        created_at: now,
        updated_at: now,
        backchannel_logout_uri: valid.backchannel_logout_uri,
        backchannel_logout_session_required: new.backchannel_logout_session_required,
        require_2fa: new.require_2fa,
        enabled: true,
        org_id: new.org_id.clone(),
        resources: valid.resources,
        exchange_audiences: valid.exchange_audiences,
        allow_impersonation: new.allow_impersonation,
    };
    Ok((client, secret))
}

/// `current` with `patch` applied, checked by the rules of a new registration (so a refusal
/// names the field at fault the same way). What a patch cannot change (the id, type, secret,
/// auth method, ID token algorithm, creation time) is kept; removing the back-channel logout
/// URI also clears `backchannel_logout_session_required`, which needs it.
pub(crate) fn revise(
    current: &Client,
    patch: &crate::admin::clients::ClientPatch,
    now: DateTime<Utc>,
) -> Result<Client, ClientError> {
    let pick =
        |new: &Option<Vec<String>>, old: &Vec<String>| new.clone().unwrap_or_else(|| old.clone());
    let backchannel_logout_uri = patch
        .backchannel_logout_uri
        .clone()
        .unwrap_or_else(|| current.backchannel_logout_uri.clone());
    let new = NewClient {
        name: patch.name.clone().unwrap_or_else(|| current.name.clone()),
        client_type: Some(current.client_type),
        redirect_uris: pick(&patch.redirect_uris, &current.redirect_uris),
        post_logout_redirect_uris: pick(
            &patch.post_logout_redirect_uris,
            &current.post_logout_redirect_uris,
        ),
        grant_types: patch
            .grant_types
            .clone()
            .unwrap_or_else(|| current.grant_types.clone()),
        scopes: pick(&patch.scopes, &current.scopes),
        token_endpoint_auth_method: Some(current.token_endpoint_auth_method),
        id_token_signed_response_alg: Some(current.id_token_signed_response_alg.clone()),
        first_party: patch.first_party.unwrap_or(current.first_party),
        backchannel_logout_session_required: current.backchannel_logout_session_required
            && backchannel_logout_uri.is_some(),
        backchannel_logout_uri,
        require_2fa: patch.require_2fa.unwrap_or(current.require_2fa),
        org_id: current.org_id.clone(),
        resources: pick(&patch.resources, &current.resources),
        exchange_audiences: pick(&patch.exchange_audiences, &current.exchange_audiences),
        allow_impersonation: patch
            .allow_impersonation
            .unwrap_or(current.allow_impersonation),
    };
    let valid = validation::validate(&new)?;
    Ok(Client {
        client_id: current.client_id.clone(),
        name: new.name,
        client_type: valid.client_type,
        secret_hash: current.secret_hash.clone(),
        redirect_uris: valid.redirect_uris,
        post_logout_redirect_uris: valid.post_logout_redirect_uris,
        grant_types: valid.grant_types,
        scopes: valid.scopes,
        token_endpoint_auth_method: valid.token_endpoint_auth_method,
        id_token_signed_response_alg: valid.id_token_signed_response_alg,
        first_party: new.first_party,
        created_at: current.created_at,
        updated_at: stored(now),
        backchannel_logout_uri: valid.backchannel_logout_uri,
        backchannel_logout_session_required: new.backchannel_logout_session_required,
        require_2fa: new.require_2fa,
        enabled: patch.enabled.unwrap_or(current.enabled),
        org_id: new.org_id,
        resources: valid.resources,
        exchange_audiences: valid.exchange_audiences,
        allow_impersonation: new.allow_impersonation,
    })
}

/// Longest `client_id` worth looking up; ours are 22 characters.
const CLIENT_ID_MAX_BYTES: usize = 255;

/// Whether `client_id` could name a registered client: 1–255 characters of RFC 6749 Appendix A.1
/// `VSCHAR` (printable ASCII and space). Anything else (a NUL, another control character,
/// non-ASCII text) is answered "no such client" without a query: it cannot be registered, and
/// Postgres refuses a NUL in text outright. Protocol endpoints check this at their edge too.
pub fn is_plausible_client_id(client_id: &str) -> bool {
    !client_id.is_empty()
        && client_id.len() <= CLIENT_ID_MAX_BYTES
        && client_id.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

/// 128 random bits: unguessable, so an id alone never reveals which clients exist.
fn generate_client_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// `clients` as Diesel reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = clients)]
pub(crate) struct ClientRow {
    client_id: String,
    name: String,
    client_type: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    token_endpoint_auth_method: String,
    id_token_signed_response_alg: String,
    first_party: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    require_2fa: bool,
    enabled: bool,
    org_id: Option<String>,
    resources: String,
    exchange_audiences: String,
    allow_impersonation: bool,
}

impl TryFrom<ClientRow> for Client {
    type Error = IdentityError;

    fn try_from(row: ClientRow) -> Result<Self, IdentityError> {
        let id = &row.client_id;
        let corrupt = |message: String| IdentityError::Corrupt(format!("client {id}: {message}"));
        let list =
            |stored: &str, column: &str| from_json_array(stored, &format!("client {id}: {column}"));
        let grant_types = list(&row.grant_types, "grant_types")?
            .iter()
            .map(|grant| grant.parse())
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        let resources = list(&row.resources, "resources")?;
        let exchange_audiences = list(&row.exchange_audiences, "exchange_audiences")?;
        Ok(Client {
            client_type: row.client_type.parse().map_err(corrupt)?,
            redirect_uris: list(&row.redirect_uris, "redirect_uris")?,
            post_logout_redirect_uris: list(
                &row.post_logout_redirect_uris,
                "post_logout_redirect_uris",
            )?,
            grant_types,
            scopes: list(&row.scopes, "scopes")?,
            token_endpoint_auth_method: row.token_endpoint_auth_method.parse().map_err(corrupt)?,
            client_id: row.client_id,
            name: row.name,
            secret_hash: row.secret_hash,
            id_token_signed_response_alg: row.id_token_signed_response_alg,
            first_party: row.first_party,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
            backchannel_logout_uri: row.backchannel_logout_uri,
            backchannel_logout_session_required: row.backchannel_logout_session_required,
            require_2fa: row.require_2fa,
            enabled: row.enabled,
            org_id: row.org_id,
            resources,
            exchange_audiences,
            allow_impersonation: row.allow_impersonation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_match_serde() {
        for client_type in [ClientType::Confidential, ClientType::Public] {
            assert_eq!(client_type.as_str().parse::<ClientType>(), Ok(client_type));
            assert_eq!(
                serde_json::to_value(client_type).unwrap(),
                client_type.as_str()
            );
        }
        for method in TokenEndpointAuthMethod::ALL {
            assert_eq!(method.as_str().parse(), Ok(method));
            assert_eq!(serde_json::to_value(method).unwrap(), method.as_str());
        }
        for grant in GrantType::ALL {
            assert_eq!(grant.as_str().parse(), Ok(grant));
            assert_eq!(serde_json::to_value(grant).unwrap(), grant.as_str());
        }
        assert_eq!(
            TokenEndpointAuthMethod::ClientSecretBasic.as_str(),
            "client_secret_basic"
        );
        assert_eq!(GrantType::AuthorizationCode.as_str(), "authorization_code");
    }

    /// `ALL` is the list every surface advertises: it must name each variant once, in order.
    /// The exhaustive matches stop a new variant from compiling until it is placed here.
    #[test]
    fn all_lists_every_variant_once() {
        let grant_position = |grant| match grant {
            GrantType::AuthorizationCode => 0,
            GrantType::RefreshToken => 1,
            GrantType::ClientCredentials => 2,
            GrantType::DeviceCode => 3,
            GrantType::TokenExchange => 4,
        };
        assert_eq!(GrantType::ALL.map(grant_position), [0, 1, 2, 3, 4]);
        let method_position = |method| match method {
            TokenEndpointAuthMethod::ClientSecretBasic => 0,
            TokenEndpointAuthMethod::ClientSecretPost => 1,
            TokenEndpointAuthMethod::None => 2,
        };
        assert_eq!(TokenEndpointAuthMethod::ALL.map(method_position), [0, 1, 2]);
    }

    #[test]
    fn unknown_wire_names_are_refused_with_the_value() {
        let err = "implicit".parse::<GrantType>().unwrap_err();
        assert!(err.contains("`implicit`"), "{err}");
        assert!("Public".parse::<ClientType>().is_err());
        assert!(
            "private_key_jwt"
                .parse::<TokenEndpointAuthMethod>()
                .is_err()
        );
    }

    #[test]
    fn implausible_client_ids_are_recognised() {
        assert!(is_plausible_client_id(&generate_client_id()));
        assert!(is_plausible_client_id("my app"));
        for bad in [
            "",
            "ab\0c",
            "\0",
            "ab\nc",
            "tab\t",
            "caf\u{e9}",
            "del\u{7f}",
        ] {
            assert!(!is_plausible_client_id(bad), "{bad:?}");
        }
        assert!(is_plausible_client_id(&"x".repeat(255)));
        assert!(!is_plausible_client_id(&"x".repeat(256)));
    }

    #[test]
    fn client_ids_are_22_url_safe_characters_and_distinct() {
        let a = generate_client_id();
        let b = generate_client_id();
        assert_eq!(a.len(), 22);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
        assert_ne!(a, b);
    }
}
