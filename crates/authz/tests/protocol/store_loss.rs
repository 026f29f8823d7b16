//! The session store forgets everything (Redis restarted without persistence, an embedded
//! server restarted): nothing that was revoked may come back, and the server recovers as soon
//! as it has read the store's new epoch.

use gatehouse_authz::ErrorCode;
use gatehouse_tokens::AccessTokenClaims;
use serde_json::Value;

use crate::support::*;

backend_tests!(
    revocations_stay_in_force_after_the_store_forgets,
    tokens_issued_after_the_loss_work_once_the_epoch_is_read,
    a_token_naming_no_epoch_is_refused,
);

async fn client_token(h: &Harness) -> String {
    let body = h
        .authz
        .token(
            &params(&[("grant_type", "client_credentials")]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap();
    str_field(&body, "access_token").to_owned()
}

async fn revocations_stay_in_force_after_the_store_forgets(backend: Backend) {
    let h = Harness::new(backend).await;
    // A user's access token revoked at /revoke; a grant revoked by refresh-token replay; a
    // client's token revoked at /revoke; and one token nobody revoked.
    let revoked = h.tokens(&h.confidential).await;
    let revoked_access = str_field(&revoked, "access_token");
    let replayed = h.tokens(&h.confidential).await;
    let replayed_access = str_field(&replayed, "access_token");
    let replayed_refresh = str_field(&replayed, "refresh_token");
    let client_access = client_token(&h).await;
    let untouched = h.tokens(&h.confidential).await;
    let untouched_access = str_field(&untouched, "access_token");

    for token in [revoked_access, client_access.as_str()] {
        h.authz
            .revoke(
                &params(&[("token", token)]),
                h.confidential.credentials(),
                t0(),
            )
            .await
            .unwrap();
    }
    h.refresh(&h.confidential, replayed_refresh).await.unwrap();
    let err = h
        .refresh(&h.confidential, replayed_refresh)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    for token in [revoked_access, replayed_access, client_access.as_str()] {
        assert_eq!(h.introspect(token, t0()).await["active"], false);
    }
    assert_eq!(h.introspect(untouched_access, t0()).await["active"], true);

    h.forget_store().await;

    // The markers are gone with everything else; the epoch went with them, so every token
    // issued before is refused: the revoked ones stay dead, the untouched one dies too.
    for token in [
        revoked_access,
        replayed_access,
        client_access.as_str(),
        untouched_access,
    ] {
        assert_eq!(
            h.introspect(token, t0()).await,
            serde_json::json!({"active": false})
        );
        let err = h.authz.userinfo(token, t0()).await.unwrap_err();
        assert_eq!(err.code, Some(ErrorCode::InvalidToken));
        let claims: AccessTokenClaims = serde_json::from_value(jwt_payload(token)).unwrap();
        assert!(h.authz.is_revoked(&claims).await.unwrap());
    }
    // Refresh tokens lived in the store: the user signs in again.
    let err = h
        .refresh(&h.confidential, str_field(&untouched, "refresh_token"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}

async fn tokens_issued_after_the_loss_work_once_the_epoch_is_read(backend: Backend) {
    let h = Harness::new(backend).await;
    let before = client_token(&h).await;
    h.forget_store().await;

    // Minted before this instance noticed the loss: it names the old epoch and is refused
    // (fail closed); the server's keeper notices within a second.
    let unnoticed = client_token(&h).await;
    assert_eq!(h.introspect(&unnoticed, t0()).await["active"], false);

    // What the keeper does: read (here: find the one the refusal above created) the epoch.
    h.authz.sync_store_epoch().await.unwrap();
    let after = client_token(&h).await;
    assert_eq!(h.introspect(&after, t0()).await["active"], true);
    let user = h.tokens(&h.confidential).await;
    assert!(
        h.authz
            .userinfo(str_field(&user, "access_token"), t0())
            .await
            .is_ok()
    );
    assert_eq!(h.introspect(&before, t0()).await["active"], false);

    // The new epoch is what the token names.
    let epoch = |token: &str| -> Value { jwt_payload(token)["store_epoch"].clone() };
    assert!(epoch(&after).is_string());
    assert_ne!(epoch(&after), epoch(&before));
    assert_eq!(epoch(&unnoticed), epoch(&before));
}

async fn a_token_naming_no_epoch_is_refused(backend: Backend) {
    let h = Harness::new(backend).await;
    let token = client_token(&h).await;
    let mut claims: AccessTokenClaims = serde_json::from_value(jwt_payload(&token)).unwrap();
    assert!(!h.authz.is_revoked(&claims).await.unwrap());
    claims.store_epoch = None;
    assert!(h.authz.is_revoked(&claims).await.unwrap());
    claims.store_epoch = Some("0000000000000000".to_owned());
    assert!(h.authz.is_revoked(&claims).await.unwrap());
}
