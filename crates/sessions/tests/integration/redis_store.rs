//! What only the Redis store has: lazy connecting, outages, key prefixes, and the server-side
//! TTL that the shared suite can only observe by waiting.

use std::time::{Duration, Instant};

use gatehouse_sessions::{KvStore, RedisStore, RedisTarget, StoreError, open_store};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{HOUR, RedisKeys, redis_url, unique_prefix};

const UNREACHABLE: &str = "redis://127.0.0.1:1";

fn store_with_keys() -> (RedisStore, RedisKeys) {
    let keys = RedisKeys {
        url: redis_url(),
        prefix: unique_prefix(),
    };
    (RedisStore::new(&keys.url, &keys.prefix).unwrap(), keys)
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
}

#[test]
fn unparseable_url_is_rejected_at_once() {
    assert_unavailable(RedisStore::new("not a url", "p:"));
    assert_unavailable(RedisStore::new("http://127.0.0.1:6379", "p:"));
}

#[test]
fn new_does_not_need_a_runtime_or_a_reachable_server() {
    RedisStore::new(UNREACHABLE, "p:").unwrap();
    open_store(Some(UNREACHABLE), "p:").unwrap();
}

#[tokio::test]
async fn unreachable_redis_fails_every_operation_quickly() {
    let store = RedisStore::new(UNREACHABLE, "p:").unwrap();
    let started = Instant::now();
    assert_unavailable(store.ping().await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "ping took {:?}",
        started.elapsed()
    );

    assert_unavailable(store.put("k", b"v", HOUR).await);
    assert_unavailable(store.put_if_absent("k", b"v", HOUR).await);
    assert_unavailable(store.get("k").await);
    assert_unavailable(store.take("k").await);
    assert_unavailable(store.delete("k").await);
    assert_unavailable(store.increment("k", HOUR).await);
    assert_unavailable(store.set_add("s", "m", HOUR).await);
    assert_unavailable(store.set_remove("s", "m").await);
    assert_unavailable(store.set_members("s").await);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connects_once_redis_becomes_reachable() {
    // A port that refuses connections now and is ours to listen on later.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let keys = RedisKeys {
        url: redis_url(),
        prefix: unique_prefix(),
    };
    // The proxy stands in for the server (or the first cluster seed, or the first sentinel);
    // cluster nodes and the Sentinel master are then reached at their own addresses.
    let (upstream, url) = match RedisTarget::parse(&keys.url).unwrap() {
        RedisTarget::Single(info) => (info.addr().to_string(), format!("redis://{addr}")),
        RedisTarget::Cluster(nodes) => (
            nodes[0].addr().to_string(),
            format!("redis+cluster://{addr}"),
        ),
        RedisTarget::Sentinel {
            sentinels,
            master_name,
            ..
        } => (
            sentinels[0].addr().to_string(),
            format!("redis+sentinel://{addr}/{master_name}?wait_replicas=0"),
        ),
    };
    let store = RedisStore::new(&url, &keys.prefix).unwrap();
    assert_unavailable(store.ping().await);

    let listener = TcpListener::bind(addr).await.unwrap();
    let proxy = tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });

    // The attempt that failed may still be the one the next call sees; the one after that is new.
    let mut attempts = 0;
    while store.ping().await.is_err() {
        attempts += 1;
        assert!(attempts < 5, "still unavailable after Redis came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.put("k", b"v", HOUR).await.unwrap();
    assert_eq!(keys.list(), ["k"]);
    proxy.abort();
}

#[tokio::test]
async fn keys_are_stored_under_the_prefix() {
    let (store, keys) = store_with_keys();
    store.put("sess:abc", b"v", HOUR).await.unwrap();
    store.set_add("user_sess:u", "abc", HOUR).await.unwrap();
    store.increment("n", HOUR).await.unwrap();
    let mut listed = keys.list();
    listed.sort();
    assert_eq!(listed, ["n", "sess:abc", "user_sess:u"]);
}

#[tokio::test]
async fn stores_with_different_prefixes_do_not_see_each_other() {
    let (first, _first_keys) = store_with_keys();
    let (second, _second_keys) = store_with_keys();
    first.put("k", b"first", HOUR).await.unwrap();
    assert_eq!(second.get("k").await.unwrap(), None);
    assert!(second.put_if_absent("k", b"second", HOUR).await.unwrap());
    assert_eq!(
        first.get("k").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

#[tokio::test]
async fn ttls_reach_redis_and_increment_keeps_the_first_one() {
    let (store, keys) = store_with_keys();
    let pttl = |key: &str| -> u128 { keys.pttl(key).unwrap().as_millis() };

    store.put("k", b"v", Duration::from_secs(10)).await.unwrap();
    assert!((9_000..=10_000).contains(&pttl("k")));

    store.increment("n", Duration::from_secs(10)).await.unwrap();
    store
        .increment("n", Duration::from_secs(100))
        .await
        .unwrap();
    assert!((9_000..=10_000).contains(&pttl("n")));

    store
        .set_add("s", "a", Duration::from_secs(10))
        .await
        .unwrap();
    store
        .set_add("s", "b", Duration::from_secs(100))
        .await
        .unwrap();
    assert!((99_000..=100_000).contains(&pttl("s")));
}
