//! Redis-backed [`KvStore`], shared by every server instance. Needs Redis ≥ 7.0 (GETDEL,
//! `PEXPIRE … NX`).
//!
//! Each key is stored as `{key_prefix}{key}`, so deployments (and parallel tests) sharing one Redis
//! never collide. Connecting is lazy: an unreachable Redis must not stop the server from starting;
//! the readiness probe ([`KvStore::ping`]) reports it instead, and every operation fails with
//! [`StoreError::Unavailable`] until Redis answers again.
//!
//! One server, a Redis Cluster or a Sentinel-watched master, as the URL says
//! ([`crate::redis_target`]). Cluster-safe by construction: every `MULTI` block and Lua script
//! here touches exactly one key, so it can never span hash slots, whatever the key layout; the
//! only multi-key commands are the reads `MGET`/`EXISTS` (and `KEYS`/`DEL` in
//! [`RedisStore::delete_all_keys`]), which the cluster client splits by slot, and whose callers
//! need no snapshot across keys. A future operation that must be atomic over several keys has to
//! take keys that share a hash tag (`kind:{id}:…`), so that they land in one slot.
//! In Sentinel mode every write but a counter increment is confirmed by replicas (`WAIT`) before
//! it is reported done (`redis_connection`).

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::redis_connection::{Connector, StoreConnection, unavailable};
use crate::redis_target::RedisTarget;
use crate::store::{KvStore, StoreError, effective_ttl};

/// Bounds the readiness probe as a whole (connecting and answering together).
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Keys deleted per `DEL` by [`RedisStore::delete_all_keys`].
const DELETE_BATCH: usize = 500;

pub struct RedisStore {
    /// Connections are made on first use because they need a running tokio runtime and
    /// [`RedisStore::new`] may be called before one exists; after a connection error the next
    /// call starts a new attempt, and concurrent callers share one attempt.
    connector: Connector,
    key_prefix: String,
    kind: &'static str,
}

impl RedisStore {
    /// Does NOT connect eagerly: an unreachable Redis must not stop the server from starting
    /// (readiness reports it). An unparseable URL is an immediate Err.
    pub fn new(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let target = RedisTarget::parse(url)?;
        let kind = target.kind();
        Ok(Self {
            connector: Connector::new(target)?,
            key_prefix: key_prefix.to_owned(),
            kind,
        })
    }

    /// `single`, `cluster` or `sentinel`.
    pub fn topology(&self) -> &'static str {
        self.kind
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    async fn connection(&self) -> Result<StoreConnection, StoreError> {
        self.connector.connection().await
    }

    /// Every key under this store's prefix, without the prefix (`KEYS`, on every primary of a
    /// cluster). O(keys in the database): for tests and maintenance, never a request path.
    pub async fn list_keys(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", glob_escape(&self.key_prefix)))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(keys
            .into_iter()
            .filter_map(|key| key.strip_prefix(&self.key_prefix).map(str::to_owned))
            .collect())
    }

    /// Deletes every key under this store's prefix; returns how many. Like
    /// [`RedisStore::list_keys`], for tests and maintenance.
    pub async fn delete_all_keys(&self) -> Result<usize, StoreError> {
        let keys = self.list_keys().await?;
        let mut conn = self.connection().await?;
        let mut deleted = 0;
        for batch in keys.chunks(DELETE_BATCH) {
            let mut cmd = redis::cmd("DEL");
            for key in batch {
                cmd.arg(self.key(key));
            }
            let removed: usize = cmd.query_async(&mut conn).await.map_err(unavailable)?;
            deleted += removed;
        }
        Ok(deleted)
    }

    /// The remaining TTL of `key` as Redis reports it (`PTTL`): `None` for a missing key or one
    /// without expiry. For tests that check what reaches the server.
    pub async fn remaining_ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let mut conn = self.connection().await?;
        let millis: i64 = redis::cmd("PTTL")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(u64::try_from(millis).ok().map(Duration::from_millis))
    }
}

/// Written by hand because the client's connection info may include the Redis password.
impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// Compare-and-swap for [`KvStore::replace_if`]. A script runs atomically on the server, which
/// WATCH/MULTI on a shared multiplexed connection could not guarantee. A value of another type
/// than a string makes `GET` fail, which is an error, not a false.
static REPLACE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
            return 1
          end
          return 0",
    )
});

/// [`KvStore::sorted_claim_due`]: the range read and the re-scoring in one atomic step, so no
/// two claimers (on any instance) can take the same member. Single key: fine on a cluster.
static CLAIM_DUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
          for _, member in ipairs(due) do
            redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
          end
          return due",
    )
});

/// A score Redis answered (a double) as the integer [`KvStore::sorted_add`] wrote: exact for
/// every score the contract allows (|score| ≤ 2^53).
fn exact_score(score: f64, key: &str) -> Result<i64, StoreError> {
    if score.fract() == 0.0 && score.abs() <= 9_007_199_254_740_992.0 {
        Ok(score as i64)
    } else {
        Err(StoreError::Corrupt(format!(
            "score {score} under {key:?} is not one we wrote"
        )))
    }
}

/// `KEYS` pattern characters taken literally.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(effective_ttl(ttl).as_millis()).unwrap_or(u64::MAX)
}

#[async_trait::async_trait]
impl KvStore for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)?;
        conn.confirm_write().await
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if written.is_some() {
            conn.confirm_write().await?;
        }
        Ok(written.is_some())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.connection().await?;
        redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.connection().await?;
        let taken: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        // A taken code must stay taken after a fail-over.
        if taken.is_some() {
            conn.confirm_write().await?;
        }
        Ok(taken)
    }

    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let replaced: u64 = REPLACE_IF
            .key(self.key(key))
            .arg(expected)
            .arg(new)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if replaced == 1 {
            conn.confirm_write().await?;
        }
        Ok(replaced == 1)
    }

    async fn exists_any(&self, keys: &[&str]) -> Result<bool, StoreError> {
        if keys.is_empty() {
            return Ok(false);
        }
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("EXISTS");
        for key in keys {
            cmd.arg(self.key(key));
        }
        let found: u64 = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        Ok(found > 0)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        cmd.query_async(&mut conn).await.map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let removed: u64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if removed > 0 {
            conn.confirm_write().await?;
        }
        Ok(removed > 0)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        let key = self.key(key);
        // MULTI/EXEC so no client ever sees a counter without an expiry; NX keeps the expiry
        // that was set when the counter was created.
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .arg("NX")
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        // Not confirmed by replicas (Sentinel): counters only limit rates and attempts, and a
        // fail-over that loses the last few counts costs less than a round trip on every
        // rate-limited request.
        Ok(count)
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<usize, StoreError> {
        let mut conn = self.connection().await?;
        let key = self.key(key);
        let (len,): (usize,) = redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&key)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .ignore()
            .cmd("SCARD")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        conn.confirm_write().await?;
        Ok(len)
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let removed: u64 = redis::cmd("SREM")
            .arg(self.key(key))
            .arg(member)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if removed > 0 {
            conn.confirm_write().await?;
        }
        Ok(())
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.connection().await?;
        redis::cmd("SMEMBERS")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn sorted_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let key = self.key(key);
        redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(&key)
            .arg(score)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)?;
        conn.confirm_write().await
    }

    async fn sorted_add_trimmed(
        &self,
        key: &str,
        member: &str,
        score: i64,
        drop_scores_below: i64,
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        let mut conn = self.connection().await?;
        let key = self.key(key);
        // ZREMRANGEBYSCORE walks the skiplist from its lowest score: O(log n + dropped).
        let (dropped,): (usize,) = redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(&key)
            .arg(score)
            .arg(member)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(format!("({drop_scores_below}"))
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        conn.confirm_write().await?;
        Ok(dropped)
    }

    async fn sorted_count_from(&self, key: &str, min_score: i64) -> Result<u64, StoreError> {
        let mut conn = self.connection().await?;
        redis::cmd("ZCOUNT")
            .arg(self.key(key))
            .arg(min_score)
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn sorted_members_from(
        &self,
        key: &str,
        min_score: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.connection().await?;
        let key = self.key(key);
        let members: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(&key)
            .arg(min_score)
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        members
            .into_iter()
            .map(|(member, score)| Ok((member, exact_score(score, &key)?)))
            .collect()
    }

    async fn sorted_claim_due(
        &self,
        key: &str,
        due_by: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.connection().await?;
        let claimed: Vec<String> = CLAIM_DUE
            .key(self.key(key))
            .arg(due_by)
            .arg(lease_until)
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if !claimed.is_empty() {
            conn.confirm_write().await?;
        }
        Ok(claimed)
    }

    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let removed: u64 = redis::cmd("ZREM")
            .arg(self.key(key))
            .arg(member)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if removed > 0 {
            conn.confirm_write().await?;
        }
        Ok(removed > 0)
    }

    async fn sorted_score(&self, key: &str, member: &str) -> Result<Option<i64>, StoreError> {
        let mut conn = self.connection().await?;
        let key = self.key(key);
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(&key)
            .arg(member)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        score.map(|score| exact_score(score, &key)).transpose()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let probe = async {
            let mut conn = self.connection().await?;
            redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)
        };
        tokio::time::timeout(PING_TIMEOUT, probe)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "no answer from Redis within {PING_TIMEOUT:?}"
                )))
            })
    }
}
