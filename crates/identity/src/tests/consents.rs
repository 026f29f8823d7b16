//! Consents: the union on re-grant, revocation, listing, and concurrent grants.

use chrono::Duration;

use super::clients::{hasher, web_app};
use super::{Fixture, ctx, fixture, registration, t0};
use crate::IdentityError;

fn scopes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn user(fx: &Fixture, username: &str) -> uuid::Uuid {
    fx.accounts
        .register(registration(username), &[], &ctx(), t0())
        .await
        .unwrap()
        .id
}

fn client(fx: &Fixture, name: &str) -> String {
    fx.db
        .create_client(&web_app(name), &hasher(), t0())
        .unwrap()
        .0
        .client_id
}

#[tokio::test]
async fn a_second_grant_adds_to_the_first_sorted_and_without_repeats() {
    let fx = fixture();
    let alice = user(&fx, "alice").await;
    let app = client(&fx, "app");
    assert_eq!(fx.db.find_consent(alice, &app).unwrap(), None);

    fx.db
        .grant_consent(alice, &app, &scopes(&["profile", "openid", "openid"]), t0())
        .unwrap();
    assert_eq!(
        fx.db.find_consent(alice, &app).unwrap(),
        Some(scopes(&["openid", "profile"]))
    );

    let later = t0() + Duration::hours(1);
    fx.db
        .grant_consent(alice, &app, &scopes(&["email", "profile"]), later)
        .unwrap();
    assert_eq!(
        fx.db.find_consent(alice, &app).unwrap(),
        Some(scopes(&["email", "openid", "profile"])),
        "a grant never takes scopes away"
    );

    fx.db.grant_consent(alice, &app, &[], later).unwrap();
    let listed = fx.db.list_consents(alice).unwrap();
    assert_eq!(
        listed,
        [(app.clone(), scopes(&["email", "openid", "profile"]), t0())],
        "granted_at is the first grant"
    );
}

#[tokio::test]
async fn revoking_removes_the_consent_entirely() {
    let fx = fixture();
    let bob = user(&fx, "bob").await;
    let app = client(&fx, "app");
    fx.db
        .grant_consent(bob, &app, &scopes(&["openid", "email"]), t0())
        .unwrap();

    assert!(fx.db.revoke_consent(bob, &app).unwrap());
    assert!(!fx.db.revoke_consent(bob, &app).unwrap(), "nothing left");
    assert_eq!(fx.db.find_consent(bob, &app).unwrap(), None);
    assert!(fx.db.list_consents(bob).unwrap().is_empty());

    // A fresh grant starts over: no old scopes, a new grant time.
    let later = t0() + Duration::days(1);
    fx.db
        .grant_consent(bob, &app, &scopes(&["openid"]), later)
        .unwrap();
    assert_eq!(
        fx.db.list_consents(bob).unwrap(),
        [(app, scopes(&["openid"]), later)]
    );
}

#[tokio::test]
async fn consents_are_listed_per_user_by_client_id() {
    let fx = fixture();
    let carol = user(&fx, "carol").await;
    let dave = user(&fx, "dave").await;
    let mut apps = vec![client(&fx, "one"), client(&fx, "two"), client(&fx, "three")];
    for (i, app) in apps.iter().enumerate() {
        let at = t0() + Duration::minutes(i as i64);
        fx.db
            .grant_consent(carol, app, &scopes(&["openid"]), at)
            .unwrap();
    }
    let daves = apps[0].clone();
    fx.db
        .grant_consent(dave, &daves, &scopes(&["email"]), t0())
        .unwrap();

    let listed = fx.db.list_consents(carol).unwrap();
    let ids: Vec<String> = listed.iter().map(|(id, _, _)| id.clone()).collect();
    apps.sort();
    assert_eq!(ids, apps);
    assert!(listed.iter().all(|(_, s, _)| s == &scopes(&["openid"])));

    assert_eq!(
        fx.db.list_consents(dave).unwrap(),
        [(daves, scopes(&["email"]), t0())]
    );
    assert!(
        fx.db
            .list_consents(uuid::Uuid::new_v4())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_consent_needs_an_existing_user_and_client() {
    let fx = fixture();
    let erin = user(&fx, "erin").await;
    let app = client(&fx, "app");
    let openid = scopes(&["openid"]);
    let err = fx
        .db
        .grant_consent(erin, "no-such-client", &openid, t0())
        .unwrap_err();
    assert!(matches!(err, IdentityError::Query(_)), "{err:?}");
    assert!(
        fx.db
            .grant_consent(uuid::Uuid::new_v4(), &app, &openid, t0())
            .is_err()
    );
    assert!(fx.db.list_consents(erin).unwrap().is_empty());
}

/// Without the row lock the last read-merge-write would win and drop the others' scopes; on
/// Postgres the first grants also race to insert.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_grants_all_count() {
    let fx = fixture();
    let frank = user(&fx, "frank").await;
    let app = client(&fx, "app");
    let contenders = 8;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(contenders));
    let mut threads = Vec::new();
    for i in 0..contenders {
        let (db, app, barrier) = (fx.db.clone(), app.clone(), barrier.clone());
        threads.push(std::thread::spawn(move || {
            barrier.wait();
            db.grant_consent(frank, &app, &[format!("scope{i}")], t0())
        }));
    }
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    let expected: Vec<String> = (0..contenders).map(|i| format!("scope{i}")).collect();
    assert_eq!(fx.db.find_consent(frank, &app).unwrap(), Some(expected));
}
