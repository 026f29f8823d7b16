//! Which grants were issued in which browser session, and to which user: the index that lets
//! ending a session revoke what was issued in it and tell the clients that received tokens in
//! it (OpenID Connect Back-Channel Logout 1.0 §2.7: the OP notifies "each RP with which the
//! user has a session" when the session ends).
//!
//! | key | members | TTL |
//! |---|---|---|
//! | `sid_grants:<sid>` | the grants of one browser session | the refresh-token lifetime, renewed on add |
//! | `user_grants:<user id>` | the grants of one user, every session | the same |
//!
//! A member is `<grant>.<o|->.<issued at>.<client id>`: the grant, whether it carries
//! `offline_access` (an offline grant outlives the session it was issued in, OIDC Core §11, and
//! dies only when the user signs out everywhere or the account is locked, disabled or reset),
//! when it was issued, and to whom. Grant ids are base64url and the flag and time have no dots,
//! so the client id may hold any character.
//!
//! Sets cannot expire member by member, so [`record`] prunes a user's set each time it doubles
//! past [`PRUNE_ABOVE`] (amortised O(1) per grant): members whose grant has no refresh-token
//! family left and whose access tokens have expired name nothing that could still be revoked.

use std::time::Duration;

use gatehouse_sessions::{KvStore, StoreError};
use uuid::Uuid;

use crate::error::OAuthError;
use crate::grant_ids::GrantId;
use crate::refresh_tokens;
use crate::service::Authz;
use crate::store::family_key;

/// A user's index is pruned of dead grants when an add finds it larger than this.
const PRUNE_ABOVE: usize = 64;

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
    format!("sid_grants:{sid}")
}

fn user_key(user_id: Uuid) -> String {
    format!("user_grants:{user_id}")
}

/// Indexes a grant just issued in session `sid` to `user_id`. `ttl` is the longest the grant can
/// live (its refresh-token lifetime); `access_ttl_secs` is how long its access tokens live, for
/// pruning.
pub(crate) async fn record(
    store: &dyn KvStore,
    sid: &str,
    user_id: Uuid,
    grant: &SessionGrant,
    ttl: Duration,
    access_ttl_secs: i64,
) -> Result<(), StoreError> {
    let member = grant.member();
    store.set_add(&session_key(sid), &member, ttl).await?;
    let size = store.set_add(&user_key(user_id), &member, ttl).await?;
    // Each time the index doubles: a user whose grants are all live (one client signing in
    // thousands of times) must not pay a scan of them on every exchange.
    if size > PRUNE_ABOVE && size.is_power_of_two() {
        prune(store, &user_key(user_id), grant.issued_at, access_ttl_secs).await?;
    }
    Ok(())
}

/// Removes the members of `key` that can no longer be revoked: no refresh-token family, and
/// access tokens expired by `now`.
async fn prune(
    store: &dyn KvStore,
    key: &str,
    now: i64,
    access_ttl_secs: i64,
) -> Result<(), StoreError> {
    let grants = members(store, key).await?;
    let families: Vec<String> = grants.iter().map(|(_, g)| family_key(g.grant)).collect();
    let families: Vec<&str> = families.iter().map(String::as_str).collect();
    let live = store.get_many(&families).await?;
    for ((member, grant), family) in grants.iter().zip(live) {
        let tokens_expired = grant.issued_at.saturating_add(access_ttl_secs) < now;
        if family.is_none() && tokens_expired {
            store.set_remove(key, member).await?;
        }
    }
    Ok(())
}

async fn members(
    store: &dyn KvStore,
    key: &str,
) -> Result<Vec<(String, SessionGrant)>, StoreError> {
    Ok(store
        .set_members(key)
        .await?
        .into_iter()
        .filter_map(|member| SessionGrant::parse(&member).map(|grant| (member, grant)))
        .collect())
}

/// The grants issued in session `sid`, and forgets them: the session is ending.
pub(crate) async fn take_session(
    store: &dyn KvStore,
    sid: &str,
) -> Result<Vec<SessionGrant>, StoreError> {
    let key = session_key(sid);
    let grants = members(store, &key).await?;
    store.delete(&key).await?;
    Ok(grants.into_iter().map(|(_, grant)| grant).collect())
}

/// Every grant of the user, and forgets them: all of them are being revoked.
pub(crate) async fn take_user(
    store: &dyn KvStore,
    user_id: Uuid,
) -> Result<Vec<SessionGrant>, StoreError> {
    let key = user_key(user_id);
    let grants = members(store, &key).await?;
    store.delete(&key).await?;
    Ok(grants.into_iter().map(|(_, grant)| grant).collect())
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
    /// Indexes a grant issued by a code exchange under its session and its user.
    pub(crate) async fn record_session_grant(
        &self,
        sid: &str,
        user_id: Uuid,
        grant: &SessionGrant,
    ) -> Result<(), OAuthError> {
        let settings = self.settings();
        let ttl = crate::store::ttl(settings.refresh_token_ttl.max(settings.access_token_ttl));
        let access_ttl = settings.access_token_ttl.num_seconds();
        Ok(record(self.store(), sid, user_id, grant, ttl, access_ttl).await?)
    }

    /// A browser session ended (sign-out of this device): revokes the grants issued in it,
    /// except those with `offline_access`, which outlive the session they were issued in.
    /// Their refresh tokens answer `invalid_grant` and their access tokens stop passing
    /// introspection and userinfo ([`refresh_tokens::revoke`]).
    pub async fn end_session_grants(&self, sid: &str, now: i64) -> Result<EndedGrants, StoreError> {
        let grants = take_session(self.store(), sid).await?;
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
        let grants = take_user(self.store(), user_id).await?;
        for grant in &grants {
            self.revoke_grant(grant.grant, now).await?;
        }
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
        record(&store, "s1", user, &a, ttl, 600).await.unwrap();
        record(&store, "s1", user, &b, ttl, 600).await.unwrap();
        record(&store, "s2", user, &other_session, ttl, 600)
            .await
            .unwrap();

        let mut in_s1 = take_session(&store, "s1").await.unwrap();
        in_s1.sort_by(|x, y| x.client_id.cmp(&y.client_id));
        assert_eq!(in_s1, vec![a, b]);
        assert!(take_session(&store, "s1").await.unwrap().is_empty());
        assert_eq!(take_user(&store, user).await.unwrap().len(), 3);
        assert!(take_user(&store, user).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_growing_user_index_drops_grants_that_can_no_longer_be_revoked() {
        let store = MemoryStore::new();
        let user = Uuid::new_v4();
        let ttl = Duration::from_secs(3600);
        let live_family = grant("app", false, 0);
        store
            .put(&family_key(live_family.grant), b"{}", ttl)
            .await
            .unwrap();
        record(&store, "s", user, &live_family, ttl, 600)
            .await
            .unwrap();
        // 1 + 126 members; the next add makes 128, a power of two past the threshold.
        for _ in 0..(2 * PRUNE_ABOVE - 2) {
            record(&store, "s", user, &grant("app", false, 0), ttl, 600)
                .await
                .unwrap();
        }
        // Issued long after the others' access tokens expired: the add prunes.
        let fresh = grant("app", false, 10_000);
        record(&store, "s", user, &fresh, ttl, 600).await.unwrap();
        let mut left = take_user(&store, user).await.unwrap();
        left.sort_by_key(|g| g.issued_at);
        assert_eq!(left, vec![live_family, fresh]);
    }
}
