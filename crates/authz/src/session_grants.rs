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
//! Sets cannot expire member by member: each index lives as long as the newest grant in it (its
//! TTL is renewed on every add), so it holds one entry per grant the user received in that time,
//! as the store already holds one refresh-token family per grant. Nothing prunes it on the request
//! path: a scan of a large index there (one client signing one user in thousands of times) showed
//! up as a 4 → 21 ms p99 in the code-flow load scenario. Per-entry expiry (a sorted set scored by
//! each grant's expiry) is the way to shrink it further.

use std::time::Duration;

use gatehouse_sessions::{KvStore, StoreError};
use uuid::Uuid;

use crate::error::OAuthError;
use crate::grant_ids::GrantId;
use crate::refresh_tokens;
use crate::service::Authz;

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
/// live (its refresh-token lifetime).
pub(crate) async fn record(
    store: &dyn KvStore,
    sid: &str,
    user_id: Uuid,
    grant: &SessionGrant,
    ttl: Duration,
) -> Result<(), StoreError> {
    let member = grant.member();
    store.set_add(&session_key(sid), &member, ttl).await?;
    store.set_add(&user_key(user_id), &member, ttl).await?;
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
        Ok(record(self.store(), sid, user_id, grant, ttl).await?)
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
        record(&store, "s1", user, &a, ttl).await.unwrap();
        record(&store, "s1", user, &b, ttl).await.unwrap();
        record(&store, "s2", user, &other_session, ttl)
            .await
            .unwrap();

        let mut in_s1 = take_session(&store, "s1").await.unwrap();
        in_s1.sort_by(|x, y| x.client_id.cmp(&y.client_id));
        assert_eq!(in_s1, vec![a, b]);
        assert!(take_session(&store, "s1").await.unwrap().is_empty());
        assert_eq!(take_user(&store, user).await.unwrap().len(), 3);
        assert!(take_user(&store, user).await.unwrap().is_empty());
    }
}
