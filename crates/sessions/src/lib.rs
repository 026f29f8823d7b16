//! Short-lived state of the authorization server: browser sessions now, authorization codes and
//! one-time tokens later.
//!
//! - [`store`]: the [`KvStore`] contract every kind of state is written against, its error type,
//!   and [`open_store`], which picks the backend from configuration.
//! - [`memory`]: [`MemoryStore`], in-process, for a single instance, development and tests.
//! - [`redis_store`]: [`RedisStore`], shared between instances, connecting lazily; on one Redis,
//!   a Redis Cluster or a Sentinel-watched master ([`redis_target`] reads which from the URL).
//! - [`browser`]: [`BrowserSessions`], the login session behind the session cookie.
//! - [`pending`]: [`PendingLogins`], sign-ins waiting for their second factor.
//! - [`rate_limit`]: [`RateLimiter`], request counters shared by every instance (RFC 6585 §4).
//!
//! Expiry is the store's job (a TTL on every write), so nothing here needs a cleanup job beyond
//! the memory store's sweeper.

pub mod browser;
pub mod memory;
pub mod pending;
pub mod rate_limit;
mod redis_connection;
pub mod redis_store;
pub mod redis_target;
pub mod store;

pub use browser::{
    BrowserSession, BrowserSessions, DEFAULT_MAX_PER_USER, LAST_SEEN_GRANULARITY, NewSession,
    SessionHandle,
};
pub use memory::MemoryStore;
pub use pending::{
    Attempt, MAX_SECOND_FACTOR_ATTEMPTS, PENDING_LOGIN_TTL, PendingLogin, PendingLogins,
    PendingPurpose,
};
pub use rate_limit::{RateDecision, RateLimiter, RateRule};
pub use redis_store::RedisStore;
pub use redis_target::{RedisTarget, WriteConfirmation};
pub use store::{DEFAULT_SWEEP_INTERVAL, KvStore, StoreError, open_store};
