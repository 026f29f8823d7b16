//! `/revoke` (RFC 7009).

use gatehouse_authz::{ClientCredentials, ErrorCode};
use gatehouse_tokens::AccessTokenClaims;

use crate::support::*;

backend_tests!(
    revoked_access_token_is_dead_everywhere,
    revoked_refresh_token_kills_its_family,
    public_clients_revoke_with_their_client_id,
    unknown_or_foreign_tokens_are_accepted_silently,
    revocation_requires_client_authentication_and_a_token,
);

async fn revoked_access_token_is_dead_everywhere(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.confidential).await;
    let access = str_field(&tokens, "access_token");
    assert!(h.authz.userinfo(access, t0()).await.is_ok());

    h.authz
        .revoke(
            &params(&[("token", access), ("token_type_hint", "access_token")]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(h.introspect(access, t0()).await["active"], false);
    let err = h.authz.userinfo(access, t0()).await.unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken));
    let claims: AccessTokenClaims = serde_json::from_value(jwt_payload(access)).unwrap();
    assert!(h.authz.is_revoked(&claims).await.unwrap());
    // The refresh token of the same grant is unaffected by revoking the access token.
    assert!(
        h.refresh(&h.confidential, str_field(&tokens, "refresh_token"))
            .await
            .is_ok()
    );
}

async fn revoked_refresh_token_kills_its_family(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let second = h
        .refresh(&h.confidential, str_field(&first, "refresh_token"))
        .await
        .unwrap();
    let rt2 = str_field(&second, "refresh_token");
    let access2 = str_field(&second, "access_token");

    h.authz
        .revoke(
            &params(&[("token", rt2)]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap();
    let err = h.refresh(&h.confidential, rt2).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    assert_eq!(h.introspect(rt2, t0()).await["active"], false);
    // RFC 7009 §2.1: access tokens of the same grant go too.
    assert_eq!(h.introspect(access2, t0()).await["active"], false);
    assert_eq!(
        h.introspect(str_field(&first, "access_token"), t0()).await["active"],
        false
    );
}

async fn public_clients_revoke_with_their_client_id(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.public).await;
    let rt = str_field(&tokens, "refresh_token");
    h.authz
        .revoke(
            &h.public.form(&[("token", rt)]),
            ClientCredentials::None,
            t0(),
        )
        .await
        .unwrap();
    assert!(h.refresh(&h.public, rt).await.is_err());
}

async fn unknown_or_foreign_tokens_are_accepted_silently(backend: Backend) {
    let h = Harness::new(backend).await;
    let public = h.tokens(&h.public).await;
    for token in [
        "garbage",
        str_field(&public, "refresh_token"),
        str_field(&public, "access_token"),
    ] {
        h.authz
            .revoke(
                &params(&[("token", token)]),
                h.confidential.credentials(),
                t0(),
            )
            .await
            .unwrap();
    }
    // Another client cannot revoke the public client's tokens.
    assert_eq!(
        h.introspect(str_field(&public, "access_token"), t0()).await["active"],
        true
    );
    assert!(
        h.refresh(&h.public, str_field(&public, "refresh_token"))
            .await
            .is_ok()
    );
}

async fn revocation_requires_client_authentication_and_a_token(backend: Backend) {
    let h = Harness::new(backend).await;
    let err = h
        .authz
        .revoke(&params(&[("token", "x")]), ClientCredentials::None, t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidClient);
    let err = h
        .authz
        .revoke(
            &params(&[("token", "x")]),
            ClientCredentials::Basic {
                client_id: h.confidential.id().to_owned(),
                client_secret: "wrong".into(),
            },
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidClient);
    let err = h
        .authz
        .revoke(&params(&[]), h.confidential.credentials(), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);
}
