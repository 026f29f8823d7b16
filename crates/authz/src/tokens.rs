//! Minting the tokens the token endpoint returns, and the user claims ID tokens and userinfo
//! share.
//!
//! - Access tokens: the JWT profile of RFC 9068 §2.2 (`iss`, `exp`, `aud`, `sub`, `client_id`,
//!   `iat`, `jti`, `scope`, plus `auth_time` and `sid` for user tokens), `typ` `at+jwt`, signed
//!   by the active key of the configured algorithm. `aud` is the issuer itself: Gatehouse is
//!   the resource server for userinfo, and resource servers introspect or share the issuer.
//! - ID tokens: OIDC Core §2 (`iss`, `sub`, `aud` = the client, `exp`, `iat`, `auth_time`,
//!   `nonce`, `at_hash` per §3.1.3.6, `amr`, `sid`, `azp`), signed with the algorithm the client
//!   registered (`id_token_signed_response_alg`, OIDC Dynamic Client Registration §2). Scope
//!   claims per OIDC Core §5.4, only those Gatehouse holds: `profile` → `preferred_username`,
//!   `name`; `email` → `email`, `email_verified`.

use gatehouse_identity::{Client, User};
use gatehouse_tokens::{
    AccessTokenClaims, Algorithm, IdTokenClaims, at_hash, mint_access_token, mint_id_token,
};
use serde_json::{Map, Value};

use crate::error::OAuthError;
use crate::params::{has_scope, scope_string};
use crate::service::Authz;

/// What an access token is issued for.
pub(crate) struct AccessTokenRequest<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub jti: String,
    pub auth_time: Option<i64>,
    pub sid: Option<&'a str>,
    /// The grant of a user's token, so that revoking the grant revokes this token too
    /// ([`crate::refresh_tokens::revoke`]).
    pub grant_id: Option<&'a str>,
    /// The session store's epoch ([`crate::epoch`]), from [`Authz::current_epoch`].
    pub store_epoch: &'a str,
    /// `aud`: the resources (RFC 8707 §2) or exchange audiences (RFC 8693 §2.1) asked for;
    /// empty means the issuer.
    pub audience: &'a [String],
    /// RFC 8693 §4.1 `act` of a delegated token.
    pub act: Option<Value>,
    /// The token expires no later than this (RFC 8693: never after the subject token).
    pub not_after: Option<i64>,
    /// The organisation claims, when the scope has `organization`.
    pub org: Option<&'a OrgClaims>,
}

/// The claims of scope `organization`: the organisation of the sign-in and the user's role in
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrgClaims {
    pub org_id: String,
    pub org_slug: String,
    pub org_roles: Vec<String>,
}

impl OrgClaims {
    /// Adds `org_id`, `org_slug` and `org_roles` to an ID token's or userinfo's claims.
    pub(crate) fn insert_into(&self, claims: &mut Map<String, Value>) {
        claims.insert("org_id".to_owned(), Value::String(self.org_id.clone()));
        claims.insert("org_slug".to_owned(), Value::String(self.org_slug.clone()));
        claims.insert(
            "org_roles".to_owned(),
            Value::Array(self.org_roles.iter().cloned().map(Value::String).collect()),
        );
    }
}

/// What an ID token repeats about the login.
pub(crate) struct IdTokenRequest<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scopes: &'a [String],
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub sid: &'a str,
    pub amr: &'a [String],
    pub access_token: &'a str,
    /// The organisation claims, when the scope has `organization`.
    pub org: Option<&'a OrgClaims>,
}

impl Authz {
    pub(crate) fn mint_access_token(
        &self,
        request: AccessTokenRequest<'_>,
        now: i64,
    ) -> Result<String, OAuthError> {
        let settings = self.settings();
        let keys = self.key_set();
        let key = keys.active(settings.access_token_alg).ok_or_else(|| {
            OAuthError::server_error(
                "access token signing",
                &"no active key for the access token algorithm",
            )
        })?;
        let mut exp = now.saturating_add(settings.access_token_ttl.num_seconds());
        if let Some(not_after) = request.not_after {
            exp = exp.min(not_after);
        }
        let aud = if request.audience.is_empty() {
            vec![settings.issuer.clone()]
        } else {
            request.audience.to_vec()
        };
        let org = request.org;
        let claims = AccessTokenClaims {
            iss: settings.issuer.clone(),
            sub: request.sub.to_owned(),
            aud,
            client_id: request.client_id.to_owned(),
            scope: scope_string(request.scopes),
            iat: now,
            exp,
            jti: request.jti,
            auth_time: request.auth_time,
            sid: request.sid.map(str::to_owned),
            grant_id: request.grant_id.map(str::to_owned),
            store_epoch: Some(request.store_epoch.to_owned()),
            act: request.act,
            org_id: org.map(|org| org.org_id.clone()),
            org_slug: org.map(|org| org.org_slug.clone()),
            org_roles: org.map(|org| org.org_roles.clone()),
        };
        Ok(mint_access_token(key, &claims)?)
    }

    pub(crate) fn mint_id_token(
        &self,
        request: IdTokenRequest<'_>,
        now: i64,
    ) -> Result<String, OAuthError> {
        let settings = self.settings();
        let alg = Algorithm::from_name(&request.client.id_token_signed_response_alg).ok_or_else(
            || {
                OAuthError::server_error(
                    "ID token signing",
                    &format!(
                        "client {} registered unsupported id_token_signed_response_alg {:?}",
                        request.client.client_id, request.client.id_token_signed_response_alg
                    ),
                )
            },
        )?;
        let keys = self.key_set();
        let key = keys.active(alg).ok_or_else(|| {
            OAuthError::server_error("ID token signing", &format!("no active {alg} key"))
        })?;
        let claims = IdTokenClaims {
            iss: settings.issuer.clone(),
            sub: request.user.id.to_string(),
            aud: vec![request.client.client_id.clone()],
            iat: now,
            exp: now.saturating_add(settings.id_token_ttl.num_seconds()),
            auth_time: Some(request.auth_time),
            nonce: request.nonce,
            at_hash: Some(at_hash(request.access_token, alg)),
            amr: (!request.amr.is_empty()).then(|| request.amr.to_vec()),
            sid: Some(request.sid.to_owned()),
            azp: Some(request.client.client_id.clone()),
            extra: {
                let mut extra = user_claims(request.user, request.scopes);
                // OIDC Core §2: the level the authentication reached.
                extra.insert(
                    "acr".to_owned(),
                    Value::String(crate::acr::of_amr(request.amr).to_owned()),
                );
                if let Some(org) = request.org {
                    org.insert_into(&mut extra);
                }
                extra
            },
        };
        Ok(mint_id_token(key, &claims)?)
    }
}

/// The scope-dependent claims about `user` (OIDC Core §5.4), without `sub`.
pub(crate) fn user_claims(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    if has_scope(scopes, "profile") {
        claims.insert(
            "preferred_username".to_owned(),
            Value::String(user.username.clone()),
        );
        // Gatehouse keeps no separate display name; the username is what the user is known by.
        claims.insert("name".to_owned(), Value::String(user.username.clone()));
    }
    if has_scope(scopes, "email") {
        claims.insert("email".to_owned(), Value::String(user.email.clone()));
        claims.insert(
            "email_verified".to_owned(),
            Value::Bool(user.email_verified),
        );
    }
    claims
}
