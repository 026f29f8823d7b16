//! Connections for [`crate::RedisStore`], one kind per [`RedisTarget`], behind one
//! [`redis::aio::ConnectionLike`] so the store's commands are written once.
//!
//! - One server: a `ConnectionManager`, which reconnects by itself.
//! - Cluster: the client's cluster connection, which follows `MOVED`/`ASK` redirections and
//!   refreshes its slot map; multi-key reads (`MGET`, `EXISTS`, `DEL`, `KEYS`) are split by
//!   slot (or sent to every primary) by the client, so no command ever spans two slots.
//! - Sentinel: a multiplexed connection to the master Sentinel names. It is dropped after any
//!   error that may mean the master changed (connection lost or refused, timeout, `READONLY`,
//!   `MASTERDOWN`, `LOADING`, a write its replicas did not confirm); the next call asks the
//!   sentinels again, and the client checks with `ROLE` that the node it is given is a master.
//!
//! Connecting is lazy and bounded: an unreachable backend fails a call within about a second,
//! and concurrent callers share one attempt instead of each starting their own.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture,
    ServerErrorKind, Value,
};
use tokio::sync::OnceCell;

use crate::redis_target::{RedisTarget, WriteConfirmation};
use crate::store::StoreError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Bounds a whole (re)connection: asking the sentinels, checking the master, connecting.
const RECONNECT_BUDGET: Duration = Duration::from_secs(2);

pub(crate) fn unavailable(err: RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

/// The connections a store opens, made on first use (they need a tokio runtime).
pub(crate) enum Connector {
    Single {
        client: Client,
        manager: OnceCell<ConnectionManager>,
    },
    Cluster {
        client: ClusterClient,
        slot: Arc<Reconnecting<ClusterConnection>>,
    },
    Sentinel {
        sentinel: tokio::sync::Mutex<Sentinel>,
        master_name: String,
        node: SentinelNodeConnectionInfo,
        confirmation: Option<WriteConfirmation>,
        slot: Arc<Reconnecting<MultiplexedConnection>>,
    },
}

impl Connector {
    pub(crate) fn new(target: RedisTarget) -> Result<Self, StoreError> {
        let invalid =
            |err: RedisError| StoreError::Unavailable(format!("invalid Redis URL: {err}"));
        Ok(match target {
            RedisTarget::Single(info) => Self::Single {
                client: Client::open(info).map_err(invalid)?,
                manager: OnceCell::new(),
            },
            RedisTarget::Cluster(nodes) => Self::Cluster {
                client: ClusterClient::builder(nodes)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    // Redirections and retries included, a call ends within this.
                    .overall_response_timeout(Some(RECONNECT_BUDGET))
                    .build()
                    .map_err(invalid)?,
                slot: Arc::new(Reconnecting::default()),
            },
            RedisTarget::Sentinel {
                sentinels,
                master_name,
                node,
                confirmation,
            } => Self::Sentinel {
                sentinel: tokio::sync::Mutex::new(Sentinel::build(sentinels).map_err(invalid)?),
                master_name,
                node: SentinelNodeConnectionInfo::default().set_redis_connection_info(node),
                confirmation,
                slot: Arc::new(Reconnecting::default()),
            },
        })
    }

    pub(crate) async fn connection(&self) -> Result<StoreConnection, StoreError> {
        match self {
            Self::Single { client, manager } => {
                let manager = manager
                    .get_or_try_init(|| async {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(CONNECT_TIMEOUT))
                            .set_response_timeout(Some(RESPONSE_TIMEOUT))
                            // A failed attempt is retried by the next call, not by sleeping
                            // inside this one: callers (and the readiness probe) get their
                            // answer within the timeout.
                            .set_number_of_retries(0);
                        ConnectionManager::new_lazy_with_config(client.clone(), config)
                    })
                    .await
                    .map_err(unavailable)?;
                Ok(StoreConnection::Single(manager.clone()))
            }
            Self::Cluster { client, slot } => {
                let (generation, connection) = slot.get(|| client.get_async_connection()).await?;
                Ok(StoreConnection::Cluster {
                    connection,
                    slot: Arc::clone(slot),
                    generation,
                })
            }
            Self::Sentinel {
                sentinel,
                master_name,
                node,
                confirmation,
                slot,
            } => {
                let (generation, connection) = slot
                    .get(|| async {
                        let client = sentinel
                            .lock()
                            .await
                            .async_master_for(master_name, Some(node))
                            .await?;
                        tracing::info!(
                            master = %client.get_connection_info().addr(),
                            "session store: connecting to the Sentinel master"
                        );
                        let config = AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(CONNECT_TIMEOUT))
                            .set_response_timeout(Some(RESPONSE_TIMEOUT));
                        client
                            .get_multiplexed_async_connection_with_config(&config)
                            .await
                    })
                    .await?;
                Ok(StoreConnection::Sentinel {
                    connection,
                    slot: Arc::clone(slot),
                    generation,
                    confirmation: *confirmation,
                })
            }
        }
    }
}

/// A connection that is replaced, not repaired: callers get the current one, or make one if
/// there is none; an error that may mean the node is gone or demoted drops it.
pub(crate) struct Reconnecting<C> {
    current: parking_lot::Mutex<Option<(u64, C)>>,
    generations: AtomicU64,
    connecting: tokio::sync::Mutex<()>,
}

impl<C> Default for Reconnecting<C> {
    fn default() -> Self {
        Self {
            current: parking_lot::Mutex::new(None),
            generations: AtomicU64::new(0),
            connecting: tokio::sync::Mutex::new(()),
        }
    }
}

impl<C> Reconnecting<C> {
    /// Drops the connection made as `generation`, unless it was already replaced.
    fn invalidate(&self, generation: u64) {
        let mut current = self.current.lock();
        if current
            .as_ref()
            .is_some_and(|(made, _)| *made == generation)
        {
            *current = None;
        }
    }
}

impl<C: Clone> Reconnecting<C> {
    async fn get<F, Fut>(&self, connect: F) -> Result<(u64, C), StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, RedisError>>,
    {
        if let Some(current) = self.current.lock().clone() {
            return Ok(current);
        }
        // One attempt at a time; the others wait for its outcome (bounded) and share it.
        let _attempt = tokio::time::timeout(RECONNECT_BUDGET, self.connecting.lock())
            .await
            .map_err(|_| {
                StoreError::Unavailable("still connecting to Redis, try again".to_owned())
            })?;
        if let Some(current) = self.current.lock().clone() {
            return Ok(current);
        }
        let connection = tokio::time::timeout(RECONNECT_BUDGET, connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!("no Redis connection within {RECONNECT_BUDGET:?}"))
            })?
            .map_err(unavailable)?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        *self.current.lock() = Some((generation, connection.clone()));
        Ok((generation, connection))
    }
}

/// Errors after which the connection (or the node it reaches) cannot be trusted to be the
/// master any more.
fn may_mean_failover(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(
            err.kind(),
            ErrorKind::Server(
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::ExecAbort
            )
        )
        || err.to_string().contains("READONLY")
}

/// One call's connection; cheap to make (clones of shared multiplexed connections).
pub(crate) enum StoreConnection {
    Single(ConnectionManager),
    Cluster {
        connection: ClusterConnection,
        slot: Arc<Reconnecting<ClusterConnection>>,
        generation: u64,
    },
    Sentinel {
        connection: MultiplexedConnection,
        slot: Arc<Reconnecting<MultiplexedConnection>>,
        generation: u64,
        confirmation: Option<WriteConfirmation>,
    },
}

impl StoreConnection {
    /// In Sentinel mode, waits until the configured number of replicas hold every write this
    /// connection made (Redis `WAIT`), so a fail-over right after cannot lose a write the store
    /// reported done. Sent on the same TCP connection as the write: `WAIT` counts the
    /// connection's own writes. Elsewhere a no-op.
    pub(crate) async fn confirm_write(&mut self) -> Result<(), StoreError> {
        let Self::Sentinel {
            connection,
            slot,
            generation,
            confirmation: Some(confirmation),
        } = self
        else {
            return Ok(());
        };
        let timeout_ms = u64::try_from(confirmation.timeout.as_millis()).unwrap_or(u64::MAX);
        let confirmed: u32 = redis::cmd("WAIT")
            .arg(confirmation.replicas)
            .arg(timeout_ms)
            .query_async(connection)
            .await
            .map_err(|err| {
                slot.invalidate(*generation);
                unavailable(err)
            })?;
        if confirmed < confirmation.replicas {
            // A master that lost its replicas may be one Sentinel has already replaced.
            slot.invalidate(*generation);
            return Err(StoreError::Unavailable(format!(
                "write confirmed by {confirmed} of {} replicas within {timeout_ms} ms",
                confirmation.replicas
            )));
        }
        Ok(())
    }
}

fn watched<'a, T: Send + 'a, C: Send + Sync + 'a>(
    request: RedisFuture<'a, T>,
    slot: &'a Reconnecting<C>,
    generation: u64,
) -> RedisFuture<'a, T> {
    Box::pin(async move {
        let result = request.await;
        if let Err(err) = &result
            && may_mean_failover(err)
        {
            slot.invalidate(generation);
        }
        result
    })
}

impl ConnectionLike for StoreConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster {
                connection,
                slot,
                generation,
            } => watched(connection.req_packed_command(cmd), slot, *generation),
            Self::Sentinel {
                connection,
                slot,
                generation,
                ..
            } => watched(connection.req_packed_command(cmd), slot, *generation),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster {
                connection,
                slot,
                generation,
            } => watched(
                connection.req_packed_commands(pipeline, offset, count),
                slot,
                *generation,
            ),
            Self::Sentinel {
                connection,
                slot,
                generation,
                ..
            } => watched(
                connection.req_packed_commands(pipeline, offset, count),
                slot,
                *generation,
            ),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster { .. } => 0,
            Self::Sentinel { connection, .. } => connection.get_db(),
        }
    }
}
