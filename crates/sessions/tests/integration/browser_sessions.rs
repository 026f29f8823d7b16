//! Browser sessions over both backends: the cookie secret stays out of the store, lookups by
//! secret and by handle, per-user listing and ending, and expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gatehouse_sessions::{BrowserSession, BrowserSessions, KvStore, SessionHandle, StoreError};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::harness::{HOUR, PAST_TTL, TTL, TestStore};

backend_tests!(paused:
    create_get_destroy_round_trip,
    end_by_cookie_returns_the_session_it_ended_once,
    secret_is_43_chars_of_base64url_and_the_handle_is_its_sha256,
    raw_secret_never_reaches_the_store,
    malformed_secrets_are_rejected_without_touching_the_store,
    session_expires_after_its_ttl,
    undecodable_session_is_corrupt,
    list_for_user_returns_only_that_users_sessions,
    list_for_user_prunes_handles_of_vanished_sessions,
    destroy_removes_the_handle_from_the_users_index,
    destroy_handle_ends_only_the_users_own_session,
    destroy_all_for_user_ends_every_session_of_that_user_only,
    one_session_over_the_limit_ends_the_oldest,
    a_large_limit_once_exceeded_leaves_a_tenth_of_headroom,
    the_session_being_created_is_never_the_one_ended,
    sessions_gone_from_the_store_do_not_count_against_the_limit,
    under_the_limit_creating_costs_three_store_calls,
    an_expired_session_is_claimed_once_and_an_ended_one_never,
    a_session_the_store_still_holds_is_not_reported_expired,
    touch_records_last_seen_at_most_every_five_minutes,
    update_changes_a_live_session_and_keeps_its_expiry,
);

backend_tests!(concurrent:
    concurrent_logins_of_one_user_never_leave_more_than_the_limit,
);

fn session(user_id: Uuid, created_at: i64) -> BrowserSession {
    BrowserSession {
        user_id,
        username: format!("user-{user_id}"),
        auth_time: created_at,
        created_at,
        amr: vec!["pwd".to_owned()],
        user_agent: Some("Mozilla/5.0".to_owned()),
        ip: Some("192.0.2.1".to_owned()),
        last_seen_at: None,
    }
}

/// Creates a session that stays under the limit: its cookie secret and handle.
async fn create(sessions: &BrowserSessions, session: &BrowserSession) -> (String, SessionHandle) {
    let created = sessions.create(session).await.unwrap();
    assert!(created.evicted.is_empty(), "{created:?}");
    (created.cookie_secret, created.handle)
}

async fn create_get_destroy_round_trip(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let alice = session(Uuid::new_v4(), 1_700_000_000);
    let (secret, handle) = create(&sessions, &alice).await;

    assert_eq!(sessions.get(&secret).await.unwrap(), Some((handle, alice)));
    assert!(sessions.destroy(&secret).await.unwrap());
    assert_eq!(sessions.get(&secret).await.unwrap(), None);
    assert!(!sessions.destroy(&secret).await.unwrap());
}

async fn end_by_cookie_returns_the_session_it_ended_once(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let alice = session(Uuid::new_v4(), 1_700_000_000);
    let (secret, handle) = create(&sessions, &alice).await;

    assert_eq!(
        sessions.end_by_cookie(&secret).await.unwrap(),
        Some((handle, alice.clone()))
    );
    assert_eq!(sessions.get(&secret).await.unwrap(), None);
    assert!(index_of(&t, alice.user_id).await.is_empty());
    assert_eq!(sessions.end_by_cookie(&secret).await.unwrap(), None);
    assert_eq!(sessions.end_by_cookie("not a secret").await.unwrap(), None);
}

async fn secret_is_43_chars_of_base64url_and_the_handle_is_its_sha256(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let user = session(Uuid::new_v4(), 1);
    let (first, handle) = create(&sessions, &user).await;
    let (second, _) = create(&sessions, &user).await;

    assert_ne!(first, second);
    for secret in [&first, &second] {
        assert_eq!(secret.len(), 43);
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
    assert_eq!(handle, BrowserSessions::handle_of(&first));
    assert_eq!(
        BrowserSessions::handle_of("abc").as_str(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

async fn raw_secret_never_reaches_the_store(t: TestStore) {
    let recorder = Arc::new(RecordingStore::new(t.store.clone()));
    let sessions = BrowserSessions::new(recorder.clone(), HOUR);
    let user_id = Uuid::new_v4();
    let (secret, handle) = create(&sessions, &session(user_id, 1)).await;
    sessions.get(&secret).await.unwrap();
    sessions.list_for_user(user_id).await.unwrap();

    let written = recorder.written.lock().clone();
    assert!(written.iter().any(|text| text.contains(handle.as_str())));
    for text in &written {
        assert!(
            !text.contains(&secret),
            "cookie secret written to the store: {text}"
        );
    }
    if let Some(mut keys) = t.raw_redis_keys() {
        keys.sort();
        assert_eq!(
            keys,
            [
                format!("sess:{handle}"),
                "sess_expiry".to_owned(),
                format!("user_sess:{user_id}")
            ]
        );
    }
}

async fn malformed_secrets_are_rejected_without_touching_the_store(t: TestStore) {
    let recorder = Arc::new(RecordingStore::new(t.store.clone()));
    let sessions = BrowserSessions::new(recorder.clone(), HOUR);
    let valid = "A".repeat(43);
    let malformed = [
        String::new(),
        "short".to_owned(),
        "A".repeat(42),
        "A".repeat(44),
        format!("{}=", &valid[1..]),
        format!("{}+", &valid[1..]),
        format!("{}/", &valid[1..]),
        format!("{} ", &valid[1..]),
    ];
    for secret in &malformed {
        assert_eq!(sessions.get(secret).await.unwrap(), None, "{secret:?}");
        assert!(!sessions.destroy(secret).await.unwrap(), "{secret:?}");
    }
    let bogus = SessionHandle("sess:../user_sess:x".to_owned());
    assert!(
        !sessions
            .destroy_handle(Uuid::new_v4(), &bogus)
            .await
            .unwrap()
    );
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 0);

    // A well-formed but unknown secret does reach the store, and simply finds nothing.
    assert_eq!(sessions.get(&valid).await.unwrap(), None);
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1);
}

async fn session_expires_after_its_ttl(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), TTL);
    let user_id = Uuid::new_v4();
    let (secret, _) = create(&sessions, &session(user_id, 1)).await;
    assert!(sessions.get(&secret).await.unwrap().is_some());
    t.elapse(PAST_TTL).await;
    assert_eq!(sessions.get(&secret).await.unwrap(), None);
    assert!(sessions.list_for_user(user_id).await.unwrap().is_empty());
}

async fn undecodable_session_is_corrupt(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let secret = "B".repeat(43);
    let handle = BrowserSessions::handle_of(&secret);
    t.store
        .put(&format!("sess:{handle}"), b"{not json", HOUR)
        .await
        .unwrap();
    assert!(matches!(
        sessions.get(&secret).await,
        Err(StoreError::Corrupt(_))
    ));
    // Logging out still works and removes it.
    assert!(sessions.destroy(&secret).await.unwrap());
    assert_eq!(sessions.get(&secret).await.unwrap(), None);
}

async fn list_for_user_returns_only_that_users_sessions(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let (_, newer) = create(&sessions, &session(alice, 200)).await;
    let (_, older) = create(&sessions, &session(alice, 100)).await;
    create(&sessions, &session(bob, 150)).await;

    let listed = sessions.list_for_user(alice).await.unwrap();
    assert_eq!(
        listed,
        [(older, session(alice, 100)), (newer, session(alice, 200))]
    );
    assert!(
        sessions
            .list_for_user(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn list_for_user_prunes_handles_of_vanished_sessions(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let alice = Uuid::new_v4();
    let (_, kept) = create(&sessions, &session(alice, 1)).await;
    let (_, lost) = create(&sessions, &session(alice, 2)).await;
    t.store.delete(&format!("sess:{lost}")).await.unwrap();

    let listed = sessions.list_for_user(alice).await.unwrap();
    assert_eq!(listed, [(kept.clone(), session(alice, 1))]);
    assert_eq!(index_of(&t, alice).await, [kept.0]);
}

async fn destroy_removes_the_handle_from_the_users_index(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let alice = Uuid::new_v4();
    let (secret, _) = create(&sessions, &session(alice, 1)).await;
    let (_, other) = create(&sessions, &session(alice, 2)).await;
    assert!(sessions.destroy(&secret).await.unwrap());
    assert_eq!(index_of(&t, alice).await, [other.0]);
}

async fn destroy_handle_ends_only_the_users_own_session(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let (alice, mallory) = (Uuid::new_v4(), Uuid::new_v4());
    let (alice_secret, alice_handle) = create(&sessions, &session(alice, 1)).await;
    let (kept_secret, _) = create(&sessions, &session(alice, 2)).await;

    assert!(
        !sessions
            .destroy_handle(mallory, &alice_handle)
            .await
            .unwrap()
    );
    assert!(sessions.get(&alice_secret).await.unwrap().is_some());

    assert!(sessions.destroy_handle(alice, &alice_handle).await.unwrap());
    assert_eq!(sessions.get(&alice_secret).await.unwrap(), None);
    assert!(!sessions.destroy_handle(alice, &alice_handle).await.unwrap());
    assert!(sessions.get(&kept_secret).await.unwrap().is_some());
    assert_eq!(sessions.list_for_user(alice).await.unwrap().len(), 1);
}

async fn destroy_all_for_user_ends_every_session_of_that_user_only(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let mut alice_secrets = Vec::new();
    for created_at in 0..3 {
        alice_secrets.push(create(&sessions, &session(alice, created_at)).await.0);
    }
    let (bob_secret, _) = create(&sessions, &session(bob, 0)).await;

    assert_eq!(sessions.destroy_all_for_user(alice).await.unwrap(), 3);
    for secret in &alice_secrets {
        assert_eq!(sessions.get(secret).await.unwrap(), None);
    }
    assert!(index_of(&t, alice).await.is_empty());
    assert!(sessions.get(&bob_secret).await.unwrap().is_some());
    assert_eq!(sessions.destroy_all_for_user(alice).await.unwrap(), 0);
}

async fn a_large_limit_once_exceeded_leaves_a_tenth_of_headroom(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR).with_max_per_user(20);
    let alice = Uuid::new_v4();
    let mut handles = Vec::new();
    for created_at in 0..20 {
        handles.push(create(&sessions, &session(alice, created_at)).await.1);
    }
    // The 21st: one over, plus 20 / 10 of headroom, the three oldest.
    let over = sessions.create(&session(alice, 100)).await.unwrap();
    assert_eq!(over.evicted, handles[..3]);
    assert_eq!(sessions.list_for_user(alice).await.unwrap().len(), 18);
    // The next two fit again without ending anything.
    for created_at in [101, 102] {
        assert!(
            sessions
                .create(&session(alice, created_at))
                .await
                .unwrap()
                .evicted
                .is_empty()
        );
    }
    assert_eq!(sessions.list_for_user(alice).await.unwrap().len(), 20);
}

async fn one_session_over_the_limit_ends_the_oldest(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR).with_max_per_user(3);
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let bob_secret = create(&sessions, &session(bob, 5)).await.0;
    // Oldest by when it was created, not by when it reached the store.
    let (second_secret, second) = create(&sessions, &session(alice, 20)).await;
    let (oldest_secret, oldest) = create(&sessions, &session(alice, 10)).await;
    let (third_secret, third) = create(&sessions, &session(alice, 30)).await;

    let newest = sessions.create(&session(alice, 40)).await.unwrap();
    assert_eq!(newest.evicted, std::slice::from_ref(&oldest));

    // The oldest cookie is refused now; the others, and other users' sessions, still work.
    assert_eq!(sessions.get(&oldest_secret).await.unwrap(), None);
    for secret in [
        &second_secret,
        &third_secret,
        &newest.cookie_secret,
        &bob_secret,
    ] {
        assert!(sessions.get(secret).await.unwrap().is_some());
    }
    let listed: Vec<SessionHandle> = sessions
        .list_for_user(alice)
        .await
        .unwrap()
        .into_iter()
        .map(|(handle, _)| handle)
        .collect();
    assert_eq!(listed, [second, third, newest.handle.clone()]);
    assert_eq!(index_of(&t, alice).await.len(), 3);
    assert!(!index_of(&t, alice).await.contains(&oldest.0));

    // The next one ends the next oldest, one for one.
    let next = sessions.create(&session(alice, 50)).await.unwrap();
    assert_eq!(next.evicted.len(), 1);
    assert_eq!(sessions.get(&second_secret).await.unwrap(), None);
    assert_eq!(sessions.list_for_user(alice).await.unwrap().len(), 3);
}

async fn the_session_being_created_is_never_the_one_ended(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR).with_max_per_user(2);
    let alice = Uuid::new_v4();
    // All within one second: created_at says nothing about which is oldest.
    for _ in 0..5 {
        let created = sessions.create(&session(alice, 7)).await.unwrap();
        assert!(
            sessions
                .get(&created.cookie_secret)
                .await
                .unwrap()
                .is_some()
        );
        assert!(!created.evicted.contains(&created.handle));
    }
    assert_eq!(sessions.list_for_user(alice).await.unwrap().len(), 2);
}

async fn sessions_gone_from_the_store_do_not_count_against_the_limit(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR).with_max_per_user(2);
    let alice = Uuid::new_v4();
    let (kept_secret, kept) = create(&sessions, &session(alice, 1)).await;
    let (_, lost) = create(&sessions, &session(alice, 2)).await;
    // Expired or lost: its index member remains until something looks.
    t.store.delete(&format!("sess:{lost}")).await.unwrap();

    let created = sessions.create(&session(alice, 3)).await.unwrap();
    assert!(created.evicted.is_empty());
    assert!(sessions.get(&kept_secret).await.unwrap().is_some());
    let mut expected = vec![kept.0, created.handle.0];
    expected.sort();
    assert_eq!(
        index_of(&t, alice).await,
        expected,
        "the stale member is pruned"
    );
}

async fn under_the_limit_creating_costs_three_store_calls(t: TestStore) {
    let recorder = Arc::new(RecordingStore::new(t.store.clone()));
    let sessions = BrowserSessions::new(recorder.clone(), HOUR).with_max_per_user(3);
    let alice = Uuid::new_v4();
    for created_at in 0..3 {
        let before = recorder.calls.load(Ordering::SeqCst);
        create(&sessions, &session(alice, created_at)).await;
        // Write the session, add it to the user's index (which answers the index's size) and
        // to the expiry index.
        assert_eq!(recorder.calls.load(Ordering::SeqCst) - before, 3);
    }
    // Over the limit, the user's sessions are read once, in one batch, and the oldest ended.
    let before = recorder.calls.load(Ordering::SeqCst);
    let created = sessions.create(&session(alice, 9)).await.unwrap();
    assert_eq!(created.evicted.len(), 1);
    // put, set_add, sorted_add, set_members, get_many, take, set_remove, sorted_remove
    assert_eq!(recorder.calls.load(Ordering::SeqCst) - before, 8);
}

async fn an_expired_session_is_claimed_once_and_an_ended_one_never(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), TTL);
    let user_id = Uuid::new_v4();
    let (_, expiring) = create(&sessions, &session(user_id, 1000)).await;
    let (ended_secret, _) = create(&sessions, &session(user_id, 1000)).await;
    assert!(sessions.destroy(&ended_secret).await.unwrap());
    // Not due before its expiry (created_at + the TTL, whole seconds).
    assert!(sessions.claim_expired(999, 10).await.unwrap().is_empty());
    t.elapse(PAST_TTL).await;
    assert_eq!(
        sessions.claim_expired(1001, 10).await.unwrap(),
        [(expiring, user_id)]
    );
    assert!(sessions.claim_expired(1001, 10).await.unwrap().is_empty());
    assert!(sessions.claim_expired(5000, 10).await.unwrap().is_empty());
    assert!(index_of(&t, user_id).await.is_empty());
}

async fn a_session_the_store_still_holds_is_not_reported_expired(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let user_id = Uuid::new_v4();
    let (secret, _) = create(&sessions, &session(user_id, 1000)).await;
    // Our clock says it expired; the store (its own clock) still has it: not an end.
    assert!(
        sessions
            .claim_expired(1000 + 3601, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(sessions.get(&secret).await.unwrap().is_some());
    // Ended explicitly afterwards, it is never reported by the sweep either.
    assert!(sessions.destroy(&secret).await.unwrap());
    assert!(
        sessions
            .claim_expired(1000 + 7200, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn touch_records_last_seen_at_most_every_five_minutes(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let (secret, handle) = create(&sessions, &session(Uuid::new_v4(), 1000)).await;
    let stored = |sessions: BrowserSessions, secret: String| async move {
        sessions.get(&secret).await.unwrap().unwrap().1
    };
    let fresh = stored(sessions.clone(), secret.clone()).await;
    // Within five minutes of creation: nothing written.
    let touched = sessions.touch(&handle, fresh.clone(), 1299).await.unwrap();
    assert_eq!(touched.last_seen_at, None);
    assert_eq!(
        stored(sessions.clone(), secret.clone()).await.last_seen_at,
        None
    );
    let touched = sessions.touch(&handle, fresh, 1300).await.unwrap();
    assert_eq!(touched.last_seen_at, Some(1300));
    let now_stored = stored(sessions.clone(), secret.clone()).await;
    assert_eq!(now_stored.last_seen_at, Some(1300));
    // The next write waits another five minutes.
    sessions
        .touch(&handle, now_stored.clone(), 1599)
        .await
        .unwrap();
    assert_eq!(
        stored(sessions.clone(), secret.clone()).await.last_seen_at,
        Some(1300)
    );
    sessions.touch(&handle, now_stored, 1600).await.unwrap();
    assert_eq!(stored(sessions, secret).await.last_seen_at, Some(1600));
}

async fn update_changes_a_live_session_and_keeps_its_expiry(t: TestStore) {
    let sessions = BrowserSessions::new(t.store.clone(), HOUR);
    let (secret, handle) = create(&sessions, &session(Uuid::new_v4(), 0)).await;
    let upgrade = |s: &mut BrowserSession| {
        s.amr = vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()];
        true
    };
    assert!(sessions.update(&handle, 10, upgrade).await.unwrap());
    assert_eq!(
        sessions.get(&secret).await.unwrap().unwrap().1.amr,
        ["pwd", "otp", "mfa"]
    );
    // Past its expiry by our clock: nothing is written (a write would extend its life).
    assert!(!sessions.update(&handle, 3600, |_| true).await.unwrap());
    // Gone from the store: nothing to update.
    assert!(sessions.destroy(&secret).await.unwrap());
    assert!(!sessions.update(&handle, 10, upgrade).await.unwrap());
    let _ = t;
}

async fn concurrent_logins_of_one_user_never_leave_more_than_the_limit(t: TestStore) {
    const MAX: usize = 4;
    // Every store call yields first, so the logins really interleave between their calls.
    let store = Arc::new(RecordingStore::new(t.store.clone()).yielding());
    let sessions = BrowserSessions::new(store, HOUR).with_max_per_user(MAX);
    // Races are a matter of chance: several rounds, each with its own user.
    for _ in 0..8 {
        let alice = Uuid::new_v4();
        let logins: Vec<_> = (0..16)
            .map(|created_at| {
                let sessions = sessions.clone();
                tokio::spawn(async move { sessions.create(&session(alice, created_at)).await })
            })
            .collect();
        let mut secrets = Vec::new();
        for login in logins {
            secrets.push(login.await.unwrap().unwrap().cookie_secret);
        }

        let mut live = Vec::new();
        for secret in &secrets {
            if sessions.get(secret).await.unwrap().is_some() {
                live.push(BrowserSessions::handle_of(secret).0);
            }
        }
        live.sort();
        assert!((1..=MAX).contains(&live.len()), "{} live", live.len());
        // No live session escaped the index (it would escape the limit and "log out
        // everywhere").
        assert_eq!(index_of(&t, alice).await, live);
    }
}

async fn index_of(t: &TestStore, user_id: Uuid) -> Vec<String> {
    let mut members = t
        .store
        .set_members(&format!("user_sess:{user_id}"))
        .await
        .unwrap();
    members.sort();
    members
}

/// Passes every call through, counting calls and recording every key, value and member written;
/// optionally yielding to the scheduler before each call.
struct RecordingStore {
    inner: Arc<dyn KvStore>,
    calls: AtomicUsize,
    written: Mutex<Vec<String>>,
    yielding: bool,
}

impl RecordingStore {
    fn new(inner: Arc<dyn KvStore>) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
            written: Mutex::new(Vec::new()),
            yielding: false,
        }
    }

    fn yielding(mut self) -> Self {
        self.yielding = true;
        self
    }

    async fn pause(&self) {
        if self.yielding {
            tokio::task::yield_now().await;
        }
    }

    fn record(&self, texts: &[&[u8]]) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut written = self.written.lock();
        for text in texts {
            written.push(String::from_utf8_lossy(text).into_owned());
        }
    }
}

#[async_trait::async_trait]
impl KvStore for RecordingStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), value]);
        self.inner.put(key, value, ttl).await
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), value]);
        self.inner.put_if_absent(key, value, ttl).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes()]);
        self.inner.get(key).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes()]);
        self.inner.take(key).await
    }

    async fn replace_if(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), expected, new]);
        self.inner.replace_if(key, expected, new, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes()]);
        self.inner.delete(key).await
    }

    async fn exists_any(&self, keys: &[&str]) -> Result<bool, StoreError> {
        let keys_bytes: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
        self.pause().await;
        self.record(&keys_bytes);
        self.inner.exists_any(keys).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys_bytes: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
        self.pause().await;
        self.record(&keys_bytes);
        self.inner.get_many(keys).await
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes()]);
        self.inner.increment(key, ttl).await
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<usize, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), member.as_bytes()]);
        self.inner.set_add(key, member, ttl).await
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), member.as_bytes()]);
        self.inner.set_remove(key, member).await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes()]);
        self.inner.set_members(key).await
    }

    async fn sorted_add(
        &self,
        key: &str,
        member: &str,
        score: i64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), member.as_bytes()]);
        self.inner.sorted_add(key, member, score, ttl).await
    }

    async fn sorted_add_trimmed(
        &self,
        key: &str,
        member: &str,
        score: i64,
        drop_scores_below: i64,
        ttl: Duration,
    ) -> Result<usize, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), member.as_bytes()]);
        self.inner
            .sorted_add_trimmed(key, member, score, drop_scores_below, ttl)
            .await
    }

    async fn sorted_members_from(
        &self,
        key: &str,
        min_score: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes()]);
        self.inner.sorted_members_from(key, min_score).await
    }

    async fn sorted_claim_due(
        &self,
        key: &str,
        due_by: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes()]);
        self.inner
            .sorted_claim_due(key, due_by, lease_until, limit)
            .await
    }

    async fn sorted_remove(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), member.as_bytes()]);
        self.inner.sorted_remove(key, member).await
    }

    async fn sorted_score(&self, key: &str, member: &str) -> Result<Option<i64>, StoreError> {
        self.pause().await;
        self.record(&[key.as_bytes(), member.as_bytes()]);
        self.inner.sorted_score(key, member).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.pause().await;
        self.record(&[]);
        self.inner.ping().await
    }
}
