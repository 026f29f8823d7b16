//! [`KeyManager`]: the signing keys every instance shares, loaded from the database.
//!
//! Concurrency between instances is settled by the database alone: inserts of a missing
//! Active/Next key are guarded by a unique index (the loser reloads and uses the winner's
//! key), and rotation is a compare-and-swap on the active `kid` (the loser reloads and sees
//! the winner's rotation). No instance ever needs to know about another.
//!
//! Every method blocks on the database; call them from `spawn_blocking` on an async runtime.
//! [`KeyManager::current`] and [`KeyManager::jwks_json`] do not touch the database and are
//! what the request path calls.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatehouse_identity::{Database, KeyStatus, MasterKey, StoredSigningKey};
use parking_lot::{Mutex, RwLock};

use super::error::KeyStoreError;
use super::root::{MasterKeys, unlock_derivation_root};
use super::stored;
use super::{ALGORITHMS, KeyPolicy};
use crate::algorithm::Algorithm;
use crate::key_set::{KeySet, KeyState};
use crate::signing_key::SigningKey;

/// Filling in missing keys races only with other instances doing the same at start-up, and
/// each round either completes the table or loses an insert to a key the next read sees; a
/// table still incomplete after a few rounds means something keeps deleting keys.
const MAX_ENSURE_ROUNDS: usize = 4;

/// Signing keys persisted (sealed) in the database and shared by every instance.
pub struct KeyManager {
    db: Database,
    master: MasterKeys,
    /// What [`KeyManager::derive_secret`] derives from (module `root`).
    root: MasterKey,
    policy: KeyPolicy,
    loaded: RwLock<Arc<Loaded>>,
    /// Held while reading the table and swapping in what was read, so a slower, older read
    /// never replaces a newer one.
    writer: Mutex<()>,
}

/// One consistent read of the key table, with everything the request path needs prebuilt.
struct Loaded {
    keys: Arc<KeySet>,
    jwks: Arc<str>,
    /// Per algorithm: the active key's `kid` and when it became active.
    active: Vec<(Algorithm, String, DateTime<Utc>)>,
}

impl Loaded {
    fn empty() -> Self {
        Self {
            keys: Arc::new(KeySet::new(Vec::new())),
            jwks: Arc::from(r#"{"keys":[]}"#),
            active: Vec::new(),
        }
    }

    fn active(&self, alg: Algorithm) -> Option<(&str, DateTime<Utc>)> {
        self.active
            .iter()
            .find(|(a, _, _)| *a == alg)
            .map(|(_, kid, since)| (kid.as_str(), *since))
    }
}

impl KeyManager {
    /// Loads all stored keys, unsealing them with the master key; ensures each algorithm
    /// (ES256 and RS256) has an Active and a Next key, generating, sealing and inserting
    /// missing ones. Existing keys are unsealed before anything is inserted, so a wrong master
    /// key fails here (naming a `kid`) without writing keys no other instance could read.
    /// On a first start the new active keys sign at once: no one can have cached an older JWKS.
    pub fn open(
        db: Database,
        master: &MasterKey,
        policy: KeyPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, KeyStoreError> {
        Self::open_with(db, &MasterKeys::single(master), policy, now)
    }

    /// [`KeyManager::open`] with a previous master key too, during a master-key rotation:
    /// keys still sealed under it are unsealed with it; new keys are sealed under the current
    /// one. First of all it unlocks the derivation root, which refuses a master key the
    /// database was not sealed under ([`KeyStoreError::MasterKeyMismatch`]).
    pub fn open_with(
        db: Database,
        master: &MasterKeys,
        policy: KeyPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, KeyStoreError> {
        policy.validate()?;
        let root = unlock_derivation_root(&db, master, now)?;
        let manager = Self {
            db,
            master: master.duplicate(),
            root,
            policy,
            loaded: RwLock::new(Arc::new(Loaded::empty())),
            writer: Mutex::new(()),
        };
        manager.ensure_complete(now)?;
        Ok(manager)
    }

    /// The key set signers and verifiers use; cheap (an `Arc` clone).
    pub fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.loaded.read().keys)
    }

    /// A 256-bit key for `purpose`, derived from the derivation root ([`MasterKey::derive`]):
    /// the same on every instance of the deployment, and across master-key rotations.
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        self.root.derive(purpose)
    }

    /// The key every derived server secret comes from (module `root`): TOTP settings and the
    /// client-secret hasher are built from it, not from the master key.
    pub fn derivation_root(&self) -> &MasterKey {
        &self.root
    }

    /// When each algorithm's active key became active (for the signing-key age metric).
    pub fn active_since(&self) -> Vec<(Algorithm, DateTime<Utc>)> {
        let loaded = self.loaded.read();
        loaded
            .active
            .iter()
            .map(|(alg, _, since)| (*alg, *since))
            .collect()
    }

    /// The serialized JWKS document (`{"keys":[...]}`), built once per reload or rotation.
    /// Retired keys whose window closed since then stay listed until the next reload; they
    /// are already refused for verification, which checks `now` itself.
    pub fn jwks_json(&self) -> Arc<str> {
        Arc::clone(&self.loaded.read().jwks)
    }

    /// Re-reads the table (other instances may have rotated) and rebuilds the key set and
    /// the JWKS cache.
    pub fn reload(&self, now: DateTime<Utc>) -> Result<(), KeyStoreError> {
        let _writer = self.writer.lock();
        let rows = self.db.list_signing_keys()?;
        self.install(&rows, now)
    }

    /// Rotates one algorithm now: active → retired (published until now +
    /// `max_token_lifetime`), next → active, a new next generated. The swap is conditional
    /// on the active key being the one this instance last loaded: if another rotation won
    /// the race (here or on another instance), this call does not rotate a second time.
    /// Then deletes keys past their publication window and reloads.
    pub fn rotate(&self, alg: Algorithm, now: DateTime<Utc>) -> Result<(), KeyStoreError> {
        let expected = self
            .loaded
            .read()
            .active(alg)
            .map(|(kid, _)| kid.to_owned());
        self.rotate_from(alg, expected.as_deref(), now)?;
        Ok(())
    }

    /// Rotates every algorithm whose active key was activated more than
    /// `policy.rotation_interval` ago; returns those this call rotated (not those another
    /// instance rotated first). Without anything due it does not touch the database.
    pub fn rotate_due(&self, now: DateTime<Utc>) -> Result<Vec<Algorithm>, KeyStoreError> {
        let loaded = Arc::clone(&*self.loaded.read());
        let mut rotated = Vec::new();
        for alg in ALGORITHMS {
            if let Some((kid, since)) = loaded.active(alg)
                && now.signed_duration_since(since) > self.policy.rotation_interval
                && self.rotate_from(alg, Some(kid), now)?
            {
                rotated.push(alg);
            }
        }
        Ok(rotated)
    }

    /// Fills in missing Active/Next keys until the table is complete, then installs it.
    fn ensure_complete(&self, now: DateTime<Utc>) -> Result<(), KeyStoreError> {
        let _writer = self.writer.lock();
        let mut rounds = 0;
        loop {
            let rows = self.db.list_signing_keys()?;
            // Unseal first: a wrong master key must fail before we write anything.
            self.install(&rows, now)?;
            let missing = missing_keys(&rows);
            let Some(&(alg, _)) = missing.first() else {
                return Ok(());
            };
            if rounds == MAX_ENSURE_ROUNDS {
                return Err(KeyStoreError::Incomplete(alg));
            }
            rounds += 1;
            for (alg, status) in missing {
                let key = SigningKey::generate(alg)?;
                let row = stored::new_row(&key, status, &self.master.current, now)?;
                if self.db.insert_signing_key(&row)? {
                    tracing::info!(kid = %row.kid, %alg, ?status, "generated signing key");
                } else {
                    tracing::debug!(%alg, ?status, "another instance created this key first");
                }
            }
        }
    }

    /// `Ok(true)` if this call rotated, `Ok(false)` if the active key was no longer
    /// `expected` (someone else rotated first).
    fn rotate_from(
        &self,
        alg: Algorithm,
        expected: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, KeyStoreError> {
        let published_until = now
            .checked_add_signed(self.policy.max_token_lifetime)
            .ok_or(KeyStoreError::Policy(
                "max_token_lifetime puts the retirement date out of range",
            ))?;
        // Generated before taking the lock: RSA key generation is the slow part.
        let new_next = stored::new_row(
            &SigningKey::generate(alg)?,
            KeyStatus::Next,
            &self.master.current,
            now,
        )?;

        let _writer = self.writer.lock();
        let rotated =
            self.db
                .rotate_signing_keys(alg.name(), expected, published_until, &new_next, now)?;
        if rotated {
            tracing::info!(
                %alg,
                retired = expected.unwrap_or("none"),
                next = %new_next.kid,
                %published_until,
                "rotated signing keys"
            );
        } else {
            tracing::info!(
                %alg,
                expected = expected.unwrap_or("none"),
                "the active key changed before this rotation (another rotation won); not rotating again"
            );
        }
        let deleted = self.db.delete_unpublished_signing_keys(now)?;
        if deleted > 0 {
            tracing::info!(
                deleted,
                "deleted signing keys past their publication window"
            );
        }
        let rows = self.db.list_signing_keys()?;
        self.install(&rows, now)?;
        Ok(rotated)
    }

    /// Builds a [`Loaded`] from `rows` and swaps it in. Keys already loaded are reused by
    /// `kid` (the thumbprint of the key itself) instead of being unsealed and parsed again.
    fn install(&self, rows: &[StoredSigningKey], now: DateTime<Utc>) -> Result<(), KeyStoreError> {
        let previous = Arc::clone(&self.loaded.read().keys);
        let mut entries = Vec::with_capacity(rows.len());
        let mut active = Vec::new();
        for row in rows {
            let Some(state) = stored::key_state(row) else {
                tracing::warn!(
                    kid = %row.kid,
                    "retired signing key has no publication deadline; not loaded"
                );
                continue;
            };
            if !state.is_published(now.timestamp()) {
                continue;
            }
            let alg = stored::algorithm(row)?;
            let key = match previous.find(&row.kid) {
                Some(loaded) if loaded.algorithm() == alg => loaded.clone(),
                _ => stored::unseal(row, &self.master)?,
            };
            if state == KeyState::Active {
                active.push((
                    alg,
                    row.kid.clone(),
                    row.activated_at.unwrap_or(row.created_at),
                ));
            }
            entries.push((sort_key(alg, state, row.created_at), key, state));
        }
        // Stable JWKS order (by algorithm, then active, next, retired, newest first), so the
        // document only changes when the keys do.
        entries.sort_by_key(|entry| entry.0);
        let keys = KeySet::new(
            entries
                .into_iter()
                .map(|(_, key, state)| (key, state))
                .collect(),
        );
        let jwks = keys.jwks(now.timestamp()).to_string();
        *self.loaded.write() = Arc::new(Loaded {
            keys: Arc::new(keys),
            jwks: Arc::from(jwks),
            active,
        });
        Ok(())
    }
}

impl fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.current();
        let states: Vec<(&str, KeyState)> = keys.keys().map(|(key, s)| (key.kid(), s)).collect();
        f.debug_struct("KeyManager")
            .field("keys", &states)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The (algorithm, status) pairs with no row, in the order they should be created.
/// Rows of an algorithm we do not know are skipped here; `install` refuses them if published.
fn missing_keys(rows: &[StoredSigningKey]) -> Vec<(Algorithm, KeyStatus)> {
    let present: Vec<(Algorithm, KeyStatus)> = rows
        .iter()
        .filter_map(|row| Some((Algorithm::from_name(&row.alg)?, row.status)))
        .collect();
    ALGORITHMS
        .into_iter()
        .flat_map(|alg| [(alg, KeyStatus::Active), (alg, KeyStatus::Next)])
        .filter(|wanted| !present.contains(wanted))
        .collect()
}

fn sort_key(
    alg: Algorithm,
    state: KeyState,
    created_at: DateTime<Utc>,
) -> (usize, u8, std::cmp::Reverse<DateTime<Utc>>) {
    let alg_rank = ALGORITHMS
        .iter()
        .position(|a| *a == alg)
        .unwrap_or(usize::MAX);
    let state_rank = match state {
        KeyState::Active => 0,
        KeyState::Next => 1,
        KeyState::Retired { .. } => 2,
    };
    (alg_rank, state_rank, std::cmp::Reverse(created_at))
}
