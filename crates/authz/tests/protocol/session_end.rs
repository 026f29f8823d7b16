//! Ending a browser session revokes the grants issued in it; ending all of a user's sessions
//! revokes every grant, offline ones too.

use gatehouse_authz::{EndedGrants, ErrorCode};

use crate::support::*;

backend_tests!(
    ending_a_session_revokes_its_online_grants_only,
    ending_every_session_revokes_offline_grants_too,
    a_session_without_grants_ends_quietly,
    an_offline_grant_refreshed_for_months_stays_indexed,
);

const ONLINE: &[(&str, &str)] = &[("scope", "openid profile")];
const OFFLINE: &[(&str, &str)] = &[("scope", "openid offline_access")];

async fn assert_dead(h: &Harness, tokens: &serde_json::Value) {
    let err = h
        .refresh(&h.confidential, str_field(tokens, "refresh_token"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    let access = str_field(tokens, "access_token");
    assert_eq!(h.introspect(access, t0()).await["active"], false);
    assert!(h.authz.userinfo(access, t0()).await.is_err());
}

async fn assert_live(h: &Harness, tokens: &serde_json::Value) -> serde_json::Value {
    let access = str_field(tokens, "access_token");
    assert_eq!(h.introspect(access, t0()).await["active"], true);
    h.refresh(&h.confidential, str_field(tokens, "refresh_token"))
        .await
        .unwrap()
}

async fn ending_a_session_revokes_its_online_grants_only(backend: Backend) {
    let h = Harness::new(backend).await;
    let a = h.session.clone();
    let b = h.other_session("session-b");
    let a_online = h.tokens_in(&a, &h.confidential, ONLINE).await;
    let a_public = h.tokens_in(&a, &h.public, ONLINE).await;
    let a_offline = h.tokens_in(&a, &h.confidential, OFFLINE).await;
    let b_online = h.tokens_in(&b, &h.confidential, ONLINE).await;

    let ended = h
        .authz
        .end_session_grants(&a.sid, t0().timestamp())
        .await
        .unwrap();
    let mut clients = vec![h.confidential.id().to_owned(), h.public.id().to_owned()];
    clients.sort();
    assert_eq!(
        ended,
        EndedGrants {
            clients,
            revoked: 2
        }
    );

    assert_dead(&h, &a_online).await;
    let err = h
        .refresh(&h.public, str_field(&a_public, "refresh_token"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    // offline_access outlives the session it was issued in; other sessions are untouched.
    assert_live(&h, &a_offline).await;
    assert_live(&h, &b_online).await;
    // Ending it again finds nothing more.
    assert_eq!(
        h.authz
            .end_session_grants(&a.sid, t0().timestamp())
            .await
            .unwrap(),
        EndedGrants::default()
    );
}

async fn ending_every_session_revokes_offline_grants_too(backend: Backend) {
    let h = Harness::new(backend).await;
    let a_offline = h.tokens_in(&h.session, &h.confidential, OFFLINE).await;
    let b = h.other_session("session-b");
    let b_online = h.tokens_in(&b, &h.confidential, ONLINE).await;
    // A rotated offline token still belongs to its grant.
    let a_rotated = assert_live(&h, &a_offline).await;

    let ended = h
        .authz
        .end_user_grants(h.user.id, t0().timestamp())
        .await
        .unwrap();
    assert_eq!(ended.revoked, 2);
    assert_eq!(ended.clients, vec![h.confidential.id().to_owned()]);
    assert_dead(&h, &a_rotated).await;
    assert_dead(&h, &b_online).await;
}

async fn a_session_without_grants_ends_quietly(backend: Backend) {
    let h = Harness::new(backend).await;
    assert_eq!(
        h.authz
            .end_session_grants("never-used", t0().timestamp())
            .await
            .unwrap(),
        EndedGrants::default()
    );
    assert_eq!(
        h.authz
            .end_user_grants(h.user.id, t0().timestamp())
            .await
            .unwrap(),
        EndedGrants::default()
    );
}

/// Refresh tokens slide (30 days from each rotation), so a grant in use lives on indefinitely;
/// its index entries must too, or signing out everywhere and "connected apps" would miss it.
async fn an_offline_grant_refreshed_for_months_stays_indexed(backend: Backend) {
    let h = Harness::new(backend).await;
    let mut tokens = h.tokens_in(&h.session, &h.confidential, OFFLINE).await;
    for day in [29, 58, 87] {
        tokens = h
            .refresh_at(
                &h.confidential,
                str_field(&tokens, "refresh_token"),
                &[],
                t0() + chrono::Duration::days(day),
            )
            .await
            .unwrap();
    }
    // Day 100: long past the entries written at the code exchange (twice 30 days).
    let day100 = (t0() + chrono::Duration::days(100)).timestamp();
    assert_eq!(
        h.authz
            .user_offline_clients(h.user.id, day100)
            .await
            .unwrap()
            .len(),
        1,
        "connected apps still lists the app"
    );
    let ended = h.authz.end_user_grants(h.user.id, day100).await.unwrap();
    assert_eq!(ended.revoked, 1, "signing out everywhere finds the grant");
    let err = h
        .refresh_at(
            &h.confidential,
            str_field(&tokens, "refresh_token"),
            &[],
            t0() + chrono::Duration::days(100),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}
