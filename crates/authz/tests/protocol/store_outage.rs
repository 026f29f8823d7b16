//! A session store that cannot be reached: the endpoints answer `temporarily_unavailable`
//! (503), never a panic or a misleading client error (RFC 6749 §4.1.2.1, §5.2).

use std::sync::Arc;

use gatehouse_authz::{Authz, AuthzSettings, ConsentDecision, ErrorCode};
use gatehouse_sessions::RedisStore;

use crate::support::*;

#[tokio::test]
async fn an_unreachable_store_is_temporarily_unavailable() {
    let h = Harness::new(Backend::Memory).await;
    // Nothing listens on port 1; the store fails fast with `Unavailable`.
    let store = Arc::new(RedisStore::new("redis://127.0.0.1:1", "gatehouse-authz-test:").unwrap());
    let authz = Authz::new(
        AuthzSettings::new(ISSUER),
        h.db.clone(),
        store,
        Arc::clone(&h.keys),
        h.secrets.clone(),
    );

    let outcome = authz
        .authorize(
            &h.authorize_params(&h.confidential, &[]),
            Some(&h.session),
            ConsentDecision::Approved,
            t0(),
        )
        .await;
    assert_redirect_error(&outcome, "temporarily_unavailable");

    // A code we issued (the same master key makes both instances agree) needs the store...
    let code = h.code(&h.confidential).await;
    let exchange = |code: String| {
        let authz = authz.clone();
        let credentials = h.confidential.credentials();
        async move {
            authz
                .token(
                    &params(&[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                    ]),
                    credentials,
                    t0(),
                )
                .await
                .unwrap_err()
        }
    };
    let err = exchange(code).await;
    assert_eq!(err.code, ErrorCode::TemporarilyUnavailable);
    assert_eq!(err.status(), 503);
    // ...while one that is not ours is refused without it.
    let err = exchange("whatever".to_owned()).await;
    assert_eq!(err.code, ErrorCode::InvalidGrant);

    let tokens = h.tokens(&h.confidential).await;
    let err = authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::TemporarilyUnavailable));
    assert_eq!(err.status(), 503);
}
