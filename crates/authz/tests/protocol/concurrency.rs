//! Races the store's atomic operations must settle: one code, or one refresh token, presented
//! by 50 requests at once (RFC 6749 §4.1.2, RFC 9700 §4.14.2).

use std::sync::Arc;

use gatehouse_authz::ErrorCode;

use crate::support::*;

backend_tests!(concurrent: fifty_concurrent_code_exchanges_have_one_winner,
    fifty_concurrent_refreshes_have_one_winner_and_revoke_the_family);

const RACERS: usize = 50;

async fn fifty_concurrent_code_exchanges_have_one_winner(backend: Backend) {
    let h = Arc::new(Harness::new(backend).await);
    let code = h.code(&h.confidential).await;
    let mut tasks = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        let (h, code) = (Arc::clone(&h), code.clone());
        tasks.push(tokio::spawn(async move {
            h.exchange(&h.confidential, &code).await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(body) => winners.push(body),
            Err(err) => assert_eq!(err.code, ErrorCode::InvalidGrant, "{err}"),
        }
    }
    assert_eq!(winners.len(), 1);
    // The losers replayed the code (RFC 6749 §4.1.2): what the winner got is revoked, even
    // where a loser ran before the winner had stored its refresh-token family.
    let access = str_field(&winners[0], "access_token");
    assert_eq!(h.introspect(access, t0()).await["active"], false);
    let refresh = str_field(&winners[0], "refresh_token");
    assert_eq!(h.introspect(refresh, t0()).await["active"], false);
    let err = h.refresh(&h.confidential, refresh).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}

async fn fifty_concurrent_refreshes_have_one_winner_and_revoke_the_family(backend: Backend) {
    let h = Arc::new(Harness::new(backend).await);
    let first = h.tokens(&h.confidential).await;
    let rt = str_field(&first, "refresh_token").to_owned();
    let mut tasks = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        let (h, rt) = (Arc::clone(&h), rt.clone());
        tasks.push(tokio::spawn(async move {
            h.refresh(&h.confidential, &rt).await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(body) => winners.push(body),
            Err(err) => assert_eq!(err.code, ErrorCode::InvalidGrant, "{err}"),
        }
    }
    assert_eq!(winners.len(), 1);
    // The losers were replays: the winner's new refresh token belongs to a revoked family.
    let newest = str_field(&winners[0], "refresh_token");
    let err = h
        .authz
        .token(
            &params(&[("grant_type", "refresh_token"), ("refresh_token", newest)]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}
