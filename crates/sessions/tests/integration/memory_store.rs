//! What only the in-process store has: exact expiry under a paused clock, its sweeper, and
//! type errors that Redis would report as WRONGTYPE.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_sessions::{KvStore, MemoryStore, StoreError, open_store};

const TTL: Duration = Duration::from_secs(30);
const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn entry_is_live_until_its_exact_deadline() {
    let store = MemoryStore::new();
    store.put("k", b"v", TTL).await.unwrap();
    tokio::time::advance(TTL - MS).await;
    assert!(store.get("k").await.unwrap().is_some());
    tokio::time::advance(MS).await;
    assert_eq!(store.get("k").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn reading_an_expired_entry_removes_it() {
    let store = MemoryStore::new();
    store.put("k", b"v", TTL).await.unwrap();
    tokio::time::advance(TTL).await;
    assert_eq!(store.stored_entries(), 1);
    assert_eq!(store.get("k").await.unwrap(), None);
    assert_eq!(store.stored_entries(), 0);
}

#[tokio::test(start_paused = true)]
async fn sweep_removes_only_expired_entries() {
    let store = MemoryStore::new();
    store.put("short", b"v", TTL).await.unwrap();
    store.set_add("short-set", "m", TTL).await.unwrap();
    store.put("long", b"v", TTL * 3).await.unwrap();
    tokio::time::advance(TTL * 2).await;
    assert_eq!(store.sweep_expired(), 2);
    assert_eq!(store.stored_entries(), 1);
    assert!(store.get("long").await.unwrap().is_some());
}

#[tokio::test(start_paused = true)]
async fn sweeper_removes_expired_entries_without_reads() {
    let store = Arc::new(MemoryStore::new());
    let _sweeper = store.spawn_sweeper(Duration::from_secs(10));
    for i in 0..100 {
        store.put(&format!("k{i}"), b"v", TTL).await.unwrap();
    }
    store.put("long", b"v", TTL * 10).await.unwrap();
    // The sleep resolves on the paused clock after the sweeper's ticks have run.
    tokio::time::sleep(TTL + Duration::from_secs(15)).await;
    assert_eq!(store.stored_entries(), 1);
}

#[tokio::test(start_paused = true)]
async fn sweeper_ends_when_the_store_is_dropped() {
    let store = Arc::new(MemoryStore::new());
    let sweeper = store.spawn_sweeper(Duration::from_secs(10));
    drop(store);
    tokio::time::timeout(Duration::from_secs(3600), sweeper)
        .await
        .expect("sweeper still running an hour after its store was dropped")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn sweeper_accepts_a_zero_period() {
    let store = Arc::new(MemoryStore::new());
    let _sweeper = store.spawn_sweeper(Duration::ZERO);
    store.put("k", b"v", TTL).await.unwrap();
    tokio::time::sleep(TTL * 2).await;
    assert_eq!(store.stored_entries(), 0);
}

#[tokio::test(start_paused = true)]
async fn open_store_without_url_is_a_swept_memory_store() {
    let store = open_store(None, "ignored:").unwrap();
    store.put("k", b"v", TTL).await.unwrap();
    store.ping().await.unwrap();
    assert!(store.get("k").await.unwrap().is_some());
}

#[tokio::test]
async fn value_operations_on_a_set_are_corrupt() {
    let store = MemoryStore::new();
    store.set_add("s", "m", TTL).await.unwrap();
    assert!(matches!(store.get("s").await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.take("s").await, Err(StoreError::Corrupt(_))));
    assert!(matches!(
        store.increment("s", TTL).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        store.set_members("s").await.unwrap(),
        ["m"],
        "a refused take must keep the set"
    );
}

#[tokio::test]
async fn set_operations_on_a_value_are_corrupt() {
    let store = MemoryStore::new();
    store.put("k", b"v", TTL).await.unwrap();
    assert!(matches!(
        store.set_add("k", "m", TTL).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.set_remove("k", "m").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.set_members("k").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn sorted_set_operations_on_another_kind_are_corrupt_and_leave_it() {
    let store = MemoryStore::new();
    store.put("k", b"v", TTL).await.unwrap();
    store.set_add("s", "m", TTL).await.unwrap();
    for key in ["k", "s"] {
        assert!(matches!(
            store.sorted_add(key, "m", 1, TTL).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.sorted_claim_due(key, 10, 20, 5).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.sorted_remove(key, "m").await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            store.sorted_score(key, "m").await,
            Err(StoreError::Corrupt(_))
        ));
    }
    store.sorted_add("q", "m", 1, TTL).await.unwrap();
    assert!(matches!(store.get("q").await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.take("q").await, Err(StoreError::Corrupt(_))));
    assert!(matches!(
        store.set_members("q").await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(store.set_members("s").await.unwrap(), ["m"]);
    assert_eq!(store.sorted_score("q", "m").await.unwrap(), Some(1));
}

#[tokio::test]
async fn incrementing_a_non_counter_is_corrupt_and_leaves_it() {
    let store = MemoryStore::new();
    store.put("k", b"not a number", TTL).await.unwrap();
    assert!(matches!(
        store.increment("k", TTL).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        store.get("k").await.unwrap().as_deref(),
        Some(&b"not a number"[..])
    );
}
