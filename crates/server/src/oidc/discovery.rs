//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3), the same document at
//! `/.well-known/oauth-authorization-server` (RFC 8414 §2), and `/jwks.json`.
//!
//! The metadata is built once at start with openidconnect's types and served as a cached string.
//! `grant_types_supported` and `token_endpoint_auth_methods_supported` are read from the identity
//! crate's [`GrantType::ALL`] and [`TokenEndpointAuthMethod::ALL`], the same definitions the token
//! endpoint and the CLI use.

use actix_web::{HttpResponse, web};
use gatehouse_identity::{GrantType, TokenEndpointAuthMethod};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl,
    ProviderMetadata, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

use crate::app::AppState;

/// Metadata openidconnect's core set lacks: PKCE (RFC 8414 §2), introspection (RFC 8414 §2 /
/// RFC 7662), revocation (RFC 7009), RP-initiated logout, the `iss` response parameter
/// (RFC 9207 §3), back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.1), and the
/// device authorization endpoint (RFC 8628 §4).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GatehouseMetadata {
    pub code_challenge_methods_supported: Vec<String>,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub end_session_endpoint: String,
    pub authorization_response_iss_parameter_supported: bool,
    /// Back-Channel Logout 1.0 §2.1: we send logout tokens to a client's
    /// `backchannel_logout_uri`.
    pub backchannel_logout_supported: bool,
    /// Back-Channel Logout 1.0 §2.1: the logout tokens carry `sid` (whenever the session is
    /// known, and always for clients that registered `backchannel_logout_session_required`).
    pub backchannel_logout_session_supported: bool,
    /// RFC 8628 §4: where devices start the device authorization grant.
    pub device_authorization_endpoint: String,
}

impl AdditionalProviderMetadata for GatehouseMetadata {}

pub type GatehouseProviderMetadata = ProviderMetadata<
    GatehouseMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Builds the discovery document for `issuer` (no trailing slash).
pub fn build_document(issuer: &str) -> anyhow::Result<String> {
    let at = |path: &str| format!("{issuer}{path}");
    let client_auth = vec![
        "client_secret_basic".to_owned(),
        "client_secret_post".to_owned(),
    ];
    let metadata = GatehouseProviderMetadata::new(
        IssuerUrl::new(issuer.to_owned())?,
        AuthUrl::new(at("/authorize"))?,
        JsonWebKeySetUrl::new(at("/jwks.json"))?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ],
        GatehouseMetadata {
            code_challenge_methods_supported: vec!["S256".to_owned()],
            introspection_endpoint: at("/introspect"),
            introspection_endpoint_auth_methods_supported: client_auth.clone(),
            revocation_endpoint: at("/revoke"),
            revocation_endpoint_auth_methods_supported: client_auth,
            end_session_endpoint: at("/logout"),
            authorization_response_iss_parameter_supported: true,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            device_authorization_endpoint: at("/device_authorization"),
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(at("/token"))?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(at("/userinfo"))?))
    .set_scopes_supported(Some(
        // `account`: the account REST API (/api/v1/account) for tokens carrying it; `admin`:
        // the admin REST API (/api/v1/admin), for users and service accounts holding a role;
        // `organization`: the organisation of the sign-in (`org_id`, `org_slug`, `org_roles`).
        [
            "openid",
            "profile",
            "email",
            "offline_access",
            "account",
            "admin",
            "organization",
        ]
        .into_iter()
        .map(|s| Scope::new(s.to_owned()))
        .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(
        GrantType::ALL
            .iter()
            .map(|grant| wire_value::<CoreGrantType>(grant.as_str()))
            .collect::<Result<_, _>>()?,
    ))
    .set_token_endpoint_auth_methods_supported(Some(
        TokenEndpointAuthMethod::ALL
            .iter()
            .map(|method| wire_value::<CoreClientAuthMethod>(method.as_str()))
            .collect::<Result<_, _>>()?,
    ))
    .set_claims_supported(Some(
        [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "acr",
            "sid",
            "azp",
            "at_hash",
            "preferred_username",
            "name",
            "email",
            "email_verified",
            // Scope `organization` (ID token, access token, userinfo).
            "org_id",
            "org_slug",
            "org_roles",
        ]
        .into_iter()
        .map(|c| CoreClaimName::new(c.to_owned()))
        .collect(),
    ))
    // OIDC Discovery §3: the levels `acr_values` may name and ID tokens' `acr` reports.
    .set_acr_values_supported(Some(
        gatehouse_authz::acr::SUPPORTED
            .iter()
            .map(|acr| AuthenticationContextClass::new((*acr).to_owned()))
            .collect(),
    ))
    .set_claim_types_supported(Some(vec![CoreClaimType::Normal]))
    // Discovery §3 defaults request_uri_parameter_supported to true: say explicitly we do not.
    .set_claims_parameter_supported(Some(false))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false));
    Ok(serde_json::to_string(&metadata)?)
}

/// One of openidconnect's metadata enums from its wire name (they deserialize from a string and
/// keep unknown names as extensions, so this fails only on a broken enum).
fn wire_value<T: serde::de::DeserializeOwned>(name: &str) -> serde_json::Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
}

pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(state.discovery.clone())
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    // Short enough that a rotation's new key reaches verifiers well before it signs anything.
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(state.keys.jwks_json().to_string())
}
