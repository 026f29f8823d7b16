//! What `sessions.redis_url` names: one Redis server, a Redis Cluster, or a master watched by
//! Redis Sentinel. Parsing only; connecting is [`crate::redis_connection`]'s job.
//!
//! | form | meaning |
//! |---|---|
//! | `redis://[user:password@]host[:port][/db]` (also `rediss://`, `redis+unix://`) | one server |
//! | `redis+cluster://[user:password@]host:port,host:port,...` | a Redis Cluster, seeded by these nodes |
//! | `redis://host:port,redis://host:port,...` or `redis://host:port,host:port` | the same cluster form |
//! | `redis+sentinel://[user:password@]host[:port],host[:port],.../master-name[/db][?options]` | Sentinel |
//!
//! Credentials in the user-info part are the data nodes' (cluster nodes, the Sentinel master):
//! every node of a cluster shares them. A cluster has only database 0, so a cluster URL with
//! another database is refused. Sentinel ports default to 26379. Sentinel options (query):
//! `sentinel_username` / `sentinel_password` when the sentinels themselves require AUTH,
//! `wait_replicas` (default 1) and `wait_timeout_ms` (default 500): every write but a counter
//! increment is confirmed by `WAIT wait_replicas wait_timeout_ms` before the store reports it
//! done, and fails (503) when fewer replicas confirm it; `wait_replicas=0` turns this off. An unknown option is refused, so
//! a typo cannot quietly switch the confirmation off.

use std::time::Duration;

use redis::{ConnectionInfo, IntoConnectionInfo as _, RedisConnectionInfo};

use crate::store::StoreError;

const CLUSTER_SCHEME: &str = "redis+cluster://";
const SENTINEL_SCHEME: &str = "redis+sentinel://";
const DEFAULT_SENTINEL_PORT: u16 = 26379;
/// Replicas that must confirm a write in Sentinel mode unless the URL says otherwise.
pub const DEFAULT_WAIT_REPLICAS: u32 = 1;
/// How long a Sentinel-mode write waits for that confirmation unless the URL says otherwise.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_millis(500);

/// A write counts as done once this many replicas hold it (Redis `WAIT`), or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteConfirmation {
    pub replicas: u32,
    pub timeout: Duration,
}

/// Where the store's data lives.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    Single(ConnectionInfo),
    /// Seed nodes; the client learns the rest (and the slot map) from them.
    Cluster(Vec<ConnectionInfo>),
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master_name: String,
        /// Credentials and database of the master (and its replicas).
        node: RedisConnectionInfo,
        /// `None` when `wait_replicas=0`.
        confirmation: Option<WriteConfirmation>,
    },
}

fn invalid(reason: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("invalid Redis URL: {reason}"))
}

impl RedisTarget {
    /// Parses one of the forms in the module documentation. Error messages never repeat the
    /// URL, which may hold a password.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) {
            return parse_cluster(rest);
        }
        if let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) {
            return parse_sentinel(rest);
        }
        if url.contains(',') {
            return parse_node_list(url);
        }
        url.into_connection_info()
            .map(Self::Single)
            .map_err(invalid)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Single(_) => "single",
            Self::Cluster(_) => "cluster",
            Self::Sentinel { .. } => "sentinel",
        }
    }
}

/// `user:password@hosts/path?query`, split without decoding anything.
struct Parts<'a> {
    user_info: Option<&'a str>,
    hosts: Vec<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

fn split(rest: &str) -> Result<Parts<'_>, StoreError> {
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user_info, hosts) = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => (Some(user_info), hosts),
        None => (None, authority),
    };
    let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
    if hosts.iter().any(|host| host.is_empty()) {
        return Err(invalid("an empty host in the node list"));
    }
    Ok(Parts {
        user_info,
        hosts,
        path,
        query,
    })
}

fn node(user_info: Option<&str>, host: &str, db: &str) -> Result<ConnectionInfo, StoreError> {
    let credentials = user_info.map(|info| format!("{info}@")).unwrap_or_default();
    format!("redis://{credentials}{host}/{db}")
        .into_connection_info()
        .map_err(invalid)
}

fn has_port(host: &str) -> bool {
    match host.rfind(']') {
        // [IPv6]:port
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    }
}

fn cluster_db(path: &str) -> Result<(), StoreError> {
    match path.trim_end_matches('/') {
        "" | "0" => Ok(()),
        _ => Err(invalid("a Redis Cluster has only database 0")),
    }
}

fn parse_cluster(rest: &str) -> Result<RedisTarget, StoreError> {
    let parts = split(rest)?;
    if parts.query.is_some() {
        return Err(invalid("redis+cluster:// takes no options"));
    }
    cluster_db(parts.path)?;
    let nodes = parts
        .hosts
        .iter()
        .map(|host| node(parts.user_info, host, "0"))
        .collect::<Result<_, _>>()?;
    Ok(RedisTarget::Cluster(nodes))
}

/// `redis://a:1,redis://b:2` or `redis://a:1,b:2`: later nodes without a scheme take the first
/// node's credentials.
fn parse_node_list(url: &str) -> Result<RedisTarget, StoreError> {
    let Some(rest) = url.strip_prefix("redis://") else {
        return Err(invalid(
            "a list of nodes is a Redis Cluster: use redis+cluster:// or redis:// nodes",
        ));
    };
    let mut pieces = rest.split(',');
    let first = split(pieces.next().unwrap_or_default())?;
    if first.query.is_some() {
        return Err(invalid("a Redis Cluster URL takes no options"));
    }
    cluster_db(first.path)?;
    let mut nodes = Vec::new();
    for host in first.hosts {
        nodes.push(node(first.user_info, host, "0")?);
    }
    for piece in pieces {
        let piece = piece.trim();
        let node_info = match piece.strip_prefix("redis://") {
            Some(other) => {
                let parts = split(other)?;
                cluster_db(parts.path)?;
                match parts.hosts.as_slice() {
                    [host] => node(parts.user_info, host, "0")?,
                    _ => return Err(invalid("one node per redis:// entry")),
                }
            }
            None if piece.contains("://") => {
                return Err(invalid("every node of a cluster list must be redis://"));
            }
            None => node(first.user_info, piece, "0")?,
        };
        nodes.push(node_info);
    }
    Ok(RedisTarget::Cluster(nodes))
}

fn parse_sentinel(rest: &str) -> Result<RedisTarget, StoreError> {
    let parts = split(rest)?;
    let mut path = parts.path.trim_end_matches('/').splitn(2, '/');
    let master_name = path.next().unwrap_or_default();
    if master_name.is_empty() {
        return Err(invalid(
            "redis+sentinel:// needs the master's name as its path (…/mymaster)",
        ));
    }
    let db = path.next().unwrap_or("0");
    // The master's credentials and database, parsed the way redis:// parses them (percent
    // decoding included); the host is a placeholder.
    let node_info = node(parts.user_info, "placeholder", db)?
        .redis_settings()
        .clone();

    let mut confirmation = WriteConfirmation {
        replicas: DEFAULT_WAIT_REPLICAS,
        timeout: DEFAULT_WAIT_TIMEOUT,
    };
    let mut sentinel_auth = RedisConnectionInfo::default();
    if let Some(query) = parts.query {
        let options = redis::parse_redis_url(&format!("redis://placeholder/?{query}"))
            .ok_or_else(|| invalid("unparseable options"))?;
        for (name, value) in options.query_pairs() {
            match name.as_ref() {
                "wait_replicas" => {
                    confirmation.replicas = value
                        .parse()
                        .map_err(|_| invalid("wait_replicas must be a whole number"))?;
                }
                "wait_timeout_ms" => {
                    let millis: u64 = value
                        .parse()
                        .map_err(|_| invalid("wait_timeout_ms must be a whole number"))?;
                    if millis == 0 {
                        // WAIT n 0 blocks forever.
                        return Err(invalid("wait_timeout_ms must be at least 1"));
                    }
                    confirmation.timeout = Duration::from_millis(millis);
                }
                "sentinel_username" => sentinel_auth = sentinel_auth.set_username(value.as_ref()),
                "sentinel_password" => sentinel_auth = sentinel_auth.set_password(value.as_ref()),
                other => return Err(invalid(format!("unknown Sentinel option {other:?}"))),
            }
        }
    }

    let sentinels = parts
        .hosts
        .iter()
        .map(|host| {
            let address = if has_port(host) {
                (*host).to_owned()
            } else {
                format!("{host}:{DEFAULT_SENTINEL_PORT}")
            };
            Ok(node(None, &address, "0")?.set_redis_settings(sentinel_auth.clone()))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(RedisTarget::Sentinel {
        sentinels,
        master_name: master_name.to_owned(),
        node: node_info,
        confirmation: (confirmation.replicas > 0).then_some(confirmation),
    })
}

#[cfg(test)]
mod tests {
    use redis::ConnectionAddr;

    use super::*;

    fn addr(info: &ConnectionInfo) -> String {
        info.addr().to_string()
    }

    #[test]
    fn a_plain_url_is_one_server() {
        let RedisTarget::Single(info) = RedisTarget::parse("redis://127.0.0.1:6379/2").unwrap()
        else {
            panic!("not single");
        };
        assert_eq!(info.redis_settings().db(), 2);
    }

    #[test]
    fn cluster_urls_list_every_seed_with_shared_credentials() {
        let RedisTarget::Cluster(nodes) =
            RedisTarget::parse("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001").unwrap()
        else {
            panic!("not a cluster");
        };
        assert_eq!(
            nodes.iter().map(addr).collect::<Vec<_>>(),
            ["10.0.0.1:7000", "10.0.0.2:7001"]
        );
        assert!(
            nodes
                .iter()
                .all(|node| node.redis_settings().password() == Some("s@cret"))
        );
    }

    #[test]
    fn a_list_of_redis_nodes_is_a_cluster() {
        for url in [
            "redis://127.0.0.1:18401,redis://127.0.0.1:18402",
            "redis://127.0.0.1:18401,127.0.0.1:18402",
        ] {
            let RedisTarget::Cluster(nodes) = RedisTarget::parse(url).unwrap() else {
                panic!("{url} is not a cluster");
            };
            assert_eq!(
                nodes.iter().map(addr).collect::<Vec<_>>(),
                ["127.0.0.1:18401", "127.0.0.1:18402"]
            );
        }
    }

    #[test]
    fn a_cluster_has_only_database_zero() {
        assert!(RedisTarget::parse("redis+cluster://a:1,b:2/0").is_ok());
        assert!(RedisTarget::parse("redis+cluster://a:1,b:2/3").is_err());
        assert!(RedisTarget::parse("redis://a:1/3,b:2").is_err());
    }

    #[test]
    fn sentinel_urls_name_the_master_and_default_the_port() {
        let RedisTarget::Sentinel {
            sentinels,
            master_name,
            node,
            confirmation,
        } = RedisTarget::parse("redis+sentinel://:pw@s1,s2:26380/mymaster/3").unwrap()
        else {
            panic!("not sentinel");
        };
        assert_eq!(master_name, "mymaster");
        assert_eq!(
            sentinels.iter().map(addr).collect::<Vec<_>>(),
            ["s1:26379", "s2:26380"]
        );
        assert_eq!(node.password(), Some("pw"));
        assert_eq!(node.db(), 3);
        // The data nodes' password is not the sentinels'.
        assert_eq!(sentinels[0].redis_settings().password(), None);
        assert_eq!(
            confirmation,
            Some(WriteConfirmation {
                replicas: DEFAULT_WAIT_REPLICAS,
                timeout: DEFAULT_WAIT_TIMEOUT
            })
        );
    }

    #[test]
    fn sentinel_options_are_read_and_unknown_ones_refused() {
        let RedisTarget::Sentinel {
            sentinels,
            confirmation,
            ..
        } = RedisTarget::parse(
            "redis+sentinel://[::1]:26379/m?wait_replicas=2&wait_timeout_ms=50&sentinel_password=x%26y",
        )
        .unwrap()
        else {
            panic!("not sentinel");
        };
        assert!(matches!(sentinels[0].addr(), ConnectionAddr::Tcp(host, 26379) if host == "::1"));
        assert_eq!(sentinels[0].redis_settings().password(), Some("x&y"));
        assert_eq!(
            confirmation,
            Some(WriteConfirmation {
                replicas: 2,
                timeout: Duration::from_millis(50)
            })
        );
        let RedisTarget::Sentinel { confirmation, .. } =
            RedisTarget::parse("redis+sentinel://s/m?wait_replicas=0").unwrap()
        else {
            panic!("not sentinel");
        };
        assert_eq!(confirmation, None);

        for bad in [
            "redis+sentinel://s/m?wait_replica=1",
            "redis+sentinel://s/m?wait_timeout_ms=0",
            "redis+sentinel://s/m?wait_replicas=-1",
            "redis+sentinel://s1,s2",
            "redis+sentinel://s1,,s2/m",
        ] {
            assert!(RedisTarget::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn errors_never_repeat_the_password() {
        for bad in [
            "redis+cluster://:hunter2@a:1,b:2/5",
            "redis+sentinel://:hunter2@s/m?bogus=1",
            "http://:hunter2@a:1,b:2",
        ] {
            let Err(StoreError::Unavailable(message)) = RedisTarget::parse(bad) else {
                panic!("{bad} was accepted");
            };
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
