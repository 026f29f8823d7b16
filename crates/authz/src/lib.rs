//! The OAuth 2.0 / OpenID Connect protocol core of Gatehouse, without HTTP.
//!
//! The server maps each endpoint's request to one call on [`Authz`] and maps the result to a
//! response; nothing here knows which web framework does that. Time is always a parameter.
//!
//! | module | endpoint / concern | specification |
//! |---|---|---|
//! | [`authorize`] | `/authorize` | RFC 6749 §3.1, §4.1.1–4.1.2; RFC 9207 §2; OIDC Core §3.1.2 |
//! | [`device`] | `/device_authorization` and the user's verification | RFC 8628 §3.1–3.3, §5, §6.1 |
//! | `token` | `/token` (code, refresh, client credentials, device code) | RFC 6749 §3.2, §4.1.3, §4.4, §5, §6; RFC 7636 §4.5–4.6; RFC 8628 §3.4–3.5; RFC 9068; RFC 9700 §4.14; OIDC Core §3.1.3, §12 |
//! | `introspect` | `/introspect` | RFC 7662 §2 |
//! | `revoke` | `/revoke` | RFC 7009 §2 |
//! | `userinfo` | `/userinfo` | OIDC Core §5.3; RFC 6750 §3 |
//! | [`logout`] | `/logout` request validation | OpenID Connect RP-Initiated Logout 1.0 §2–3 |
//! | [`backchannel`] | logout tokens queued, claimed and retried (the server's worker POSTs them) | OpenID Connect Back-Channel Logout 1.0 §2.4, §2.5, §2.8 |
//! | [`client_auth`] | client authentication | RFC 6749 §2.3.1, §3.2.1 |
//! | `registrar` | redirect URI and scope rules per client | RFC 6749 §3.1.2.3, §3.3 |
//! | `pkce` | code challenge and verifier | RFC 7636 §4; RFC 9700 §2.1.1 |
//! | [`error`] | the protocol error type and its HTTP mapping | RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3 |
//!
//! # What oxide-auth does here, and what it cannot
//!
//! The project builds on oxide-auth 0.6 where it fits: `registrar::ClientRegistrar` implements
//! its `Registrar` trait over our stored clients (exact redirect match, scope negotiation,
//! secret check), the authorization code's payload is its `Grant` mirrored into a serde struct
//! (`codes::StoredGrant`; `Grant` itself is not `Serialize`), and the S256 comparison is its
//! `Pkce` extension. Its endpoint flows are NOT used: they know nothing of OpenID Connect (no
//! `id_token`, `nonce`, `prompt`, `max_age`, userinfo or logout), answer every internal failure
//! with a bare 500 instead of the RFC 6749 §5.2 error, write a fixed token response without
//! `id_token`, and cannot express single-use codes with reuse revocation (RFC 6749 §4.1.2) or
//! race-free refresh rotation (RFC 9700 §4.14.2) over a shared store. Those flows are driven by
//! the code in this crate instead.
//!
//! # State
//!
//! Short-lived protocol state lives in the [`gatehouse_sessions::KvStore`] (codes, refresh-token
//! families, revocation markers, the access-token denylist), always with a TTL; the `store`
//! module documents the key layout, and `epoch` why losing all of it revokes rather than revives. Durable data (clients, users, consents) is read from the
//! identity database on the blocking pool; client registrations are then kept for a few seconds
//! (`cache`). Access tokens whose signature passed are remembered by their hash so the same
//! token is not verified twice (`verified_tokens`); revocation is still checked every time.

pub mod acr;
pub mod authorize;
pub mod backchannel;
mod bearer;
pub mod client_auth;
pub mod device;
pub mod error;
pub mod logout;
pub mod params;
pub mod settings;

mod cache;
mod codes;
mod denylist;
mod epoch;
mod grant_ids;
mod introspect;
mod organizations;
mod pkce;
mod refresh_tokens;
mod registrar;
mod resources;
mod revoke;
mod service;
mod session_grants;
mod store;
mod token;
mod tokens;
mod userinfo;
mod verified_tokens;

pub use authorize::{AuthSession, AuthorizeOutcome, ConsentDecision};
pub use backchannel::{
    BackchannelLogoutError, DeliveryDisposition, DeliveryOutcome, LogoutDelivery,
};
pub use bearer::{BearerGrant, BearerSubject};
pub use client_auth::ClientCredentials;
pub use device::{DeviceAction, DeviceCodeRefusal, DeviceOutcome, DeviceRequest};
pub use error::{BearerError, ErrorCode, OAuthError};
pub use logout::LogoutRequest;
pub use params::Params;
pub use service::Authz;
pub use session_grants::{EndedGrants, RevokedGrant, UserGrant};
pub use settings::{AuthzSettings, BackchannelLogoutSettings};
