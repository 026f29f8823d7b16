//! The authorization endpoint: authorization code flow with OpenID Connect.
//!
//! Implements RFC 6749 §4.1.1–4.1.2 and OIDC Core §3.1.2, in this order:
//!
//! 1. `client_id` and `redirect_uri` (each present once, the client known, the URI registered
//!    exactly — RFC 6749 §3.1.2.3, OIDC Core §3.1.2.1). Any failure here is an
//!    [`AuthorizeOutcome::ErrorPage`]: RFC 6749 §4.1.2.1 "MUST NOT automatically redirect the
//!    user-agent to the invalid redirection URI". That includes a client that could not be
//!    looked up (database down: a 503 page, not a 400); once the client and URI are verified, such
//!    failures redirect with `temporarily_unavailable` / `server_error` like any other.
//! 2. Everything else fails by redirecting with `error`, `error_description`, `state` and `iss`
//!    (RFC 6749 §4.1.2.1, RFC 9207 §2): repeated parameters (RFC 6749 §3.1 — a repeated
//!    parameter other than `client_id`/`redirect_uri` is an ordinary `invalid_request`, which
//!    §4.1.2.1 says to redirect; a repeated `state` is then not echoed), `request` /
//!    `request_uri` (OIDC Core §6, §3.1.2.6), `response_type` (only `code`), `response_mode`
//!    (only `query`, OAuth 2.0 Multiple Response Types §2.1), the client's grant types,
//!    `scope`, `resource` (RFC 8707 §2: repeatable, each registered for the client, else
//!    `invalid_target`; the code carries them to the access token's `aud`), PKCE (the `pkce`
//!    module), `prompt`, `max_age` (OIDC Core §3.1.2.1) and `organization` (slug or id; unknown,
//!    or another than the client's own organisation, is `invalid_request`; the
//!    `organizations` module).
//! 3. The login session: none → log in (`login_required` for `prompt=none`, OIDC Core
//!    §3.1.2.6); `prompt=login` / `prompt=select_account`, `max_age` exceeded, or a user no
//!    longer active → log in again. In an organisation's context (the `organization` parameter
//!    or the client's organisation) a user who is not a member, or an organisation that is
//!    disabled, is `access_denied`, audited as `org.sign_in_refused`. A session without the second factor the client requires
//!    (`require_2fa`) or the request asks for (`acr_values` naming [`acr::MULTI_FACTOR`]) is
//!    stepped up first (`interaction_required` for `prompt=none`: never a code without it).
//! 4. Consent (OIDC Core §3.1.2.4): first-party clients skip it; otherwise a remembered consent
//!    covering the scope does; `prompt=consent` always asks.
//! 5. A code bound to all of it (the `codes` module; the resources and the organisation too),
//!    returned as `code`, `state`, `iss`.
//!
//! Scope: there is no default; an absent or empty `scope` is `invalid_scope` (RFC 6749 §3.3
//! permits failing instead of defaulting), and a scope the client may not hold is refused, not
//! narrowed. `nonce` is optional for the code flow (OIDC Core §3.1.2.1) and carried to the ID
//! token when present. `login_hint`, `ui_locales`, `display`, `claims_locales`,
//! `id_token_hint` and `claims` are accepted and ignored (all optional to honour).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType, RequestContext};

use crate::acr;
use crate::codes::{self, AuthorizationCode, NONCE_EXTENSION, StoredExtension, StoredGrant};
use crate::error::{ErrorCode, OAuthError, sanitize_description};
use crate::organizations::ORGANIZATION_PARAM;
use crate::params::{ParamMap, Params, append_query, is_subset, parse_scope};
use crate::pkce;
use crate::registrar::ClientRegistrar;
use crate::resources;
use crate::service::Authz;
use crate::store::ttl;

/// The browser session the server found (`None` = not logged in).
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub user_id: uuid::Uuid,
    /// Unix seconds of the authentication (OIDC Core §2 `auth_time`).
    pub auth_time: i64,
    pub sid: String,
    /// Authentication method references (RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentDecision {
    NotAsked,
    Approved,
    Denied,
}

#[derive(Debug, Clone)]
pub enum AuthorizeOutcome {
    /// `client_id` unknown/missing or `redirect_uri` missing/unregistered/mismatched: render an
    /// HTML error page, NEVER redirect (RFC 6749 §4.1.2.1). `status` is 400, or 503 / 500 when
    /// the client could not be looked up (`temporarily_unavailable` / `server_error`).
    ErrorPage {
        error: String,
        description: String,
        status: u16,
    },
    /// 302 to this URL: success (`code`, `state`, `iss`) or an error (`error`,
    /// `error_description`, `state`, `iss` — RFC 9207 §2), query-encoded.
    Redirect { location: String },
    /// Not logged in (`force: false`), or `prompt=login`/`select_account`, `max_age` exceeded,
    /// or the session's user is no longer active (`force: true`): show the login page, then
    /// return to the authorize request. After a forced login the server must drop `prompt`'s
    /// `login`/`select_account` from the return URL, and should drop `max_age` too: with
    /// `max_age=0` a login that straddles a second boundary would otherwise loop, and the
    /// fresh `auth_time` in the ID token already tells the client how recent the login is.
    LoginRequired { force: bool },
    /// The session is live but lacks the second factor this request requires: step it up
    /// (or enrol the user first), then return to the authorize request.
    SecondFactorRequired,
    /// Ask the user; the consent page re-submits the same parameters with the decision.
    ConsentRequired {
        client_id: String,
        client_name: String,
        scopes: Vec<String>,
    },
}

/// The longest `nonce` we store with a code. OIDC Core sets no limit; this one keeps a client
/// from parking kilobytes in the store and is far above any real nonce.
const MAX_NONCE_LEN: usize = 512;

/// How a validated request continues when it does not fail.
enum Step {
    Code(String),
    Login { force: bool },
    SecondFactor,
    Consent { scopes: Vec<String> },
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Default, Clone, Copy)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
    select_account: bool,
}

impl Prompt {
    fn parse(value: Option<&str>) -> Result<Self, OAuthError> {
        let mut prompt = Prompt::default();
        let Some(value) = value else {
            return Ok(prompt);
        };
        let mut count = 0;
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            count += 1;
            match token {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => prompt.select_account = true,
                _ => {
                    return Err(OAuthError::invalid_request(format!(
                        "unsupported prompt value {token}"
                    )));
                }
            }
        }
        // OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an
        // error is returned."
        if prompt.none && count > 1 {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        Ok(prompt)
    }
}

/// Builds the client's redirect (RFC 6749 §4.1.2, §4.1.2.1, RFC 9207 §2).
struct Redirector<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    issuer: &'a str,
}

impl Redirector<'_> {
    fn success(&self, code: &str) -> AuthorizeOutcome {
        self.redirect(&[("code", code)])
    }

    fn error(&self, err: &OAuthError) -> AuthorizeOutcome {
        let description = sanitize_description(&err.description);
        self.redirect(&[
            ("error", err.code.as_str()),
            ("error_description", &description),
        ])
    }

    fn redirect(&self, pairs: &[(&str, &str)]) -> AuthorizeOutcome {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(pairs);
        if let Some(state) = self.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", self.issuer);
        AuthorizeOutcome::Redirect {
            location: append_query(self.redirect_uri, &query.finish()),
        }
    }
}

fn error_page(code: ErrorCode, description: &str) -> AuthorizeOutcome {
    AuthorizeOutcome::ErrorPage {
        error: code.as_str().to_owned(),
        description: description.to_owned(),
        status: 400,
    }
}

impl Authz {
    /// GET/POST /authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) outside an HTTP request:
    /// [`Authz::authorize_in_context`] with an empty request context (the audit trail then
    /// records no address or request id).
    pub async fn authorize(
        &self,
        params: &Params,
        session: Option<&AuthSession>,
        consent: ConsentDecision,
        now: DateTime<Utc>,
    ) -> AuthorizeOutcome {
        self.authorize_in_context(params, session, consent, &RequestContext::default(), now)
            .await
    }

    /// GET/POST /authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1); see the module docs for the
    /// order of checks. `ctx` is the HTTP request's, for the audit events a request causes (an
    /// organisation sign-in refused).
    #[tracing::instrument(skip_all, fields(user_id = session.map(|s| tracing::field::display(s.user_id))))]
    pub async fn authorize_in_context(
        &self,
        params: &Params,
        session: Option<&AuthSession>,
        consent: ConsentDecision,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> AuthorizeOutcome {
        let params = ParamMap::new(params);
        let (client, redirect_uri) = match self.authorize_client(&params).await {
            Ok(found) => found,
            Err(page) => return page,
        };
        let redirector = Redirector {
            redirect_uri: &redirect_uri,
            state: params
                .get("state")
                .filter(|_| !params.is_duplicated("state")),
            issuer: &self.settings().issuer,
        };
        match self
            .authorize_request(&params, &client, &redirect_uri, session, consent, ctx, now)
            .await
        {
            Ok(Step::Code(code)) => redirector.success(&code),
            Ok(Step::Login { force }) => AuthorizeOutcome::LoginRequired { force },
            Ok(Step::SecondFactor) => AuthorizeOutcome::SecondFactorRequired,
            Ok(Step::Consent { scopes }) => AuthorizeOutcome::ConsentRequired {
                client_id: client.client_id.clone(),
                client_name: client.name.clone(),
                scopes,
            },
            Err(err) => redirector.error(&err),
        }
    }

    /// Step 1: the client and its exact redirect URI, or an error page.
    async fn authorize_client(
        &self,
        params: &ParamMap<'_>,
    ) -> Result<(Arc<Client>, String), AuthorizeOutcome> {
        if params.is_duplicated("client_id") {
            return Err(error_page(
                ErrorCode::InvalidRequest,
                "client_id is repeated",
            ));
        }
        let Some(client_id) = params.get("client_id") else {
            return Err(error_page(
                ErrorCode::InvalidRequest,
                "client_id is missing",
            ));
        };
        let client = match self.find_client(client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => return Err(error_page(ErrorCode::InvalidClient, "unknown client_id")),
            Err(err) => {
                return Err(AuthorizeOutcome::ErrorPage {
                    error: err.code.as_str().to_owned(),
                    status: err.status(),
                    description: err.description,
                });
            }
        };
        if params.is_duplicated("redirect_uri") {
            return Err(error_page(
                ErrorCode::InvalidRequest,
                "redirect_uri is repeated",
            ));
        }
        let Some(requested) = params.get("redirect_uri") else {
            return Err(error_page(
                ErrorCode::InvalidRequest,
                "redirect_uri is missing",
            ));
        };
        let Some(redirect_uri) =
            ClientRegistrar::new(&client, self.secrets()).registered_redirect(requested)
        else {
            return Err(error_page(
                ErrorCode::InvalidRequest,
                "redirect_uri is not registered for this client",
            ));
        };
        Ok((client, redirect_uri))
    }

    /// Steps 2–5.
    #[expect(
        clippy::too_many_arguments,
        reason = "the verified request, the session, the user's answer, the audit context, the clock"
    )]
    async fn authorize_request(
        &self,
        params: &ParamMap<'_>,
        client: &Client,
        redirect_uri: &str,
        session: Option<&AuthSession>,
        consent: ConsentDecision,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<Step, OAuthError> {
        if let Some(name) = params.first_duplicate() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }
        if params.get("request").is_some() {
            return Err(OAuthError::new(
                ErrorCode::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "request_uri is not supported",
            ));
        }
        match params.get("response_type") {
            None => return Err(OAuthError::invalid_request("response_type is missing")),
            Some("code") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if params
            .get("response_mode")
            .is_some_and(|mode| mode != "query")
        {
            return Err(OAuthError::invalid_request(
                "only response_mode=query is supported",
            ));
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the authorization code grant",
            ));
        }
        let scopes = self.requested_scope(params, client, redirect_uri)?;
        // RFC 8707 §2: every `resource` must be one the client is registered for, else
        // `invalid_target`, returned like any other error once the redirect URI is verified.
        let resources = resources::requested(params, client)?;
        let challenge = pkce::challenge(
            params.get("code_challenge_method"),
            params.get("code_challenge"),
            client.is_public(),
        )
        .map_err(OAuthError::invalid_request)?;
        let prompt = Prompt::parse(params.get("prompt"))?;
        let max_age = parse_max_age(params.get("max_age"))?;
        let nonce = params.get("nonce");
        if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(OAuthError::invalid_request("nonce is too long"));
        }
        // The organisation of the sign-in (the `organizations` module): named or the client's.
        let organization = self
            .sign_in_organization(params.get(ORGANIZATION_PARAM), client)
            .await?;

        // Step 3: who is asking.
        let login_again = |force: bool| {
            if prompt.none {
                Err(OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the user must log in",
                ))
            } else {
                Ok(Step::Login { force })
            }
        };
        let Some(session) = session else {
            return login_again(false);
        };
        if prompt.login || prompt.select_account {
            return login_again(true);
        }
        // OIDC Core §3.1.2.1: "If the elapsed time is greater than this value, the OP MUST
        // attempt to actively re-authenticate the End-User", and (errata set 2) "max_age=0 is
        // equivalent to prompt=login" — even when the session is less than a second old.
        if max_age.is_some_and(|max_age| {
            max_age == 0 || now.timestamp().saturating_sub(session.auth_time) > max_age
        }) {
            return login_again(true);
        }
        let Some(user) = self
            .find_active_user(session.user_id, now.timestamp())
            .await?
        else {
            return login_again(true);
        };
        // Only members of an enabled organisation sign in in its context (before any step-up
        // or consent: neither would change the answer).
        if let Some(organization) = &organization {
            self.admit_to_organization(organization, user.id, &client.client_id, ctx, now)
                .await?;
        }
        // OIDC Core §3.1.2.1 `acr_values`, and the client's own requirement: a session that
        // has not passed a second factor gets no code until it does.
        let needs_second_factor =
            client.require_2fa || acr::requests_multi_factor(params.get("acr_values"));
        if needs_second_factor && !acr::is_multi_factor(&session.amr) {
            if prompt.none {
                // OIDC Core §3.1.2.6: the step-up needs the user, whom prompt=none rules out.
                return Err(OAuthError::new(
                    ErrorCode::InteractionRequired,
                    "this request needs a second factor the session has not passed",
                ));
            }
            return Ok(Step::SecondFactor);
        }

        // Step 4: consent.
        if consent == ConsentDecision::Denied {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user denied the request",
            ));
        }
        if consent == ConsentDecision::NotAsked
            && self.needs_consent(client, user.id, &scopes, prompt).await?
        {
            if prompt.none {
                return Err(OAuthError::new(
                    ErrorCode::ConsentRequired,
                    "the user must consent to this request",
                ));
            }
            return Ok(Step::Consent { scopes });
        }
        if consent == ConsentDecision::Approved && !client.first_party {
            self.remember_consent(user.id, &client.client_id, &scopes, now)
                .await?;
        }

        // Step 5: the code.
        let mut extensions = BTreeMap::new();
        if let Some(value) = challenge {
            extensions.insert(pkce::extension_name().to_owned(), value.into());
        }
        if let Some(nonce) = nonce {
            extensions.insert(
                NONCE_EXTENSION.to_owned(),
                StoredExtension::Public(Some(nonce.to_owned())),
            );
        }
        let settings = self.settings();
        let code = AuthorizationCode {
            grant: StoredGrant {
                owner_id: user.id.to_string(),
                client_id: client.client_id.clone(),
                scope: scopes,
                redirect_uri: redirect_uri.to_owned(),
                until: now
                    .timestamp()
                    .saturating_add(settings.code_ttl.num_seconds()),
                extensions,
            },
            auth_time: session.auth_time,
            sid: session.sid.clone(),
            amr: session.amr.clone(),
            resources,
            org_id: organization.map(|organization| organization.id),
        };
        match codes::issue(self.store(), &code, ttl(settings.code_ttl)).await? {
            Some(grant) => Ok(Step::Code(self.token_codec().code(grant))),
            None => Err(OAuthError::server_error(
                "authorization code",
                &"could not store a fresh code",
            )),
        }
    }

    /// The requested scope, which must be non-empty, well-formed and entirely allowed for the
    /// client (RFC 6749 §3.3, §4.1.2.1 `invalid_scope`).
    fn requested_scope(
        &self,
        params: &ParamMap<'_>,
        client: &Client,
        redirect_uri: &str,
    ) -> Result<Vec<String>, OAuthError> {
        let requested = params
            .get("scope")
            .map(|value| {
                parse_scope(value).ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))
            })
            .transpose()?
            .unwrap_or_default();
        if requested.is_empty() {
            return Err(OAuthError::invalid_scope("scope is required"));
        }
        let granted = ClientRegistrar::new(client, self.secrets())
            .negotiate_scope(&requested, redirect_uri)
            .ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))?;
        if let Some(refused) = requested.iter().find(|s| !granted.contains(s)) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {refused} is not allowed for this client"
            )));
        }
        Ok(granted)
    }

    async fn needs_consent(
        &self,
        client: &Client,
        user_id: uuid::Uuid,
        scopes: &[String],
        prompt: Prompt,
    ) -> Result<bool, OAuthError> {
        if prompt.consent {
            return Ok(true);
        }
        if client.first_party {
            return Ok(false);
        }
        let client_id = client.client_id.clone();
        let remembered = self
            .db(move |db| db.find_consent(user_id, &client_id))
            .await?;
        Ok(!remembered.is_some_and(|granted| is_subset(scopes, &granted)))
    }

    /// Stores the consent; the identity store keeps the union with what was granted before.
    async fn remember_consent(
        &self,
        user_id: uuid::Uuid,
        client_id: &str,
        scopes: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), OAuthError> {
        let client_id = client_id.to_owned();
        let scopes = scopes.to_vec();
        self.db(move |db| db.grant_consent(user_id, &client_id, &scopes, now))
            .await?;
        Ok(())
    }
}

/// OIDC Core §3.1.2.1: `max_age` is a non-negative number of seconds.
fn parse_max_age(value: Option<&str>) -> Result<Option<i64>, OAuthError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OAuthError::invalid_request(
            "max_age must be a non-negative integer",
        ));
    }
    // Digits beyond i64 mean "practically forever", not an error.
    Ok(Some(value.parse::<i64>().unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_none_combined_with_anything_is_invalid() {
        assert!(Prompt::parse(Some("none login")).is_err());
        assert!(Prompt::parse(Some("none")).unwrap().none);
        assert!(Prompt::parse(Some("bogus")).is_err());
        let both = Prompt::parse(Some("login consent")).unwrap();
        assert!(both.login && both.consent);
    }

    #[test]
    fn max_age_is_a_non_negative_integer() {
        assert_eq!(parse_max_age(Some("0")).unwrap(), Some(0));
        assert_eq!(parse_max_age(None).unwrap(), None);
        assert!(parse_max_age(Some("-1")).is_err());
        assert!(parse_max_age(Some("+5")).is_err());
        assert!(parse_max_age(Some("1.5")).is_err());
        assert_eq!(
            parse_max_age(Some("99999999999999999999")).unwrap(),
            Some(i64::MAX)
        );
    }

    #[test]
    fn redirects_keep_the_registered_query_and_add_state_and_iss() {
        let redirector = Redirector {
            redirect_uri: "https://rp.example/cb?x=1",
            state: Some("a b&c"),
            issuer: "https://issuer.example",
        };
        let AuthorizeOutcome::Redirect { location } = redirector.success("CODE") else {
            panic!("not a redirect");
        };
        assert_eq!(
            location,
            "https://rp.example/cb?x=1&code=CODE&state=a+b%26c&iss=https%3A%2F%2Fissuer.example"
        );
    }
}
