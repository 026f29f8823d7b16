//! The device authorization grant (RFC 8628) for input-constrained clients: the device
//! authorization endpoint (§3.1–3.2) and the user's verification (§3.3). The token endpoint's
//! side (§3.4–3.5) is `crate::token::device_code`.
//!
//! - §3.1: the client authenticates as at the token endpoint (confidential clients with their
//!   secret, public clients by `client_id`; [`crate::client_auth`]), must be registered for the
//!   grant (`unauthorized_client` otherwise), and asks for a scope, which is checked as the
//!   authorization endpoint checks it: required, well-formed, every token allowed for the
//!   client, never narrowed silently (`invalid_scope`). `resource` (RFC 8707 §2) is checked
//!   as at the authorization endpoint (`invalid_target`) and kept for the tokens' `aud`.
//! - §3.2: the answer carries `device_code`, `user_code`, `verification_uri`,
//!   `verification_uri_complete`, `expires_in` (600) and `interval` (5).
//! - §5.2: the device code is 256 bits from the OS random source and is stored only as its
//!   SHA-256, so a copy of the store cannot be polled with. The user code ([`user_code`], §6.1)
//!   is keyed by its SHA-256 too and never stored in clear; it is short (34.6 bits), so §5.1's
//!   defence is the server's limit on wrong entries per address and per session, and its 600 s
//!   life.
//! - §3.3: the user signs in (with the second factor the client requires), enters or confirms
//!   the code, sees who asks for what, and allows or denies. `verification_uri_complete` only
//!   fills the code in; nothing is approved without the user's explicit choice (§5.4). Allowing
//!   is the user's consent to the client and is remembered like the consent page's.
//! - Organisations (`crate::organizations`): the device authorization request may name one
//!   (`organization`, slug or id), and a client of an organisation always signs in in its
//!   own. Only members of an enabled organisation can see, allow or deny such a request; for
//!   anyone else the page answers `access_denied` and the request waits for the right user.
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `device:<SHA-256 of the device code, hex>` | `state::DeviceRecord` | until expiry + 10 min |
//! | `device_user:<SHA-256 of the canonical user code, hex>` | the device key's hash | until expiry |

pub mod state;
pub mod user_code;

use std::time::Duration as StdDuration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use gatehouse_identity::{Client, GrantType, RequestContext, organizations};
use gatehouse_sessions::{KvStore, StoreError};
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::acr;
use crate::authorize::AuthSession;
use crate::client_auth::{ClientCredentials, authenticated_form};
use crate::error::OAuthError;
use crate::organizations::ORGANIZATION_PARAM;
use crate::params::{Params, parse_scope};
use crate::resources;
use crate::service::Authz;
use crate::store::ttl_until;
use state::{DeviceRecord, DeviceState, EXPIRES_IN_SECS, INTERVAL_SECS, Undecidable};

/// How long a record outlives its expiry, so that a late poll hears `expired_token` rather
/// than `invalid_grant`.
const RETAIN_AFTER_EXPIRY_SECS: i64 = 600;
/// Fresh user codes to try when one is taken (one in 2.6·10^10 per live request).
const ISSUE_ATTEMPTS: usize = 5;
/// Compare-and-swap retries when a poll or a decision races another write of the record.
const SWAP_ATTEMPTS: usize = 4;

fn digest_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The store key of a device code: its SHA-256, so a dump of the store holds no usable code.
pub(crate) fn device_key(device_code: &str) -> String {
    device_key_of_hash(&digest_hex(device_code))
}

fn device_key_of_hash(hash: &str) -> String {
    format!("device:{hash}")
}

fn user_code_key(canonical: &str) -> String {
    format!("device_user:{}", digest_hex(canonical))
}

/// A device authorization request as the verification page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    /// `XXXX-XXXX`.
    pub user_code: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// When the device asked (Unix seconds).
    pub requested_at: i64,
    /// The name of the organisation the request signs in to (the client's, or the one the
    /// device named), shown on the confirmation page.
    pub organization: Option<String>,
}

/// What the user does on the verification page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAction {
    /// Look the code up and show the request.
    Show,
    Approve,
    Deny,
}

/// Why a user code does not lead to a request the user can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCodeRefusal {
    /// Not a code we issued (or malformed).
    Unknown,
    Expired,
    /// Allowed or denied already.
    Decided,
}

/// The verification page's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// Show the request with Allow and Deny.
    Confirm(DeviceRequest),
    Approved(DeviceRequest),
    Denied(DeviceRequest),
    /// A wrong code: the caller counts it against its rate limits.
    Refused(DeviceCodeRefusal),
    /// The client requires a second factor the session has not passed: step up, then return.
    SecondFactorRequired,
    /// The session's user may no longer use the service (locked, disabled): sign in again.
    LoginRequired,
}

/// A record as read, with the bytes a swap must match.
struct Read {
    record: DeviceRecord,
    raw: Vec<u8>,
}

async fn read(store: &dyn KvStore, key: &str) -> Result<Option<Read>, StoreError> {
    let Some(raw) = store.get(key).await? else {
        return Ok(None);
    };
    let record = serde_json::from_slice(&raw).map_err(|e| {
        StoreError::Corrupt(format!("value under {key:?} is not what we wrote: {e}"))
    })?;
    Ok(Some(Read { record, raw }))
}

/// Replaces the record read with `next`, keeping its TTL horizon; false if it changed since.
async fn swap(
    store: &dyn KvStore,
    key: &str,
    raw: &[u8],
    next: &DeviceRecord,
    now: i64,
) -> Result<bool, StoreError> {
    let bytes =
        serde_json::to_vec(next).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))?;
    store
        .replace_if(key, raw, &bytes, record_ttl(next, now))
        .await
}

fn record_ttl(record: &DeviceRecord, now: i64) -> StdDuration {
    ttl_until(
        record.expires_at.saturating_add(RETAIN_AFTER_EXPIRY_SECS),
        now,
    )
}

/// Reads the record a device code names, and swaps it along [`DeviceRecord`]'s transitions.
pub(crate) struct DeviceRecords<'a> {
    store: &'a dyn KvStore,
    key: String,
}

impl<'a> DeviceRecords<'a> {
    pub(crate) fn for_device_code(store: &'a dyn KvStore, device_code: &str) -> Self {
        Self {
            store,
            key: device_key(device_code),
        }
    }

    /// The record and its raw bytes, `None` when the code is unknown or long gone.
    pub(crate) async fn read(&self) -> Result<Option<(DeviceRecord, Vec<u8>)>, StoreError> {
        Ok(read(self.store, &self.key)
            .await?
            .map(|read| (read.record, read.raw)))
    }

    pub(crate) async fn swap(
        &self,
        raw: &[u8],
        next: &DeviceRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        swap(self.store, &self.key, raw, next, now).await
    }
}

/// 256 bits from the OS random source, base64url.
fn new_device_code() -> Result<String, OAuthError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|err| OAuthError::server_error("device code", &err))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The requested scope, checked by the authorization endpoint's rules (RFC 6749 §3.3):
/// required, well-formed, and entirely allowed for the client.
fn requested_scope(value: Option<&str>, client: &Client) -> Result<Vec<String>, OAuthError> {
    let requested = value
        .map(|value| {
            parse_scope(value).ok_or_else(|| OAuthError::invalid_scope("scope is malformed"))
        })
        .transpose()?
        .unwrap_or_default();
    if requested.is_empty() {
        return Err(OAuthError::invalid_scope("scope is required"));
    }
    if let Some(refused) = requested.iter().find(|s| !client.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {refused} is not allowed for this client"
        )));
    }
    Ok(requested)
}

impl Authz {
    /// POST /device_authorization (RFC 8628 §3.1–3.2); see the module docs. The JSON answer.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn device_authorization(
        &self,
        form: &Params,
        auth: ClientCredentials,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let (form, client) = authenticated_form(self, form, &auth).await?;
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(OAuthError::unauthorized_client(
                "the client may not use the device authorization grant",
            ));
        }
        let scopes = requested_scope(form.get("scope"), &client)?;
        // RFC 8707 §2: `resource` on the device authorization request, as on an authorization
        // request; a resource the client is not registered for is `invalid_target`.
        let resources = resources::requested(&form, &client)?;
        // The organisation the user will sign in in, as at the authorization endpoint; its
        // membership rule applies when the user decides (`verify_device`).
        let organization = self
            .sign_in_organization(form.get(ORGANIZATION_PARAM), &client)
            .await?;
        let org_id = organization.map(|organization| organization.id);
        let now = now.timestamp();
        let device_code = new_device_code()?;
        let device_hash = digest_hex(&device_code);
        let device_key = device_key_of_hash(&device_hash);
        let expires_at = now.saturating_add(EXPIRES_IN_SECS);
        let store = self.store();
        for _ in 0..ISSUE_ATTEMPTS {
            let user_code =
                user_code::generate().map_err(|err| OAuthError::server_error("user code", &err))?;
            let record = DeviceRecord {
                client_id: client.client_id.clone(),
                scopes: scopes.clone(),
                requested_at: now,
                expires_at,
                interval: INTERVAL_SECS,
                last_poll: None,
                state: DeviceState::Pending,
                resources: resources.clone(),
                org_id,
            };
            // The user code first: a taken one is drawn again before the device code exists.
            if !store
                .put_if_absent(
                    &user_code_key(&user_code),
                    device_hash.as_bytes(),
                    ttl_until(expires_at, now),
                )
                .await?
            {
                continue;
            }
            let bytes = serde_json::to_vec(&record)
                .map_err(|err| OAuthError::server_error("device record", &err))?;
            if !store
                .put_if_absent(&device_key, &bytes, record_ttl(&record, now))
                .await?
            {
                return Err(OAuthError::server_error(
                    "device code",
                    &"a fresh device code was already taken",
                ));
            }
            let verification_uri = format!("{}/device", self.settings().issuer);
            let display = user_code::display(&user_code);
            let mut complete = url::form_urlencoded::Serializer::new(String::new());
            complete.append_pair("user_code", &display);
            return Ok(json!({
                "device_code": device_code,
                "user_code": display,
                "verification_uri_complete": format!("{verification_uri}?{}", complete.finish()),
                "verification_uri": verification_uri,
                "expires_in": EXPIRES_IN_SECS,
                "interval": INTERVAL_SECS,
            }));
        }
        Err(OAuthError::server_error(
            "user code",
            &"no free user code after several attempts",
        ))
    }

    /// [`Authz::verify_device_in_context`] outside an HTTP request (an empty request context
    /// for the audit trail).
    pub async fn verify_device(
        &self,
        entered: &str,
        session: &AuthSession,
        action: DeviceAction,
        now: DateTime<Utc>,
    ) -> Result<DeviceOutcome, OAuthError> {
        self.verify_device_in_context(entered, session, action, &RequestContext::default(), now)
            .await
    }

    /// The verification page (RFC 8628 §3.3): shows, allows or denies the request the user
    /// code names, for the signed-in `session`. A code that cannot be acted on is
    /// [`DeviceOutcome::Refused`]; the server counts those against its rate limits. A request
    /// in an organisation's context is for its members only: anyone else, or anyone while the
    /// organisation is disabled, gets `access_denied` (audited with `ctx`) and the request
    /// stays pending for the right user.
    #[tracing::instrument(level = "debug", skip_all, fields(user_id = %session.user_id))]
    pub async fn verify_device_in_context(
        &self,
        entered: &str,
        session: &AuthSession,
        action: DeviceAction,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<DeviceOutcome, OAuthError> {
        let now_secs = now.timestamp();
        let Some(canonical) = user_code::normalize(entered) else {
            return Ok(DeviceOutcome::Refused(DeviceCodeRefusal::Unknown));
        };
        let store = self.store();
        let index_key = user_code_key(&canonical);
        let Some(hash) = store.get(&index_key).await? else {
            return Ok(DeviceOutcome::Refused(DeviceCodeRefusal::Unknown));
        };
        let key = device_key_of_hash(&String::from_utf8_lossy(&hash));
        for _ in 0..SWAP_ATTEMPTS {
            let Some(Read { record, raw }) = read(store, &key).await? else {
                return Ok(DeviceOutcome::Refused(DeviceCodeRefusal::Unknown));
            };
            if let Err(why) = record.decidable(now_secs) {
                return Ok(DeviceOutcome::Refused(match why {
                    Undecidable::Expired => DeviceCodeRefusal::Expired,
                    Undecidable::Decided => DeviceCodeRefusal::Decided,
                }));
            }
            // A client disabled or deleted since the device asked is gone for the user too.
            let Some(client) = self.find_client(&record.client_id).await? else {
                return Ok(DeviceOutcome::Refused(DeviceCodeRefusal::Unknown));
            };
            if self
                .find_active_user(session.user_id, now_secs)
                .await?
                .is_none()
            {
                return Ok(DeviceOutcome::LoginRequired);
            }
            let organization = match record.org_id {
                None => None,
                Some(org_id) => {
                    let found = self
                        .db(move |db| organizations::find(db, &org_id.to_string()))
                        .await?;
                    // Deleted since the device asked (only possible without clients): no
                    // organisation to sign in to any more.
                    let Some(organization) = found else {
                        return Ok(DeviceOutcome::Refused(DeviceCodeRefusal::Unknown));
                    };
                    self.admit_to_organization(
                        &organization,
                        session.user_id,
                        &client.client_id,
                        ctx,
                        now,
                    )
                    .await?;
                    Some(organization)
                }
            };
            if client.require_2fa && !acr::is_multi_factor(&session.amr) {
                return Ok(DeviceOutcome::SecondFactorRequired);
            }
            let request = DeviceRequest {
                user_code: user_code::display(&canonical),
                client_id: client.client_id.clone(),
                client_name: client.name.clone(),
                scopes: record.scopes.clone(),
                requested_at: record.requested_at,
                organization: organization.map(|organization| organization.name),
            };
            let next = match action {
                DeviceAction::Show => return Ok(DeviceOutcome::Confirm(request)),
                DeviceAction::Approve => record.decided(DeviceState::Approved {
                    user_id: session.user_id,
                    auth_time: session.auth_time,
                    sid: session.sid.clone(),
                    amr: session.amr.clone(),
                }),
                DeviceAction::Deny => record.decided(DeviceState::Denied),
            };
            if !swap(store, &key, &raw, &next, now_secs).await? {
                // A poll wrote the record meanwhile (or another tab decided): read it again.
                continue;
            }
            // Decided: the user code has done its job and cannot be looked up again.
            store.delete(&index_key).await?;
            if action == DeviceAction::Deny {
                return Ok(DeviceOutcome::Denied(request));
            }
            if !client.first_party {
                let (user_id, client_id, scopes) = (
                    session.user_id,
                    client.client_id.clone(),
                    record.scopes.clone(),
                );
                self.db(move |db| db.grant_consent(user_id, &client_id, &scopes, now))
                    .await?;
            }
            return Ok(DeviceOutcome::Approved(request));
        }
        Err(OAuthError::server_error(
            "device verification",
            &"the request kept changing under the decision",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_hashes_never_the_codes() {
        let code = "a-device-code";
        let key = device_key(code);
        assert!(!key.contains(code));
        assert_eq!(key.len(), "device:".len() + 64);
        assert!(!user_code_key("WDJBMJHT").contains("WDJBMJHT"));
    }

    #[test]
    fn device_codes_carry_256_bits() {
        let code = new_device_code().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&code).unwrap().len(), 32);
        assert_ne!(code, new_device_code().unwrap());
    }

    fn client(scopes: &[&str]) -> Client {
        Client {
            org_id: None,
            resources: Vec::new(),
            exchange_audiences: Vec::new(),
            allow_impersonation: false,
            client_id: "c".into(),
            name: "TV".into(),
            client_type: gatehouse_identity::ClientType::Public,
            secret_hash: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::DeviceCode],
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            token_endpoint_auth_method: gatehouse_identity::TokenEndpointAuthMethod::None,
            id_token_signed_response_alg: "RS256".into(),
            first_party: false,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            require_2fa: false,
            enabled: true,
        }
    }

    #[test]
    fn scope_is_required_and_must_be_allowed() {
        let tv = client(&["openid", "profile"]);
        assert_eq!(
            requested_scope(Some("openid profile openid"), &tv).unwrap(),
            vec!["openid".to_owned(), "profile".to_owned()]
        );
        for bad in [None, Some(""), Some("openid email"), Some("open\"id")] {
            let err = requested_scope(bad, &tv).unwrap_err();
            assert_eq!(err.code, crate::error::ErrorCode::InvalidScope, "{bad:?}");
        }
    }
}
