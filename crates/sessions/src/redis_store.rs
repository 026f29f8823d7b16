//! Redis-backed [`KvStore`], shared by every server instance. Needs Redis ≥ 7.0 (GETDEL,
//! `PEXPIRE … NX`).
//!
//! Each key is stored as `{key_prefix}{key}`, so deployments (and parallel tests) sharing one Redis
//! never collide. Connecting is lazy: an unreachable Redis must not stop the server from starting;
//! the readiness probe ([`KvStore::ping`]) reports it instead, and every operation fails with
//! [`StoreError::Unavailable`] until Redis answers again.

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};
use tokio::sync::OnceCell;

use crate::store::{KvStore, StoreError, effective_ttl};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Bounds the readiness probe as a whole (connecting and answering together).
const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub struct RedisStore {
    client: Client,
    key_prefix: String,
    /// Created on first use because `ConnectionManager` needs a running tokio runtime and
    /// [`RedisStore::new`] may be called before one exists. The manager connects lazily and, after a
    /// connection error, starts a new attempt that the next call picks up; concurrent callers
    /// share one attempt instead of queueing behind each other.
    connection: OnceCell<ConnectionManager>,
}

impl RedisStore {
    /// Does NOT connect eagerly: an unreachable Redis must not stop the server from starting
    /// (readiness reports it). An unparseable URL is an immediate Err.
    pub fn new(url: &str, key_prefix: &str) -> Result<Self, StoreError> {
        let client = Client::open(url)
            .map_err(|err| StoreError::Unavailable(format!("invalid Redis URL: {err}")))?;
        Ok(Self {
            client,
            key_prefix: key_prefix.to_owned(),
            connection: OnceCell::new(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    // A failed attempt is retried by the next call, not by sleeping inside this
                    // one: callers (and the readiness probe) get their answer within the timeout.
                    .set_number_of_retries(0);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(unavailable)?;
        Ok(manager.clone())
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

fn unavailable(err: RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

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
            .map_err(unavailable)
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
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
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
        Ok(len)
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        redis::cmd("SREM")
            .arg(self.key(key))
            .arg(member)
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
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
            .map_err(unavailable)
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
        CLAIM_DUE
            .key(self.key(key))
            .arg(due_by)
            .arg(lease_until)
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let removed: u64 = redis::cmd("ZREM")
            .arg(self.key(key))
            .arg(member)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
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
