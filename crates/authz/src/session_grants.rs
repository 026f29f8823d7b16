//! Which grants were issued in which browser session, and to which user: the index that lets
//! ending a session revoke what was issued in it and tell the clients that received tokens in
//! it (OpenID Connect Back-Channel Logout 1.0 §2.7: the OP notifies "each RP with which the
//! user has a session" when the session ends).
//!
//! | key | members, each scored by its grant's expiry | TTL |
//! |---|---|---|
//! | `sid_grants:v2:<sid>` | the grants of one browser session | the entries' lifetime, renewed on add |
//! | `user_grants:v2:<user id>` | the grants of one user, every session | the same |
//!
//! A member is `<grant>.<o|->.<issued at>.<client id>`: the grant, whether it carries
//! `offline_access` (an offline grant outlives the session it was issued in, OIDC Core §11, and
//! dies only when the user signs out everywhere or the account is locked, disabled or reset),
//! when it was issued, and to whom. Grant ids are base64url and the flag and time have no dots,
//! so the client id may hold any character.
//!
//! The user index also answers "which apps hold offline access" for the account page
//! ([`Authz::user_offline_clients`]) and lets the user take one app's access away
//! ([`Authz::end_user_client_grants`]).
//!
//! Each index is a sorted set scored by when the entry expires (Unix seconds), so entries expire
//! one by one: reads skip entries scored below `now`, and every add drops them
//! ([`KvStore::sorted_add_trimmed`]). An entry lives twice the longest token lifetime from when
//! it was written; refresh tokens slide (each rotation starts a new lifetime), so a rotation
//! whose new expiry would pass the entries (`FamilyRecord::indexed_until`) writes them again
//! with a later score, which happens at most once per refresh-token lifetime per grant. A grant
//! in use thus never drops out of the indexes, and one that died leaves within two lifetimes. An
//! add costs O(log n + expired entries), a read O(log n + live entries), on both backends.
//! Pruning must stay that cheap: a scan of the whole index on the request path (one client
//! signing one user in thousands of times) once took the code-flow load scenario's p99 from 4 to
//! 21 ms. Families written before entries expired one by one carry no `indexed_until` and are
//! not moved.
//!
//! The plain sets of earlier releases (`sid_grants:<sid>`, `user_grants:<user id>`) are left to
//! expire: reusing their names would meet Redis' WRONGTYPE, since a set is not a sorted set.

use std::time::Duration;

use gatehouse_sessions::{KvStore, StoreError};
use uuid::Uuid;

use crate::error::OAuthError;
use crate::grant_ids::GrantId;
use crate::refresh_tokens::{self, FamilyRecord};
use crate::service::Authz;
use crate::store::{family_key, grant_revoked_key};

/// One grant issued in a browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionGrant {
    pub grant: GrantId,
    pub client_id: String,
    /// The grant's scope has `offline_access`.
    pub offline: bool,
    /// Unix seconds.
    pub issued_at: i64,
}

impl SessionGrant {
    fn member(&self) -> String {
        let flag = if self.offline { 'o' } else { '-' };
        format!(
            "{}.{flag}.{}.{}",
            self.grant, self.issued_at, self.client_id
        )
    }

    fn parse(member: &str) -> Option<SessionGrant> {
        let mut parts = member.splitn(4, '.');
        let grant = parts.next()?.parse().ok()?;
        let offline = match parts.next()? {
            "o" => true,
            "-" => false,
            _ => return None,
        };
        let issued_at = parts.next()?.parse().ok()?;
        let client_id = parts.next()?.to_owned();
        Some(SessionGrant {
            grant,
            client_id,
            offline,
            issued_at,
        })
    }
}

fn session_key(sid: &str) -> String {
    format!("sid_grants:v2:{sid}")
}

fn user_key(user_id: Uuid) -> String {
    format!("user_grants:v2:{user_id}")
}

/// Indexes a grant just issued in session `sid` to `user_id`, and drops the entries of both
/// indexes that expired by `now`. `lifetime` is the longest the grant can live (its
/// refresh-token lifetime): the entry expires `lifetime` after the grant was issued, and each
/// index lives as long as its newest entry.
pub(crate) async fn record(
    store: &dyn KvStore,
    sid: &str,
    user_id: Uuid,
    grant: &SessionGrant,
    expires_at: i64,
    lifetime: Duration,
    now: i64,
) -> Result<(), StoreError> {
    let member = grant.member();
    for key in [session_key(sid), user_key(user_id)] {
        store
            .sorted_add_trimmed(&key, &member, expires_at, now, lifetime)
            .await?;
    }
    Ok(())
}

/// The entries of the index under `key` that are live at `now` (expiring at `now` or later).
async fn members(
    store: &dyn KvStore,
    key: &str,
    now: i64,
) -> Result<Vec<(String, SessionGrant)>, StoreError> {
    Ok(store
        .sorted_members_from(key, now)
        .await?
        .into_iter()
        .filter_map(|(member, _)| SessionGrant::parse(&member).map(|grant| (member, grant)))
        .collect())
}

/// The live grants issued in session `sid`, and forgets them all: the session is ending.
pub(crate) async fn take_session(
    store: &dyn KvStore,
    sid: &str,
    now: i64,
) -> Result<Vec<SessionGrant>, StoreError> {
    take(store, &session_key(sid), now).await
}

/// Every live grant of the user, and forgets them all: all of them are being revoked.
pub(crate) async fn take_user(
    store: &dyn KvStore,
    user_id: Uuid,
    now: i64,
) -> Result<Vec<SessionGrant>, StoreError> {
    take(store, &user_key(user_id), now).await
}

async fn take(store: &dyn KvStore, key: &str, now: i64) -> Result<Vec<SessionGrant>, StoreError> {
    let grants = members(store, key, now).await?;
    store.delete(key).await?;
    Ok(grants.into_iter().map(|(_, grant)| grant).collect())
}

/// The user's grants to `client_id`, revoked, and taken out of the user index. Each is revoked
/// before its entry goes, so a failure half-way leaves the rest indexed for a later "sign out
/// everywhere" to find.
///
/// The session indexes keep their entries: the client did receive tokens in those sessions, so
/// the session list still names it and ending such a session still sends it a back-channel
/// logout (the relying party's own sign-in outlives the grant; Back-Channel Logout 1.0 §2.7).
/// Revoking an already revoked grant again then is harmless.
async fn take_user_client(
    store: &dyn KvStore,
    user_id: Uuid,
    client_id: &str,
    now: i64,
    latest_access_token_exp: i64,
) -> Result<Vec<SessionGrant>, StoreError> {
    let key = user_key(user_id);
    let mut taken = Vec::new();
    for (member, grant) in members(store, &key, now).await? {
        if grant.client_id != client_id {
            continue;
        }
        refresh_tokens::revoke(store, grant.grant, now, latest_access_token_exp).await?;
        store.sorted_remove(&key, &member).await?;
        taken.push(grant);
    }
    Ok(taken)
}

/// The entries of the user index whose grant is live at `now`, with their members, in index
/// order. Live means its refresh-token family exists, has not expired by `now`, belongs to the
/// user and the client, and carries no revocation marker ([`refresh_tokens::revoke`] writes the
/// marker, then deletes the family; a family started after that marker is deleted by
/// [`refresh_tokens::start`], so the marker check only covers that race). A grant issued
/// without a refresh token (a client not allowed the `refresh_token` grant) has no family and
/// is not live: only its short-lived access token remains. Read only: the index keeps the
/// entries of revoked grants until the user's grants are taken or the entries expire.
async fn live_user_grants(
    store: &dyn KvStore,
    user_id: Uuid,
    now: i64,
    wanted: impl Fn(&SessionGrant) -> bool,
) -> Result<Vec<(String, SessionGrant)>, StoreError> {
    let candidates: Vec<(String, SessionGrant)> = members(store, &user_key(user_id), now)
        .await?
        .into_iter()
        .filter(|(_, grant)| wanted(grant))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // One round trip for every family and marker, not two per grant.
    let keys: Vec<String> = candidates
        .iter()
        .flat_map(|(_, g)| [family_key(g.grant), grant_revoked_key(g.grant)])
        .collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let found = store.get_many(&key_refs).await?;
    Ok(candidates
        .into_iter()
        .zip(found.chunks(2))
        .filter(|((_, grant), pair)| {
            let (Some(Some(family)), Some(None)) = (pair.first(), pair.get(1)) else {
                return false;
            };
            serde_json::from_slice::<FamilyRecord>(family).is_ok_and(|family| {
                family.exp > now && family.user_id == user_id && family.client_id == grant.client_id
            })
        })
        .map(|(entry, _)| entry)
        .collect())
}

/// The clients holding a live offline grant of the user (see [`live_user_grants`]), once each
/// with when the newest of those grants was issued, sorted by client id. Read only.
async fn live_offline_clients(
    store: &dyn KvStore,
    user_id: Uuid,
    now: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut latest = std::collections::BTreeMap::<String, i64>::new();
    for (_, grant) in live_user_grants(store, user_id, now, |grant| grant.offline).await? {
        let issued_at = latest.entry(grant.client_id).or_insert(i64::MIN);
        *issued_at = (*issued_at).max(grant.issued_at);
    }
    Ok(latest.into_iter().collect())
}

/// One live grant of a user, as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    /// The grant's public id: base64url of its 16-byte id, as in store keys and the
    /// `grant_id` claim of access tokens. Names the grant; it is neither its code nor a
    /// refresh token, and cannot be turned into either.
    pub grant_id: String,
    pub client_id: String,
    /// The grant's scope has `offline_access`.
    pub offline: bool,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
}

/// Revokes the user's grant `grant` and takes its entries out of the user index: the client
/// it was issued to, or `None` when the user holds no live grant of that id (see
/// [`live_user_grants`]), which is what `Authz::user_grants` lists. A dead grant's entry
/// (one revoked when its session ended, say) still goes. The grant is revoked before its
/// entry goes (as in [`take_user_client`]); the session indexes keep their entries, for the
/// same reason.
async fn take_user_grant(
    store: &dyn KvStore,
    user_id: Uuid,
    grant: GrantId,
    now: i64,
    latest_access_token_exp: i64,
) -> Result<Option<RevokedGrant>, StoreError> {
    let live = live_user_grants(store, user_id, now, |entry| entry.grant == grant)
        .await?
        .into_iter()
        .next()
        .map(|(_, entry)| entry.client_id);
    // Read before the revocation deletes it: the session the grant was issued in.
    let sid = match live {
        Some(_) => refresh_tokens::find(store, grant)
            .await?
            .map(|family| family.record.sid)
            .filter(|sid| !sid.is_empty()),
        None => None,
    };
    let key = user_key(user_id);
    let mut revoked = false;
    for (member, entry) in members(store, &key, now).await? {
        if entry.grant != grant {
            continue;
        }
        if !revoked {
            refresh_tokens::revoke(store, grant, now, latest_access_token_exp).await?;
            revoked = true;
        }
        store.sorted_remove(&key, &member).await?;
    }
    Ok(live.map(|client_id| RevokedGrant { client_id, sid }))
}

/// A grant revoked by its id: the relying party to tell, and the browser session (OIDC `sid`)
/// it was issued in, for a logout token that names it (Back-Channel Logout 1.0 §2.4) — a client
/// registered with `backchannel_logout_session_required` refuses one without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedGrant {
    pub client_id: String,
    /// `None` when the grant's refresh family is already gone.
    pub sid: Option<String>,
}

/// What ending one session, or all of a user's, did to the grants issued in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndedGrants {
    /// Every client that received tokens in what ended, once each, sorted: the relying parties
    /// to tell (Back-Channel Logout 1.0 §2.7), offline grants' clients included.
    pub clients: Vec<String>,
    /// How many grants were revoked.
    pub revoked: usize,
}

impl EndedGrants {
    fn from_grants(grants: &[SessionGrant], revoked: usize) -> Self {
        let mut clients: Vec<String> = grants.iter().map(|g| g.client_id.clone()).collect();
        clients.sort();
        clients.dedup();
        Self { clients, revoked }
    }
}

impl Authz {
    /// Indexes a grant issued by a code exchange under its session and its user; the entries
    /// of both indexes that expired by `now` go.
    pub(crate) async fn record_session_grant(
        &self,
        sid: &str,
        user_id: Uuid,
        grant: &SessionGrant,
        now: i64,
    ) -> Result<(), OAuthError> {
        let lifetime = self.grant_index_lifetime();
        let expires_at = now.saturating_add(lifetime.num_seconds());
        Ok(record(
            self.store(),
            sid,
            user_id,
            grant,
            expires_at,
            crate::store::ttl(lifetime),
            now,
        )
        .await?)
    }

    /// How long an index entry lives from when it is (re)written: twice the longest a grant's
    /// token can live. A refresh token slides (each rotation starts a new lifetime), so a grant
    /// in use can outlive any fixed span; a rotation whose new expiry passes the entries'
    /// (`FamilyRecord::indexed_until`) rewrites them, which with this margin happens at most
    /// once per refresh-token lifetime per grant, not on every refresh.
    fn grant_index_lifetime(&self) -> chrono::Duration {
        let settings = self.settings();
        let longest = settings.refresh_token_ttl.max(settings.access_token_ttl);
        longest + longest
    }

    /// Until when entries written at `now` live.
    pub(crate) fn grant_index_until(&self, now: i64) -> i64 {
        now.saturating_add(self.grant_index_lifetime().num_seconds())
    }

    /// A browser session ended (sign-out of this device): revokes the grants issued in it,
    /// except those with `offline_access`, which outlive the session they were issued in.
    /// Their refresh tokens answer `invalid_grant` and their access tokens stop passing
    /// introspection and userinfo ([`refresh_tokens::revoke`]).
    pub async fn end_session_grants(&self, sid: &str, now: i64) -> Result<EndedGrants, StoreError> {
        let grants = take_session(self.store(), sid, now).await?;
        let mut revoked = 0;
        for grant in grants.iter().filter(|g| !g.offline) {
            self.revoke_grant(grant.grant, now).await?;
            revoked += 1;
        }
        Ok(EndedGrants::from_grants(&grants, revoked))
    }

    /// Every session of the user ends (sign out everywhere, password change or reset, lock,
    /// disable): revokes every grant the user holds, offline ones included.
    pub async fn end_user_grants(
        &self,
        user_id: Uuid,
        now: i64,
    ) -> Result<EndedGrants, StoreError> {
        let grants = take_user(self.store(), user_id, now).await?;
        for grant in &grants {
            self.revoke_grant(grant.grant, now).await?;
        }
        Ok(EndedGrants::from_grants(&grants, grants.len()))
    }

    /// A password change that signs out the user's other sessions: revokes every grant the user
    /// holds, offline ones included, except those issued in session `keep` (the one asking),
    /// and drops them from the user index. Whoever held the old password may have taken an
    /// offline refresh token; it dies with the change. The sessions themselves are ended by the
    /// caller, one by one, through the one end-session path.
    pub async fn end_user_grants_except_session(
        &self,
        user_id: Uuid,
        keep: &str,
        now: i64,
    ) -> Result<EndedGrants, StoreError> {
        let kept: std::collections::HashSet<GrantId> =
            members(self.store(), &session_key(keep), now)
                .await?
                .into_iter()
                .map(|(_, grant)| grant.grant)
                .collect();
        let key = user_key(user_id);
        let mut taken = Vec::new();
        for (member, grant) in members(self.store(), &key, now).await? {
            if kept.contains(&grant.grant) {
                continue;
            }
            self.revoke_grant(grant.grant, now).await?;
            self.store().sorted_remove(&key, &member).await?;
            taken.push(grant);
        }
        Ok(EndedGrants::from_grants(&taken, taken.len()))
    }

    /// The clients that received tokens in session `sid` in grants not expired by `now`, sorted,
    /// once each (for "your sessions" lists). Read only; entries of grants revoked since stay
    /// until the session ends or they expire.
    pub async fn session_clients(&self, sid: &str, now: i64) -> Result<Vec<String>, StoreError> {
        let mut clients: Vec<String> = members(self.store(), &session_key(sid), now)
            .await?
            .into_iter()
            .map(|(_, grant)| grant.client_id)
            .collect();
        clients.sort();
        clients.dedup();
        Ok(clients)
    }

    /// The clients that hold offline access to the user's account (a live refresh token from a
    /// grant with `offline_access`), each with when its newest such grant was issued (Unix
    /// seconds), sorted by client id. Read only.
    pub async fn user_offline_clients(
        &self,
        user_id: Uuid,
        now: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        live_offline_clients(self.store(), user_id, now).await
    }

    /// The user's live grants (see `live_user_grants`: a live refresh-token family), newest
    /// first, then by grant id. Read only.
    pub async fn user_grants(&self, user_id: Uuid, now: i64) -> Result<Vec<UserGrant>, StoreError> {
        let mut grants: Vec<UserGrant> = live_user_grants(self.store(), user_id, now, |_| true)
            .await?
            .into_iter()
            .map(|(_, grant)| UserGrant {
                grant_id: grant.grant.to_string(),
                client_id: grant.client_id,
                offline: grant.offline,
                issued_at: grant.issued_at,
            })
            .collect();
        grants.sort_by(|a, b| {
            b.issued_at
                .cmp(&a.issued_at)
                .then_with(|| a.grant_id.cmp(&b.grant_id))
        });
        grants.dedup_by(|a, b| a.grant_id == b.grant_id);
        Ok(grants)
    }

    /// Revokes one grant of the user, named by its public id ([`UserGrant::grant_id`]): its
    /// refresh tokens answer `invalid_grant` and its access tokens stop passing introspection
    /// and userinfo, and it leaves the user index. The client it was issued to (and the
    /// session it was issued in); `None` when
    /// the user holds no such grant (an id that is not one, another user's grant, or one
    /// already revoked and taken out).
    pub async fn revoke_user_grant(
        &self,
        user_id: Uuid,
        grant_id: &str,
        now: i64,
    ) -> Result<Option<RevokedGrant>, StoreError> {
        let Ok(grant) = grant_id.parse::<GrantId>() else {
            return Ok(None);
        };
        let latest_exp = self.latest_access_token_exp(now);
        take_user_grant(self.store(), user_id, grant, now, latest_exp).await
    }

    /// The user takes one client's access away (the account page's "Revoke"): every grant the
    /// user holds for `client_id` is revoked, offline ones and those of live sessions alike,
    /// and leaves the user index.
    pub async fn end_user_client_grants(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: i64,
    ) -> Result<EndedGrants, StoreError> {
        let latest_exp = self.latest_access_token_exp(now);
        let grants = take_user_client(self.store(), user_id, client_id, now, latest_exp).await?;
        Ok(EndedGrants::from_grants(&grants, grants.len()))
    }

    async fn revoke_grant(&self, grant: GrantId, now: i64) -> Result<(), StoreError> {
        let latest_exp = self.latest_access_token_exp(now);
        refresh_tokens::revoke(self.store(), grant, now, latest_exp).await
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_sessions::MemoryStore;

    use super::*;

    /// Writes `grant`'s entries at `now`, to live `lifetime` from then.
    async fn record_at(
        store: &MemoryStore,
        sid: &str,
        user: Uuid,
        grant: &SessionGrant,
        lifetime: Duration,
        now: i64,
    ) -> Result<(), StoreError> {
        let expires_at = now + i64::try_from(lifetime.as_secs()).unwrap();
        record(store, sid, user, grant, expires_at, lifetime, now).await
    }

    fn grant(client_id: &str, offline: bool, issued_at: i64) -> SessionGrant {
        SessionGrant {
            grant: GrantId::random(),
            client_id: client_id.to_owned(),
            offline,
            issued_at,
        }
    }

    #[test]
    fn members_round_trip_whatever_the_client_id_holds() {
        for client_id in ["plain", "with.dots.in.it", "a b", ""] {
            let g = grant(client_id, true, 1_700_000_000);
            assert_eq!(SessionGrant::parse(&g.member()), Some(g.clone()));
        }
        for bad in ["", "x.o.1.c", "AAAAAAAAAAAAAAAAAAAAAA.?.1.c"] {
            assert_eq!(SessionGrant::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn grants_are_found_by_session_and_by_user_and_taken_once() {
        let store = MemoryStore::new();
        let user = Uuid::new_v4();
        let ttl = Duration::from_secs(3600);
        let a = grant("app-a", false, 10);
        let b = grant("app-b", true, 10);
        let other_session = grant("app-a", false, 10);
        let now = 10;
        record_at(&store, "s1", user, &a, ttl, now).await.unwrap();
        record_at(&store, "s1", user, &b, ttl, now).await.unwrap();
        record_at(&store, "s2", user, &other_session, ttl, now)
            .await
            .unwrap();

        let mut in_s1 = take_session(&store, "s1", now).await.unwrap();
        in_s1.sort_by(|x, y| x.client_id.cmp(&y.client_id));
        assert_eq!(in_s1, vec![a, b]);
        assert!(take_session(&store, "s1", now).await.unwrap().is_empty());
        assert_eq!(take_user(&store, user, now).await.unwrap().len(), 3);
        assert!(take_user(&store, user, now).await.unwrap().is_empty());
    }

    /// Indexes `grant` for `user` in session `sid` and, if `family_exp` is given, starts its
    /// refresh-token family expiring then.
    async fn issue(
        store: &MemoryStore,
        sid: &str,
        user: Uuid,
        grant: &SessionGrant,
        family_exp: Option<i64>,
    ) {
        let ttl = Duration::from_secs(3600);
        let expires_at = grant.issued_at + i64::try_from(ttl.as_secs()).unwrap();
        record(store, sid, user, grant, expires_at, ttl, grant.issued_at)
            .await
            .unwrap();
        if let Some(exp) = family_exp {
            let family = FamilyRecord {
                client_id: grant.client_id.clone(),
                user_id: user,
                scopes: vec!["openid".into(), "offline_access".into()],
                auth_time: grant.issued_at,
                sid: sid.to_owned(),
                amr: vec!["pwd".into()],
                generation: 0,
                iat: grant.issued_at,
                exp,
                granted_at: Some(grant.issued_at),
                indexed_until: Some(exp),
                resources: Vec::new(),
                org_id: None,
            };
            refresh_tokens::start(store, grant.grant, &family, ttl)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn offline_clients_are_those_with_a_live_offline_family() {
        let store = MemoryStore::new();
        let user = Uuid::new_v4();
        let now = 1_000;
        let older = grant("app-a", true, 10);
        let newer = grant("app-a", true, 20);
        let revoked = grant("app-b", true, 30);
        let online = grant("app-c", false, 40);
        let no_family = grant("app-d", true, 50);
        let expired = grant("app-e", true, 60);
        for (g, exp) in [
            (&older, Some(5_000)),
            (&newer, Some(5_000)),
            (&revoked, Some(5_000)),
            (&online, Some(5_000)),
            (&no_family, None),
            (&expired, Some(now)),
        ] {
            issue(&store, "s1", user, g, exp).await;
        }
        refresh_tokens::revoke(&store, revoked.grant, now, now + 600)
            .await
            .unwrap();
        let someone_else = Uuid::new_v4();
        issue(
            &store,
            "s2",
            someone_else,
            &grant("app-z", true, 70),
            Some(5_000),
        )
        .await;

        assert_eq!(
            live_offline_clients(&store, user, now).await.unwrap(),
            vec![("app-a".to_owned(), 20)]
        );
        assert_eq!(
            live_offline_clients(&store, someone_else, now)
                .await
                .unwrap(),
            vec![("app-z".to_owned(), 70)]
        );
        assert!(
            live_offline_clients(&store, Uuid::new_v4(), now)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn ending_one_clients_grants_leaves_the_other_clients_alone() {
        let store = MemoryStore::new();
        let user = Uuid::new_v4();
        let now = 1_000;
        let offline = grant("app-a", true, 10);
        let online = grant("app-a", false, 20);
        let other = grant("app-b", true, 30);
        issue(&store, "s1", user, &offline, Some(5_000)).await;
        issue(&store, "s2", user, &online, Some(5_000)).await;
        issue(&store, "s2", user, &other, Some(5_000)).await;

        let mut ended = take_user_client(&store, user, "app-a", now, now + 600)
            .await
            .unwrap();
        ended.sort_by_key(|g| g.issued_at);
        assert_eq!(ended, vec![offline.clone(), online.clone()]);
        for g in [&offline, &online] {
            assert!(
                refresh_tokens::find(&store, g.grant)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                store
                    .exists_any(&[&grant_revoked_key(g.grant)])
                    .await
                    .unwrap()
            );
        }
        assert!(
            refresh_tokens::find(&store, other.grant)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            live_offline_clients(&store, user, now).await.unwrap(),
            vec![("app-b".to_owned(), 30)]
        );
        // Gone from the user index; a second revocation finds nothing.
        assert!(
            take_user_client(&store, user, "app-a", now, now + 600)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(take_user(&store, user, now).await.unwrap(), vec![other]);
        // The session indexes still name the client (see `take_user_client`).
        assert_eq!(
            take_session(&store, "s1", now).await.unwrap(),
            vec![offline]
        );
    }

    /// The user's live grants.
    async fn live(store: &MemoryStore, user: Uuid, now: i64) -> Vec<SessionGrant> {
        live_user_grants(store, user, now, |_| true)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, g)| g)
            .collect()
    }

    #[tokio::test]
    async fn one_grant_is_listed_by_its_public_id_and_revoked_alone() {
        let store = MemoryStore::new();
        let user = Uuid::new_v4();
        let now = 1_000;
        let offline = grant("app-a", true, 10);
        let online = grant("app-a", false, 20);
        let revoked = grant("app-b", true, 30);
        let no_family = grant("app-c", false, 40);
        issue(&store, "s1", user, &offline, Some(5_000)).await;
        issue(&store, "s2", user, &online, Some(5_000)).await;
        issue(&store, "s2", user, &revoked, Some(5_000)).await;
        issue(&store, "s2", user, &no_family, None).await;
        refresh_tokens::revoke(&store, revoked.grant, now, now + 600)
            .await
            .unwrap();
        let someone_else = Uuid::new_v4();
        let theirs = grant("app-a", true, 50);
        issue(&store, "s3", someone_else, &theirs, Some(5_000)).await;

        let mut listed = live(&store, user, now).await;
        listed.sort_by_key(|g| g.issued_at);
        assert_eq!(listed, vec![offline.clone(), online.clone()]);
        // The public id is the grant id's base64url (22 characters), never a secret.
        let id = offline.grant.to_string();
        assert_eq!(id.len(), 22);
        assert_eq!(id.parse::<GrantId>(), Ok(offline.grant));

        // Someone else's grant, a dead one, or an unknown id: nothing.
        for other in [
            theirs.grant,
            revoked.grant,
            no_family.grant,
            GrantId::random(),
        ] {
            assert_eq!(
                take_user_grant(&store, user, other, now, now + 600)
                    .await
                    .unwrap(),
                None
            );
        }
        assert!(
            refresh_tokens::find(&store, theirs.grant)
                .await
                .unwrap()
                .is_some()
        );

        assert_eq!(
            take_user_grant(&store, user, offline.grant, now, now + 600)
                .await
                .unwrap(),
            Some(RevokedGrant {
                client_id: "app-a".to_owned(),
                sid: Some("s1".to_owned()),
            })
        );
        assert!(
            refresh_tokens::find(&store, offline.grant)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .exists_any(&[&grant_revoked_key(offline.grant)])
                .await
                .unwrap()
        );
        // The other grant to the same client lives on; the revoked one is gone for good.
        assert_eq!(live(&store, user, now).await, vec![online.clone()]);
        assert_eq!(
            take_user_grant(&store, user, offline.grant, now, now + 600)
                .await
                .unwrap(),
            None
        );
        // Out of the user index (the dead entries looked at above went too), still in its
        // session's.
        assert_eq!(take_user(&store, user, now).await.unwrap(), vec![online]);
        assert_eq!(
            take_session(&store, "s1", now).await.unwrap(),
            vec![offline]
        );
    }

    /// The entries both indexes hold right now, expired or not, oldest expiry first.
    async fn held(store: &MemoryStore, key: &str) -> Vec<(SessionGrant, i64)> {
        store
            .sorted_members_from(key, i64::MIN)
            .await
            .unwrap()
            .into_iter()
            .map(|(member, expiry)| (SessionGrant::parse(&member).unwrap(), expiry))
            .collect()
    }

    #[tokio::test]
    async fn an_entry_past_its_grants_expiry_is_not_read_and_goes_with_the_next_add() {
        let store = MemoryStore::new();
        let user = Uuid::new_v4();
        let lifetime = Duration::from_secs(100);
        let old = grant("app-a", false, 0);
        let old_offline = grant("app-b", true, 0);
        let fresh = grant("app-c", false, 50);
        for g in [&old, &old_offline] {
            record_at(&store, "s1", user, g, lifetime, 0).await.unwrap();
        }
        record_at(&store, "s1", user, &fresh, lifetime, 50)
            .await
            .unwrap();

        // Scored by expiry: issued at + lifetime.
        assert_eq!(
            held(&store, &user_key(user)).await.last(),
            Some(&(fresh.clone(), 150))
        );
        // Live up to and including its expiry, gone after it, online or offline alike.
        assert_eq!(
            members(&store, &session_key("s1"), 100)
                .await
                .unwrap()
                .len(),
            3
        );
        let after = 101;
        for key in [session_key("s1"), user_key(user)] {
            let live: Vec<SessionGrant> = members(&store, &key, after)
                .await
                .unwrap()
                .into_iter()
                .map(|(_, g)| g)
                .collect();
            assert_eq!(live, vec![fresh.clone()], "{key}");
            // Reads leave the expired entries in place...
            assert_eq!(held(&store, &key).await.len(), 3, "{key}");
        }
        // ... the next add to an index drops them, and only from that index.
        let next = grant("app-d", true, after);
        record_at(&store, "s2", user, &next, lifetime, after)
            .await
            .unwrap();
        assert_eq!(
            held(&store, &user_key(user)).await,
            vec![(fresh.clone(), 150), (next.clone(), after + 100)]
        );
        assert_eq!(held(&store, &session_key("s1")).await.len(), 3);
        assert_eq!(
            take_session(&store, "s1", after).await.unwrap(),
            vec![fresh.clone()]
        );
        assert!(held(&store, &session_key("s1")).await.is_empty());
        assert_eq!(
            take_user(&store, user, after).await.unwrap(),
            vec![fresh, next]
        );
    }
}
