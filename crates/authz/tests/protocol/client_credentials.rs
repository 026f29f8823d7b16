//! `grant_type=client_credentials` (RFC 6749 §4.4, RFC 9068 §2.2).

use gatehouse_authz::ErrorCode;
use gatehouse_tokens::verify_access_token;

use crate::support::*;

backend_tests!(
    confidential_client_gets_a_token_for_itself,
    client_credentials_scope_excludes_user_scopes,
    public_clients_are_unauthorized,
);

async fn confidential_client_gets_a_token_for_itself(backend: Backend) {
    let h = Harness::new(backend).await;
    let body = h
        .authz
        .token(
            &params(&[("grant_type", "client_credentials")]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap();
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
    assert_eq!(body["token_type"], "Bearer");
    // The default: every client scope but openid and offline_access.
    assert_eq!(body["scope"], "profile email api:read");
    let claims = verify_access_token(
        str_field(&body, "access_token"),
        &h.key_set(),
        &h.validation(Some(ISSUER), t0()),
    )
    .unwrap();
    assert_eq!(claims.sub, h.confidential.id());
    assert_eq!(claims.client_id, h.confidential.id());
    assert_eq!(claims.auth_time, None);
    assert_eq!(claims.sid, None);

    let introspected = h.introspect(str_field(&body, "access_token"), t0()).await;
    assert_eq!(introspected["active"], true);
    assert!(introspected.get("username").is_none());
}

async fn client_credentials_scope_excludes_user_scopes(backend: Backend) {
    let h = Harness::new(backend).await;
    let body = h
        .authz
        .token(
            &params(&[("grant_type", "client_credentials"), ("scope", "api:read")]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(body["scope"], "api:read");
    for scope in ["openid", "api:read offline_access", "api:write"] {
        let err = h
            .authz
            .token(
                &params(&[("grant_type", "client_credentials"), ("scope", scope)]),
                h.confidential.credentials(),
                t0(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope, "{scope}");
    }
}

async fn public_clients_are_unauthorized(backend: Backend) {
    let h = Harness::new(backend).await;
    let err = h
        .authz
        .token(
            &h.public.form(&[("grant_type", "client_credentials")]),
            h.public.credentials(),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnauthorizedClient);
    assert_eq!(err.status(), 400);
}
