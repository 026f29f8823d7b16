//! [`Authz`]: the handle the server holds, and the plumbing every flow shares (blocking
//! database calls, the current key set, access-token verification).
//!
//! The endpoint methods themselves live with their flows (`authorize.rs`, `token/`, ...).

use std::sync::Arc;

use gatehouse_identity::{
    Client, ClientSecretHasher, Database, IdentityError, User, UserStatus, is_plausible_client_id,
};
use gatehouse_sessions::KvStore;
use gatehouse_tokens::keystore::KeyManager;
use gatehouse_tokens::{
    AccessTokenClaims, KeySet, TokenError, Validation, verify_access_token_for_reuse,
};

use crate::cache::{CLIENT_CACHE_TTL, ClientCache, UserCache};
use crate::epoch::StoreEpoch;
use crate::error::OAuthError;
use crate::grant_ids::{GrantId, TokenCodec};
use crate::refresh_tokens::{self, FamilyRecord};
use crate::settings::AuthzSettings;
use crate::verified_tokens::VerifiedTokenCache;

/// Whether an account may be served: `Active`, or `Locked` with the lock already over (the
/// stored status only returns to `Active` at the next login, and the identity crate's login
/// rules treat an elapsed lock as open too). `Disabled` never.
pub(crate) fn is_active(user: &User, now: i64) -> bool {
    match user.status {
        UserStatus::Active => true,
        UserStatus::Locked => user
            .locked_until
            .is_some_and(|until| until.timestamp() <= now),
        UserStatus::Disabled => false,
    }
}

/// Cheap to clone: one `Arc` around everything the flows need.
#[derive(Clone)]
pub struct Authz {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AuthzSettings,
    db: Database,
    store: Arc<dyn KvStore>,
    keys: Arc<KeyManager>,
    secrets: ClientSecretHasher,
    clients: ClientCache,
    users: UserCache,
    verified_tokens: VerifiedTokenCache,
    token_codec: TokenCodec,
    epoch: StoreEpoch,
}

impl Authz {
    pub fn new(
        settings: AuthzSettings,
        db: Database,
        store: Arc<dyn KvStore>,
        keys: Arc<KeyManager>,
        secrets: ClientSecretHasher,
    ) -> Self {
        let user_cache_ttl = settings.user_cache_ttl;
        let verified_tokens = VerifiedTokenCache::new(settings.verified_token_cache_entries);
        let token_codec = TokenCodec::new(keys.derive_secret("code-and-refresh-token-hmac-sha256"));
        Self {
            inner: Arc::new(Inner {
                settings,
                db,
                store,
                keys,
                secrets,
                clients: ClientCache::new(CLIENT_CACHE_TTL),
                users: UserCache::new(user_cache_ttl),
                verified_tokens,
                token_codec,
                epoch: StoreEpoch::default(),
            }),
        }
    }

    pub fn settings(&self) -> &AuthzSettings {
        &self.inner.settings
    }

    pub(crate) fn store(&self) -> &dyn KvStore {
        self.inner.store.as_ref()
    }

    /// Reads the session store's epoch (creating it in a store that has none) and remembers it;
    /// the server calls this at start and about once a second, so that an instance notices a
    /// store that lost its state. See [`crate::epoch`].
    pub async fn sync_store_epoch(&self) -> Result<(), gatehouse_sessions::StoreError> {
        self.inner.epoch.sync(self.store()).await.map(drop)
    }

    pub(crate) fn epoch(&self) -> &StoreEpoch {
        &self.inner.epoch
    }

    /// The epoch new access tokens name: the one last seen, else read from the store now.
    pub(crate) async fn current_epoch(&self) -> Result<Arc<str>, OAuthError> {
        match self.inner.epoch.current() {
            Some(epoch) => Ok(epoch),
            None => Ok(self.inner.epoch.sync(self.store()).await?),
        }
    }

    /// Makes and reads authorization codes and refresh tokens.
    pub(crate) fn token_codec(&self) -> &TokenCodec {
        &self.inner.token_codec
    }

    pub(crate) fn secrets(&self) -> &ClientSecretHasher {
        &self.inner.secrets
    }

    pub(crate) fn key_set(&self) -> Arc<KeySet> {
        self.inner.keys.current()
    }

    /// Runs a blocking database call on tokio's blocking pool, so that a slow database never
    /// stalls the async workers.
    pub(crate) async fn db<T, F>(&self, call: F) -> Result<T, IdentityError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, IdentityError> + Send + 'static,
    {
        self.inner.db.run(call).await
    }

    /// The display name of a registered client (a logout confirmation names who asked), from
    /// the same short-lived cache as every other client lookup. `None` for an unknown client
    /// or when the lookup fails: the name is a courtesy, never a decision.
    pub async fn client_name(&self, client_id: &str) -> Option<String> {
        match self.find_client(client_id).await {
            Ok(client) => client.map(|client| client.name.clone()),
            Err(err) => {
                tracing::debug!(%client_id, error = %err.description, "client name lookup failed");
                None
            }
        }
    }

    /// The redirect URIs a registered, enabled client registered (a page whose form leads on to
    /// the client names their origins in its CSP `form-action`), from the same cache. Empty for
    /// an unknown client or when the lookup fails: the page then allows only its own origin.
    pub async fn client_redirect_uris(&self, client_id: &str) -> Vec<String> {
        match self.find_client(client_id).await {
            Ok(client) => client.map_or_else(Vec::new, |client| client.redirect_uris.clone()),
            Err(err) => {
                tracing::debug!(%client_id, error = %err.description, "client lookup failed");
                Vec::new()
            }
        }
    }

    /// The registered client, from the [`ClientCache`] when it was read recently. An id no
    /// client can have (a NUL or other control character, non-ASCII, over-long: see
    /// [`is_plausible_client_id`]) is unknown without a lookup; every caller (client
    /// authentication, authorization, logout) then answers as for any unknown client. So is
    /// a client an administrator disabled (`Client::enabled`): `/authorize` shows its error
    /// page, `/token` answers `invalid_client`, its tokens stop passing introspection, and
    /// no back-channel logout is sent to it.
    pub(crate) async fn find_client(
        &self,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, OAuthError> {
        if !is_plausible_client_id(client_id) {
            return Ok(None);
        }
        let cache = &self.inner.clients;
        if let Some(client) = cache.get(client_id, std::time::Instant::now()) {
            return Ok(Some(client).filter(|client| client.enabled));
        }
        let id = client_id.to_owned();
        let found = self.db(move |db| db.find_client(&id)).await?.map(Arc::new);
        if let Some(client) = &found {
            cache.insert(
                client.client_id.clone(),
                Arc::clone(client),
                std::time::Instant::now(),
            );
        }
        Ok(found.filter(|client| client.enabled))
    }

    /// Drops this instance's cached copy of the client, after a change this instance made
    /// (an edit, a disabled client, a rotated secret, a deletion): the next request sees it at
    /// once here; other instances within [`crate::cache::CLIENT_CACHE_TTL`] (5 s).
    pub fn forget_client(&self, client_id: &str) {
        self.inner.clients.remove(&client_id.to_owned());
    }

    /// Drops this instance's cached copy of the user, after a change this instance made (a
    /// verified address): the next token shows it at once here; other instances within
    /// `user_cache_ttl`.
    pub fn forget_user(&self, id: uuid::Uuid) {
        self.inner.users.remove(&id);
    }

    /// The user, from the [`UserCache`] when it was read recently.
    pub(crate) async fn find_user(&self, id: uuid::Uuid) -> Result<Option<Arc<User>>, OAuthError> {
        let cache = &self.inner.users;
        if let Some(user) = cache.get(&id, std::time::Instant::now()) {
            return Ok(Some(user));
        }
        let found = self
            .db(move |db| db.find_user_by_id(id))
            .await?
            .map(Arc::new);
        if let Some(user) = &found {
            cache.insert(id, Arc::clone(user), std::time::Instant::now());
        }
        Ok(found)
    }

    /// The user, if it exists and may use tokens at `now` (Unix seconds); see [`is_active`].
    pub(crate) async fn find_active_user(
        &self,
        id: uuid::Uuid,
        now: i64,
    ) -> Result<Option<Arc<User>>, OAuthError> {
        Ok(self
            .find_user(id)
            .await?
            .filter(|user| is_active(user, now)))
    }

    /// The grant and family of a refresh token that is its family's live one: ours, not
    /// rotated away, family not revoked. Its expiry is the caller's to check.
    pub(crate) async fn live_refresh_family(
        &self,
        token: &str,
    ) -> Result<Option<(GrantId, FamilyRecord)>, OAuthError> {
        let Some((grant, generation)) = self.token_codec().parse_refresh_token(token) else {
            return Ok(None);
        };
        Ok(refresh_tokens::find(self.store(), grant)
            .await?
            .map(|stored| stored.record)
            .filter(|record| record.generation == generation)
            .map(|record| (grant, record)))
    }

    /// The latest expiry an access token issued at `now` (Unix seconds) can have.
    pub(crate) fn latest_access_token_exp(&self, now: i64) -> i64 {
        now.saturating_add(self.inner.settings.access_token_ttl.num_seconds())
    }

    /// Verifies one of our access tokens whatever its audience: signature by a published key,
    /// `typ` `at+jwt`, `iss`, `exp`/`nbf`/`iat` (RFC 9068 §4 without its audience step). The
    /// audience is the resource's to check: Gatehouse's own APIs want the issuer in `aud`
    /// (the `bearer` module), while introspection, revocation and token exchange take tokens
    /// addressed to other resources too (RFC 8707, RFC 8693). The denylist is a separate,
    /// asynchronous check, made by every caller on every request.
    ///
    /// A token verified before is not verified again: see [`crate::verified_tokens`].
    pub(crate) fn verify_access_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<AccessTokenClaims, TokenError> {
        let validation = Validation::new(self.inner.settings.issuer.as_str(), now);
        let keys = self.key_set();
        self.inner
            .verified_tokens
            .verify(token, &keys, &validation, || {
                verify_access_token_for_reuse(token, &keys, &validation)
            })
            .map(|verified| verified.claims)
    }
}
